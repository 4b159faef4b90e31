import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from predictions.models import Clinic, Membership, Patient
from predictions.services import clinic_create
from tests.predictions.factories import PatientFactory


def logins(*args) -> list[tuple[str, str]]:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    found = re.findall(r"username: (\S+)\s+password: (\S+)", out.getvalue())
    assert found, out.getvalue()
    return found


def seed() -> tuple[str, str]:
    return logins()[0]


@pytest.mark.django_db
def test_seed_demo_creates_a_clinic_and_prints_a_login_that_works(client):
    username, password = seed()
    clinic = Clinic.objects.get(slug="demo")
    assert Membership.objects.get(clinic=clinic, user__username=username).role == "admin"
    assert Patient.objects.filter(clinic=clinic).count() == 1
    assert client.login(username=username, password=password)
    assert client.get("/", secure=True).status_code == 200


@pytest.mark.django_db
def test_seed_demo_clinic_login_is_no_operator_and_cannot_open_the_admin_site(client):
    other = clinic_create(name="Another Clinic", slug="another")
    PatientFactory(clinic=other, full_name="Someone Elsewhere")
    username, password = seed()
    user = get_user_model().objects.get(username=username)
    assert not user.is_superuser and not user.is_staff
    assert client.login(username=username, password=password)
    response = client.get("/admin/predictions/patient/", secure=True)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert b"Someone Elsewhere" not in response.content


@pytest.mark.django_db
def test_seed_demo_demotes_a_demo_login_an_earlier_version_made_superuser():
    username, _ = seed()
    get_user_model().objects.filter(username=username).update(is_staff=True, is_superuser=True)
    seed()
    assert not get_user_model().objects.filter(username=username, is_superuser=True).exists()
    assert not get_user_model().objects.filter(username=username, is_staff=True).exists()


@pytest.mark.django_db
def test_seed_demo_operator_is_a_separate_account_with_its_own_password_and_no_clinic(client):
    (demo, demo_password), (operator, operator_password) = logins("--operator")
    assert operator != demo and operator_password != demo_password
    assert not Membership.objects.filter(user__username=operator).exists()
    assert client.login(username=operator, password=operator_password)
    assert client.get("/admin/", secure=True).status_code == 200
    assert client.login(username=demo, password=demo_password)
    assert client.get("/admin/", secure=True).status_code == 302


@pytest.mark.django_db
def test_seed_demo_run_again_keeps_one_clinic_and_prints_a_fresh_working_password(client):
    seed()
    username, password = seed()
    assert Clinic.objects.filter(slug="demo").count() == 1
    assert Membership.objects.filter(user__username=username).count() == 1
    assert client.login(username=username, password=password)


@pytest.mark.django_db
def test_seed_demo_points_to_the_portals_sign_in_page_and_how_to_get_an_operator(client):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "Sign in at /accounts/login/ as" in out.getvalue()
    assert "admin site at /admin/ takes an operator account" in out.getvalue()
    assert client.get("/accounts/login/", secure=True).status_code == 200
