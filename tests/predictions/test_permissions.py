"""The one table of rights (predictions.permissions): each role holds what the clinic's rules give it, in its own
clinic only; operators hold the system-wide rights; a misspelled right is an error, never a silent answer."""

import pytest
from django.core.exceptions import PermissionDenied

from predictions import permissions

from .factories import UserFactory

ROLES = ("clinician", "reviewer", "admin", "outsider")
EXPECTED = {
    "record.view": {"clinician", "reviewer", "admin"},
    "record.write": {"clinician", "admin"},
    "review.create": {"reviewer", "admin"},
    "governance.view": {"reviewer", "admin"},
    "review_case.work": {"reviewer", "admin"},
    "review_case.assignee": {"reviewer", "admin"},
    "clinic.administer": {"admin"},
    "model_registry.view": {"reviewer", "admin"},
    "model_registry.change": set(),
    "images.rerun": set(),
    "sign_in.unlock": set(),
}


def test_the_table_lists_every_right_the_tests_know():
    assert set(permissions.RULES) == set(EXPECTED)


@pytest.mark.parametrize("permission", sorted(EXPECTED))
@pytest.mark.parametrize("who", ROLES)
def test_each_role_holds_its_rights_in_its_own_clinic_only(staff, who, permission):
    user = staff.role(who)
    assert permissions.can(user, permission, staff.clinic) is (who in EXPECTED[permission])
    if who != "outsider":
        assert permissions.can(user, permission, staff.other_clinic) is False


@pytest.mark.parametrize("who", ROLES)
def test_rights_answers_as_can_does_from_one_query(staff, who, django_assert_num_queries):
    user = staff.role(who)
    with django_assert_num_queries(1):
        held = permissions.rights(user, staff.clinic)
    assert held == {p for p in EXPECTED if who in EXPECTED[p]}


def test_require_names_who_may_when_it_refuses(staff):
    with pytest.raises(PermissionDenied, match=f"Only a clinician or clinic administrator of {staff.clinic}"):
        permissions.require(staff.reviewer, "record.write", staff.clinic)
    with pytest.raises(PermissionDenied, match="may work its review queue"):
        permissions.require(staff.clinician, "review_case.work", staff.clinic)
    permissions.require(staff.clinician, "record.write", staff.clinic)


def test_operators_hold_system_wide_rights_and_the_review_queue_but_no_clinic_role(staff):
    operator = UserFactory(is_superuser=True, is_staff=True)
    for permission in ("model_registry.change", "model_registry.view", "images.rerun", "sign_in.unlock"):
        assert permissions.can(operator, permission)
    assert permissions.can(operator, "review_case.work", staff.clinic)
    assert not permissions.can(operator, "record.write", staff.clinic)
    assert not permissions.can(operator, "review_case.assignee", staff.clinic)
    assert not permissions.clinics_where(operator, "governance.view").exists()


def test_the_system_holds_only_the_rights_commands_use(staff):
    held = {p for p in permissions.RULES if permissions.can(None, p, staff.clinic)}
    assert held == {"model_registry.change", "images.rerun", "sign_in.unlock"}


def test_anonymous_users_hold_nothing(staff):
    from django.contrib.auth.models import AnonymousUser

    anonymous = AnonymousUser()
    assert not any(permissions.can(anonymous, p, staff.clinic) for p in permissions.RULES)
    assert not permissions.clinics_where(anonymous, "record.view").exists()


def test_without_a_clinic_a_right_held_in_any_clinic_counts(staff):
    assert permissions.can(staff.clinician, "record.write")
    assert not permissions.can(staff.clinician, "governance.view")
    assert list(permissions.clinics_where(staff.admin, "clinic.administer")) == [staff.clinic]


def test_members_with_lists_the_clinics_members_whose_role_holds_the_right(staff):
    users = {m.user for m in permissions.members_with("review_case.assignee", staff.clinic)}
    assert users == {staff.reviewer, staff.admin}


def test_a_misspelled_right_raises_instead_of_answering(staff):
    with pytest.raises(KeyError, match="review.craete"):
        permissions.can(staff.reviewer, "review.craete", staff.clinic)
