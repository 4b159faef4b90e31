"""Lesions of the user's clinics, their summaries and their timeline of images."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Count, F, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncDate

from ..interpretation import REVIEW_STANDING_ORDER
from ..models import Lesion, LesionImage, Patient, Prediction, Review
from .clinics import object_get_for_user, scoped
from .images import lesion_image_list
from .predictions import latest_predictions

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _TakenOn(TypedDict):
    taken_on: datetime.date


def lesion_list(*, user, patient: Patient | None = None) -> QuerySet[Lesion]:
    lesions = scoped(Lesion.objects.select_related("patient__clinic"), user=user)
    return lesions.filter(patient=patient) if patient is not None else lesions


def lesion_get(*, user, pk) -> Lesion:
    return object_get_for_user(Lesion.objects.select_related("patient__clinic"), user=user, pk=pk)


def _images_newest_first(queryset: QuerySet[LesionImage]) -> QuerySet[WithAnnotations[LesionImage, _TakenOn]]:
    # An image without a capture date counts as taken on its upload day.
    return queryset.annotate(taken_on=Coalesce("captured_at", TruncDate("uploaded_at"))).order_by(
        F("taken_on").desc(), "-uploaded_at", "-id"
    )


def lesion_summary_list(*, user, patient: Patient, archived: bool = False) -> QuerySet[Lesion]:
    """The patient's followed lesions (or, with `archived`, the archived ones), each annotated with its
    `image_count`, its newest image (`latest_image_id`), the newest prediction of that image
    (`latest_prediction_id`, `_status`, `_top_class`, `_risk`, `_refer`, `_referral_threshold`, `_assessable`)
    and the diagnosis that stands (`standing_diagnosis`, `standing_histopathology`)."""
    newest_image = _images_newest_first(LesionImage.objects.filter(lesion=OuterRef("pk")))
    newest_prediction = latest_predictions(image__lesion=OuterRef("pk"))
    standing = Review.objects.filter(image__lesion=OuterRef("pk")).order_by(*REVIEW_STANDING_ORDER)
    return (
        lesion_list(user=user, patient=patient)
        .filter(archived_at__isnull=not archived)
        .annotate(
            image_count=Count("images", distinct=True),
            latest_image_id=Subquery(newest_image.values("id")[:1]),
            latest_image_taken_on=Subquery(newest_image.values("taken_on")[:1]),
            latest_prediction_id=Subquery(newest_prediction.values("id")[:1]),
            latest_prediction_status=Subquery(newest_prediction.values("status")[:1]),
            latest_prediction_top_class=Subquery(newest_prediction.values("top_class")[:1]),
            latest_prediction_risk=Subquery(newest_prediction.values("malignancy_risk")[:1]),
            latest_prediction_refer=Subquery(newest_prediction.values("refer")[:1]),
            latest_prediction_referral_threshold=Subquery(newest_prediction.values("referral_threshold")[:1]),
            latest_prediction_assessable=Subquery(newest_prediction.values("assessable")[:1]),
            standing_diagnosis=Subquery(standing.values("diagnosis")[:1]),
            standing_histopathology=Subquery(standing.values("histopathology_confirmed")[:1]),
        )
        .order_by("id")
    )


def lesion_timeline(*, user, lesion: Lesion) -> list[LesionImage]:
    """Every image of the lesion, oldest first, with `predictions` (all model versions, newest run first)
    and `reviews` (oldest first, with their reviewers) prefetched."""
    images = (
        lesion_image_list(user=user, lesion=lesion)
        .annotate(taken_on=Coalesce("captured_at", TruncDate("uploaded_at")))
        .order_by("taken_on", "uploaded_at", "id")
    )
    return list(
        images.prefetch_related(
            Prefetch("predictions", queryset=Prediction.objects.order_by("-queued_at", "-id")),
            Prefetch(
                "reviews", queryset=Review.objects.select_related("reviewer", "prediction").order_by("created_at", "id")
            ),
        )
    )
