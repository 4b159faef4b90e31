"""The header menu's role-dependent entries (case review, API tokens) follow predictions.permissions, the one
place that says what a role may do: an administrator sees both, a reviewer case review only, a clinician
neither; a right moved to another role in permissions moves its menu entry with it."""

import dataclasses

import pytest
from django.urls import reverse

from predictions import permissions
from predictions.models import Role
from tests.predictions.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _menu(client, user) -> tuple[bool, bool]:
    """(case review link, API tokens link) in the dashboard's header."""
    client.force_login(user)
    page = client.get(reverse("portal:dashboard")).content.decode()
    return (f'href="{reverse("governance:index")}"' in page, f'href="{reverse("portal:api-tokens")}"' in page)


@pytest.mark.parametrize(
    "role, expected", [("admin", (True, True)), ("reviewer", (True, False)), ("clinician", (False, False))]
)
def test_each_role_sees_the_entries_it_may_use(client, staff, role, expected):
    assert _menu(client, staff.role(role)) == expected


def test_an_administrator_of_any_of_their_clinics_sees_the_tokens_entry(client, staff):
    MembershipFactory(user=staff.clinician, clinic=staff.other_clinic, role=Role.ADMIN)
    assert _menu(client, staff.clinician) == (True, True)


def test_the_menu_asks_permissions_not_the_role_names(client, staff, monkeypatch):
    # Give reviewers the administrator's right: the entry follows the rule, wherever it is granted.
    rule = permissions.RULES["clinic.administer"]
    monkeypatch.setitem(
        permissions.RULES, "clinic.administer", dataclasses.replace(rule, roles=(*rule.roles, Role.REVIEWER))
    )
    assert _menu(client, staff.reviewer) == (True, True)
    assert client.get(reverse("portal:api-tokens")).status_code == 302  # and the page behind it agrees
