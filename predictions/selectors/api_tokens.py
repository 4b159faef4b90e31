"""The API tokens a clinic administrator may see and manage in the portal.

A token acts as its user in every clinic the user belongs to, so an administrator manages only tokens that reach
no further than the clinics they administer: their own, and those of members of the clinic whose every clinic
they administer. Tokens of anyone else (a member who also works at another clinic, an operator) stay with the
operators (the admin site, `manage.py api_token`)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from .. import permissions
from ..models import ApiToken, Clinic, Membership


def api_token_owner_list(*, actor, clinic: Clinic) -> QuerySet:
    """The active users of `clinic` whom `actor` may make tokens for (none unless `actor` administers it)."""
    if not permissions.can(actor, "clinic.administer", clinic):
        return get_user_model().objects.none()
    administered = permissions.clinics_where(actor, "clinic.administer").values("id")
    elsewhere = Membership.objects.filter(user=OuterRef("pk")).exclude(clinic__in=administered)
    others = Q(is_superuser=False) & ~Exists(elsewhere)
    return (
        get_user_model()
        .objects.filter(memberships__clinic=clinic, is_active=True)
        .filter(Q(pk=actor.pk) | others)
        .distinct()
        .order_by("username")
    )


def api_token_list_for_clinic(*, actor, clinic: Clinic) -> QuerySet[ApiToken]:
    """Tokens of those users, live ones first, newest first (with their user and maker)."""
    return (
        ApiToken.objects.filter(user__in=api_token_owner_list(actor=actor, clinic=clinic).values("pk"))
        .select_related("user", "created_by")
        .order_by(F("revoked_at").desc(nulls_first=True), "-created_at", "-id")
    )
