"""Patients of the user's clinics, and the summaries the portal's patient list shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.db import models
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, When

from ..interpretation import REVIEW_STANDING_ORDER
from ..models import Clinic, Lesion, Patient, PredictionStatus, Review
from .clinics import object_get_for_user, scoped
from .predictions import latest_predictions

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _StandingReview(TypedDict):
    standing_diagnosis: str | None
    standing_histopathology: bool | None


class _OpenResult(TypedDict):
    open_risk: float | None
    open_refer: bool | None
    open_referral_threshold: float | None
    open_assessable: bool | None


def patient_list(*, user, clinic: Clinic | None = None) -> QuerySet[Patient]:
    patients = scoped(Patient.objects.select_related("clinic"), user=user)
    return patients.filter(clinic=clinic) if clinic is not None else patients


def patient_get(*, user, pk) -> Patient:
    return object_get_for_user(Patient.objects.select_related("clinic"), user=user, pk=pk)


def _lesions_with_standing_review(**outer) -> QuerySet[WithAnnotations[Lesion, _StandingReview]]:
    """Lesions annotated with the diagnosis that stands for them (`standing_diagnosis`, `standing_histopathology`):
    the newest histopathology-confirmed review of any of their images, else the newest review."""
    standing = Review.objects.filter(image__lesion=OuterRef("pk")).order_by(*REVIEW_STANDING_ORDER)
    return Lesion.objects.filter(**outer).annotate(
        standing_diagnosis=Subquery(standing.values("diagnosis")[:1]),
        standing_histopathology=Subquery(standing.values("histopathology_confirmed")[:1]),
    )


def patient_summary_list(*, user, query: str = "") -> QuerySet[Patient]:
    """The user's patients whose name or MRN contains `query`, each annotated with `lesion_count` (followed
    lesions); the highest open risk among their followed lesions (`open_risk`, with that result's
    `open_refer`, `open_referral_threshold` and `open_assessable`), a lesion's risk being open while the newest
    finished result of its newest image is unreviewed; and the standing diagnosis of a lesion reviewed as
    malignant (`reviewed_malignant_diagnosis`, `reviewed_malignant_histopathology`)."""
    from mlcore import MALIGNANT_CLASSES

    patients = patient_list(user=user)
    query = query.strip()
    if query:
        patients = patients.filter(Q(full_name__icontains=query) | Q(mrn__icontains=query))
    latest = latest_predictions(image__lesion=OuterRef("pk"), status=PredictionStatus.SUCCEEDED).annotate(
        image_reviewed=Exists(Review.objects.filter(image=OuterRef("image")))
    )
    open_fields: dict[str, tuple[str, models.Field[Any, Any]]] = {
        "open_risk": ("malignancy_risk", models.FloatField()),
        "open_refer": ("refer", models.BooleanField()),
        "open_referral_threshold": ("referral_threshold", models.FloatField()),
        "open_assessable": ("assessable", models.BooleanField()),
    }
    # Annotated by the names in open_fields, which the type checker cannot follow: _OpenResult lists them.
    open_lesions = cast(
        "QuerySet[WithAnnotations[Lesion, _OpenResult]]",
        Lesion.objects.filter(patient=OuterRef("pk"), archived_at__isnull=True).annotate(
            **{
                name: Subquery(
                    latest.annotate(
                        value=Case(When(image_reviewed=True, then=Value(None)), default=F(field), output_field=output)
                    ).values("value")[:1]
                )
                for name, (field, output) in open_fields.items()
            }
        ),
    )
    lesions = open_lesions.filter(open_risk__isnull=False).order_by("-open_risk", "id")
    malignant = (
        _lesions_with_standing_review(patient=OuterRef("pk"), archived_at__isnull=True)
        .filter(standing_diagnosis__in=MALIGNANT_CLASSES)
        .order_by("-standing_histopathology", "id")
    )
    return patients.annotate(
        lesion_count=Count("lesions", filter=Q(lesions__archived_at__isnull=True), distinct=True),
        **{name: Subquery(lesions.values(name)[:1]) for name in open_fields},
        reviewed_malignant_diagnosis=Subquery(malignant.values("standing_diagnosis")[:1]),
        reviewed_malignant_histopathology=Subquery(malignant.values("standing_histopathology")[:1]),
    ).order_by("full_name", "id")
