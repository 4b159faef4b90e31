import io
import re

import pytest
from django.core.management import call_command

from predictions.models import Clinic, Membership, Patient


def seed() -> tuple[str, str]:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    match = re.search(r"username: (\S+)\s+password: (\S+)", out.getvalue())
    assert match, out.getvalue()
    return match.group(1), match.group(2)


@pytest.mark.django_db
def test_seed_demo_creates_a_clinic_and_prints_a_login_that_works(client):
    username, password = seed()
    clinic = Clinic.objects.get(slug="demo")
    assert Membership.objects.get(clinic=clinic, user__username=username).role == "admin"
    assert Patient.objects.filter(clinic=clinic).count() == 1
    assert client.login(username=username, password=password)
    assert client.get("/admin/", secure=True).status_code == 200


@pytest.mark.django_db
def test_seed_demo_run_again_keeps_one_clinic_and_prints_a_fresh_working_password(client):
    seed()
    username, password = seed()
    assert Clinic.objects.filter(slug="demo").count() == 1
    assert Membership.objects.filter(user__username=username).count() == 1
    assert client.login(username=username, password=password)


@pytest.mark.django_db
def test_seed_demo_points_to_the_portals_sign_in_page_and_the_admin_site(client):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "Sign in at /accounts/login/ as" in out.getvalue()
    assert "admin site at /admin/" in out.getvalue()
    assert client.get("/accounts/login/", secure=True).status_code == 200
