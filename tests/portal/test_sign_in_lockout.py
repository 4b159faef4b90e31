"""Sign-in resists guessing (issue 13): after LOGIN_FAILURE_LIMIT failures an account, or an address, is locked
out (the right password included) until its cool-off ends or an operator unlocks it; every failure is on
the audit trail."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from predictions.models import AuditEvent
from predictions.services.audit_checkpoints import audit_chain_verify

PASSWORD = "correct horse battery"
LIMIT = 5  # for one account
ADDRESS_LIMIT = 8  # from one address


@pytest.fixture(autouse=True)
def lockout_settings(settings):
    settings.SKINCLINIC_LOGIN_FAILURE_LIMIT, settings.SKINCLINIC_LOGIN_ADDRESS_FAILURE_LIMIT = LIMIT, ADDRESS_LIMIT


def sign_in(client, username: str, password: str, address: str = "198.51.100.20"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def failures() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="login.failed").order_by("id"))


def test_after_the_limit_of_wrong_passwords_even_the_right_one_is_refused(client, staff):
    answers = [sign_in(client, staff.clinician.username, "wrong").status_code for _ in range(LIMIT)]
    assert answers == [200] * (LIMIT - 1) + [429]  # the failure that reaches the limit locks
    response = sign_in(client, staff.clinician.username, PASSWORD)
    assert response.status_code == 429 and "Sign-in locked" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("portal:dashboard")).status_code == 302  # still signed out


def test_an_account_locked_from_one_address_is_locked_from_every_address(client, staff):
    for number in range(LIMIT):
        sign_in(client, staff.clinician.username, "wrong", address=f"198.51.100.{number + 1}")
    assert sign_in(client, staff.clinician.username, PASSWORD, address="203.0.113.77").status_code == 429


def test_an_address_guessing_many_accounts_is_locked_out_for_every_account(client, staff):
    for number in range(ADDRESS_LIMIT):
        sign_in(client, f"guess{number}", "wrong", address="198.51.100.66")
    assert sign_in(client, staff.reviewer.username, PASSWORD, address="198.51.100.66").status_code == 429
    # Another address, and the account itself, are not locked by it.
    assert sign_in(client, staff.reviewer.username, PASSWORD, address="198.51.100.67").status_code == 302


def test_one_persons_typos_lock_their_account_but_not_the_colleagues_behind_the_same_address(client, staff):
    for _ in range(LIMIT):
        sign_in(client, staff.clinician.username, "wrong", address="198.51.100.80")
    assert sign_in(client, staff.clinician.username, PASSWORD, address="198.51.100.80").status_code == 429
    assert sign_in(client, staff.reviewer.username, PASSWORD, address="198.51.100.80").status_code == 302


def test_fewer_failures_than_the_limit_still_let_the_right_password_in(client, staff):
    for _ in range(LIMIT - 1):
        sign_in(client, staff.clinician.username, "wrong")
    assert sign_in(client, staff.clinician.username, PASSWORD).status_code == 302


def test_the_admin_sites_sign_in_is_locked_out_too(client, db):
    get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    for _ in range(LIMIT):
        client.post(reverse("admin:login"), {"username": "root", "password": "wrong"}, REMOTE_ADDR="198.51.100.9")
    response = client.post(
        reverse("admin:login"), {"username": "root", "password": PASSWORD}, REMOTE_ADDR="198.51.100.9"
    )
    assert response.status_code == 429


def test_every_failure_is_on_the_audit_trail_with_account_and_address(client, staff):
    sign_in(client, staff.clinician.username, "wrong", address="198.51.100.30")
    sign_in(client, "nobody-by-this-name", "wrong", address="198.51.100.31")
    known, unknown = failures()
    assert (known.actor, known.clinic, known.target_type, known.target_id) == (
        None,
        None,
        "auth.user",
        str(staff.clinician.pk),
    )
    assert (known.ip_address, known.data) == (
        "198.51.100.30",
        {"username": staff.clinician.username, "locked_out": False},
    )
    assert (unknown.target_id, unknown.ip_address, unknown.data["username"]) == ("", "198.51.100.31", None)
    assert PASSWORD not in str(known.data) and "wrong" not in str(known.data)
    assert audit_chain_verify().intact


def test_a_name_that_is_no_account_is_recorded_only_as_a_digest_that_matches_itself(client, staff):
    # Often a password typed in the username box: the trail, which can never be cleaned, must not hold it.
    for name in ("Tr0ub4dor&3-typed-here", "Tr0ub4dor&3-typed-here", "someone-else"):
        sign_in(client, name, "wrong")
    first, again, other = failures()
    assert "Tr0ub4dor" not in str([first.data, again.data])
    assert first.data["unknown_username_digest"] == again.data["unknown_username_digest"]
    assert other.data["unknown_username_digest"] != first.data["unknown_username_digest"]


def test_tries_while_locked_out_are_recorded_as_such_the_right_password_included(client, staff):
    for _ in range(LIMIT):
        sign_in(client, staff.clinician.username, "wrong")
    sign_in(client, staff.clinician.username, PASSWORD)
    recorded = failures()
    assert len(recorded) == LIMIT + 1
    assert [event.data["locked_out"] for event in recorded] == [False] * (LIMIT - 1) + [True, True]


def test_an_operator_unlocks_an_account_with_the_command_and_the_unlock_is_audited(client, staff):
    for _ in range(LIMIT):
        sign_in(client, staff.clinician.username, "wrong")
    operator = get_user_model().objects.create_superuser("operator", "op@example.org", PASSWORD)
    out = io.StringIO()
    call_command(
        "sign_in_unlock", username=staff.clinician.username, ip_address="198.51.100.20", by="operator", stdout=out
    )
    assert "Unlocked" in out.getvalue()
    assert sign_in(client, staff.clinician.username, PASSWORD).status_code == 302
    [unlock] = AuditEvent.objects.filter(action="login.unlock")
    assert unlock.data["username"] == staff.clinician.username and unlock.target_id == str(staff.clinician.pk)
    assert unlock.actor == operator


def test_an_operator_unlocks_in_the_admin_site_and_the_unlock_is_audited(client, staff):
    from axes.models import AccessAttempt

    for _ in range(LIMIT):
        sign_in(client, staff.clinician.username, "wrong")
    operator = get_user_model().objects.create_superuser("operator", "op@example.org", PASSWORD)
    admin = type(client)()
    admin.force_login(operator)
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = admin.get(changelist, secure=True)
    assert page.status_code == 200 and staff.clinician.username in page.content.decode()
    attempt = AccessAttempt.objects.get(username=staff.clinician.username)
    response = admin.post(changelist, {"action": "unlock", "_selected_action": [attempt.pk]}, secure=True)
    assert response.status_code == 302
    assert sign_in(client, staff.clinician.username, PASSWORD).status_code == 302
    assert AuditEvent.objects.filter(action="login.unlock", actor=operator).count() == 1


def test_a_clinic_login_cannot_see_or_lift_lockouts(client, staff):
    client.force_login(staff.admin)
    assert client.get(reverse("admin:axes_accessattempt_changelist"), secure=True).status_code == 302
