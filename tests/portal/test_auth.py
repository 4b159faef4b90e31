"""Signing in and out, and resetting a forgotten password by email."""

import re

from django.core import mail
from django.urls import reverse


def test_the_sign_in_page_is_the_portals_own(client):
    body = client.get(reverse("login")).content.decode()
    assert "Sign in" in body and 'name="username"' in body and reverse("password_reset") in body


def test_signing_in_opens_the_dashboard(client, staff):
    response = client.post(
        reverse("login"), {"username": staff.clinician.username, "password": "correct horse battery"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("portal:dashboard")


def test_signing_in_returns_to_the_page_asked_for(client, staff):
    target = reverse("portal:patient-detail", args=[staff.patient.pk])
    response = client.post(
        reverse("login") + f"?next={target}",
        {"username": staff.clinician.username, "password": "correct horse battery", "next": target},
    )
    assert response["Location"] == target


def test_a_wrong_password_is_explained(client, staff):
    response = client.post(reverse("login"), {"username": staff.clinician.username, "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_signing_out_takes_a_post_and_ends_the_session(client, staff):
    client.force_login(staff.clinician)
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert client.get(reverse("portal:dashboard")).status_code == 302


def test_a_password_is_reset_through_the_emailed_link(client, staff):
    staff.clinician.email = "clinician@example.org"
    staff.clinician.save()
    response = client.post(reverse("password_reset"), {"email": "clinician@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["clinician@example.org"]
    assert mail.outbox[0].subject == "Reset your SkinClinic password"
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a much longer new secret 42", "new_password2": "a much longer new secret 42"},
    )
    assert response.status_code == 302
    assert client.login(username=staff.clinician.username, password="a much longer new secret 42")


def test_a_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client, db):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"}, follow=True)
    assert "Check your email" in response.content.decode()
    assert mail.outbox == []


def test_the_embedded_default_prints_reset_emails_to_the_console():
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']="
            "'skinclinic.settings'; django.setup(); from django.conf import settings; "
            "print(settings.EMAIL_BACKEND)",
        ],
        env={"DEBUG": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "django.core.mail.backends.console.EmailBackend"
