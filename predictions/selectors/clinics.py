"""Clinics and memberships, and the scoping every read of clinical data goes through."""

from __future__ import annotations

from typing import ClassVar, Protocol, TypeVar, cast

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import QuerySet
from django.http import Http404

from .. import permissions
from ..models import Clinic, Membership

M = TypeVar("M", bound=models.Model)


class _ClinicScoped(Protocol):
    CLINIC_PATH: ClassVar[str]  # the lookup from the model to its clinic ("" for Clinic itself)


def _clinic_path(model: type[models.Model]) -> str:
    # Every model of clinical data declares CLINIC_PATH (models/__init__.py); M's bound cannot say so.
    return cast("type[_ClinicScoped]", model).CLINIC_PATH


def clinic_list(*, user) -> QuerySet[Clinic]:
    """The clinics the user is a member of (none for an anonymous user)."""
    if not user.is_authenticated:
        return Clinic.objects.none()
    return Clinic.objects.filter(memberships__user=user)


def membership_list(*, user) -> QuerySet[Membership]:
    """The user's memberships (clinic and role), for showing who is signed in where."""
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("clinic").order_by("clinic__name")


def scoped(queryset: QuerySet[M], *, user) -> QuerySet[M]:
    """Restrict a queryset of a clinical model to the user's clinics (via the model's CLINIC_PATH)."""
    path = _clinic_path(queryset.model)
    clinic_ids = clinic_list(user=user).values("id")
    return queryset.filter(**{f"{path}__id__in" if path else "id__in": clinic_ids})


def object_get_for_user(queryset: QuerySet[M] | type[M], *, user, pk) -> M:
    """The one answer to "may this user see this object?": the object, or 404 for another clinic's.

    404 rather than 403, so that ids of other clinics' records reveal nothing.
    """
    objects = queryset._default_manager.all() if isinstance(queryset, type) else queryset
    try:
        return scoped(objects, user=user).get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError) as exc:  # the model's DoesNotExist is one
        raise Http404(f"No {objects.model._meta.verbose_name} matches the given query.") from exc


def governance_clinic_get(*, user, pk) -> Clinic:
    """A clinic the user reviews or administers: 404 for another clinic's, 403 for a clinician of it."""
    clinic = object_get_for_user(Clinic, user=user, pk=pk)
    permissions.require(user, "governance.view", clinic)
    return clinic
