"""The case-review queue: cases in the clinics the user reviews, and who may be assigned them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet

from .. import permissions
from ..models import Clinic, ReviewCase, ReviewCaseReason
from .clinics import object_get_for_user


def review_case_list(*, user, clinic: Clinic | None = None) -> QuerySet[ReviewCase]:
    """Cases in the clinics the user reviews, most urgent first (priority, then oldest), reasons prefetched.
    The queue page filters them (by state, reason, assignee) with governance.filters.ReviewCaseFilter."""
    reviewed = permissions.clinics_where(user, "governance.view")
    cases = (
        ReviewCase.objects.filter(image__lesion__patient__clinic__in=reviewed)
        .select_related("image__lesion__patient__clinic", "prediction", "assignee")
        .prefetch_related(Prefetch("reasons", queryset=ReviewCaseReason.objects.order_by("-priority", "id")))
        .order_by("-priority", "opened_at", "id")
    )
    if clinic is not None:
        cases = cases.filter(image__lesion__patient__clinic=clinic)
    return cases


def review_case_get(*, user, pk) -> ReviewCase:
    """One case: 404 outside the user's clinics, 403 for a clinician of its clinic."""
    case = object_get_for_user(
        ReviewCase.objects.select_related("image__lesion__patient__clinic", "prediction", "assignee", "review"),
        user=user,
        pk=pk,
    )
    permissions.require(user, "governance.view", case.image.lesion.patient.clinic)
    return case


def reviewer_list(*, clinic: Clinic):
    """The users who may be assigned a case of the clinic (its reviewers and administrators)."""

    user_ids = permissions.members_with("review_case.assignee", clinic).values("user_id")
    return get_user_model().objects.filter(id__in=user_ids).order_by("username")
