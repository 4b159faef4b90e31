"""A clinic administrator makes and revokes API tokens in the portal (issue 16): the key shown once, then only its
prefix; a revoked key refused at once; both audited in the clinic's trail; other roles refused (403), another
clinic's administrator sees nothing of this clinic's (404), and no token reaches a clinic its maker does not
administer."""

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from predictions.models import ApiToken, AuditEvent, Role
from predictions.services.api_tokens import api_token_create
from tests.predictions.factories import MembershipFactory


def _list_url(clinic):
    return reverse("portal:api-token-list", args=[clinic.pk])


def _api(client, key):
    return client.get("/api/v1/clinics", HTTP_AUTHORIZATION=f"Token {key}")


def _make(client, staff, **fields):
    """Send the form as a browser does: first the page, whose form carries a one-time value, then the form."""
    page = client.get(_list_url(staff.clinic))
    once = page.context["form_once"] if page.status_code == 200 else ""
    data = {"name": "EHR integration", "user": staff.admin.pk, "expires_in_days": "", "once": once, **fields}
    return client.post(_list_url(staff.clinic), data)


def test_the_administrator_makes_a_token_sees_its_key_once_and_the_key_works(client, staff):
    client.force_login(staff.admin)
    response = _make(client, staff)
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    token = ApiToken.objects.get(name="EHR integration")
    key = response.context["created"]["key"]
    assert f'value="{key}"' in response.content.decode() and key.startswith(token.prefix)
    assert (token.user, token.created_by, token.revoked_at) == (staff.admin, staff.admin, None)
    assert key not in str(dict(client.session))  # shown once, and never kept by the session

    listing = client.get(_list_url(staff.clinic)).content.decode()
    assert f"{token.prefix}…" in listing and key not in listing  # only the prefix, from now on
    event = AuditEvent.objects.get(action="api_token.create")
    assert (event.clinic, event.actor, event.target_id) == (staff.clinic, staff.admin, str(token.pk))

    client.logout()
    answer = _api(client, key)
    assert answer.status_code == 200
    assert [c["name"] for c in answer.json()] == [staff.clinic.name]


def test_no_session_row_ever_holds_the_new_key(client, staff):
    client.force_login(staff.admin)
    _make(client, staff)
    # The key starts with the token's stored prefix: a session holding the key in any form holds the prefix.
    prefix = ApiToken.objects.get(name="EHR integration").prefix
    assert Session.objects.exists()
    for session in Session.objects.all():
        assert prefix not in str(session.get_decoded())


def test_sending_the_form_again_makes_no_second_token_and_shows_no_key(client, staff):
    client.force_login(staff.admin)
    page = client.get(_list_url(staff.clinic))
    data = {"name": "EHR integration", "user": staff.admin.pk, "expires_in_days": "", "once": page.context["form_once"]}
    key = client.post(_list_url(staff.clinic), data).context["created"]["key"]
    again = client.post(_list_url(staff.clinic), data)  # a reload of the answer, or a second click
    assert again.status_code == 200 and again.context["created"] is None and key not in again.content.decode()
    assert "That form was already sent" in again.content.decode()
    assert ApiToken.objects.filter(name="EHR integration").count() == 1
    # A form without its one-time value makes none either.
    assert client.post(_list_url(staff.clinic), {**data, "once": ""}).context["created"] is None
    assert ApiToken.objects.count() == 1


def test_revoking_stops_the_key_at_once_and_is_audited(client, staff):
    token, key = api_token_create(user=staff.admin, name="Intake app")
    assert _api(client, key).status_code == 200
    client.force_login(staff.admin)
    response = client.post(reverse("portal:api-token-revoke", args=[staff.clinic.pk, token.pk]), follow=True)
    assert "is revoked: it no longer works" in response.content.decode()
    client.logout()
    assert _api(client, key).status_code == 401
    event = AuditEvent.objects.get(action="api_token.revoke")
    assert (event.clinic, event.actor, event.target_id) == (staff.clinic, staff.admin, str(token.pk))


def test_a_token_can_act_as_a_member_of_only_this_clinic_but_not_one_who_works_elsewhere(client, staff):
    client.force_login(staff.admin)
    assert _make(client, staff, user=staff.clinician.pk, name="For the clinician").status_code == 200
    assert ApiToken.objects.get(name="For the clinician").user == staff.clinician

    MembershipFactory(user=staff.reviewer, clinic=staff.other_clinic, role=Role.REVIEWER)
    refused = _make(client, staff, user=staff.reviewer.pk, name="Reaches another clinic")
    assert refused.status_code == 200 and refused.context["form"].errors["user"]
    assert not ApiToken.objects.filter(name="Reaches another clinic").exists()
    refused = _make(client, staff, user=staff.outsider.pk, name="Not a member")
    assert refused.context["form"].errors["user"]
    assert ApiToken.objects.filter(name="Not a member").count() == 0


@pytest.mark.parametrize("role", ["clinician", "reviewer"])
def test_other_roles_are_refused(client, staff, role):
    token, _ = api_token_create(user=staff.admin, name="Kept")
    client.force_login(staff.role(role))
    assert client.get(_list_url(staff.clinic)).status_code == 403
    assert _make(client, staff, user=staff.role(role).pk).status_code == 403
    assert client.post(reverse("portal:api-token-revoke", args=[staff.clinic.pk, token.pk])).status_code == 403
    assert client.get(reverse("portal:api-tokens")).status_code == 403
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 1 and not ApiToken.objects.exclude(pk=token.pk)
    assert "API tokens" not in client.get(reverse("portal:dashboard")).content.decode()


def test_another_clinics_administrator_sees_and_revokes_nothing_here(client, staff):
    token, key = api_token_create(user=staff.admin, name="Ours")
    client.force_login(staff.outsider)
    assert client.get(_list_url(staff.clinic)).status_code == 404
    assert client.post(reverse("portal:api-token-revoke", args=[staff.clinic.pk, token.pk])).status_code == 404
    # Nor through their own clinic's page: the token is not among theirs.
    assert client.post(reverse("portal:api-token-revoke", args=[staff.other_clinic.pk, token.pk])).status_code == 404
    assert f"{token.prefix}…" not in client.get(_list_url(staff.other_clinic)).content.decode()
    client.logout()
    assert _api(client, key).status_code == 200


def test_the_menu_leads_an_administrator_to_the_clinics_tokens(client, staff):
    client.force_login(staff.admin)
    dashboard = client.get(reverse("portal:dashboard")).content.decode()
    assert f'href="{reverse("portal:api-tokens")}"' in dashboard
    response = client.get(reverse("portal:api-tokens"))
    assert response.status_code == 302 and response["Location"] == _list_url(staff.clinic)
