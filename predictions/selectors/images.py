"""Lesion images of the user's clinics: lists, duplicates of an upload, an image with its predictions, and
what its FHIR report is made of."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from .. import inference
from ..models import Clinic, Lesion, LesionImage, Prediction, PredictionStatus, Review
from .clinics import object_get_for_user, scoped


def lesion_image_list(*, user, lesion: Lesion | None = None) -> QuerySet[LesionImage]:
    images = scoped(LesionImage.objects.select_related("lesion__patient__clinic", "uploaded_by"), user=user)
    return images.filter(lesion=lesion) if lesion is not None else images


def lesion_image_duplicate_list(
    *, user, clinic: Clinic, digests: list[str], lesion: Lesion | None
) -> list[LesionImage]:
    """Images of the clinic stored from the same uploaded bytes (SHA-256) as `digests`, outside `lesion`, oldest
    first, with their lesion and patient."""
    images = (
        lesion_image_list(user=user)
        .filter(lesion__patient__clinic=clinic, sha256__in=set(digests))
        .select_related("lesion__patient")
    )
    if lesion is not None:
        images = images.exclude(lesion=lesion)
    return list(images.order_by("uploaded_at", "id"))


def _with_predictions(queryset: QuerySet[LesionImage]) -> QuerySet[LesionImage]:
    return queryset.select_related("lesion__patient__clinic", "uploaded_by").prefetch_related(
        Prefetch("predictions", queryset=Prediction.objects.order_by("-queued_at", "-id"))
    )


def lesion_image_detail_list(*, user, lesion: Lesion | None = None) -> QuerySet[LesionImage]:
    return _with_predictions(lesion_image_list(user=user, lesion=lesion))


def lesion_image_detail_get(*, user, pk) -> LesionImage:
    return object_get_for_user(_with_predictions(LesionImage.objects.all()), user=user, pk=pk)


@dataclass(frozen=True)
class ImageReport:
    """What the FHIR report of an image is made of."""

    image: LesionImage
    prediction: Prediction | None  # the finished prediction reported on; None while there is none
    pending: Prediction | None  # the newest prediction, when none has finished yet
    review: Review | None  # the newest review of the image


def image_report_get(*, user, pk) -> ImageReport:
    """The image with the prediction to report (by the current model version when it has succeeded,
    else the newest that succeeded) and the image's newest review; 404 outside the user's clinics."""
    image = object_get_for_user(LesionImage.objects.select_related("lesion__patient__clinic"), user=user, pk=pk)
    predictions = list(Prediction.objects.filter(image=image).order_by("-queued_at", "-id"))
    succeeded = [p for p in predictions if p.status == PredictionStatus.SUCCEEDED]
    current = [p for p in succeeded if p.model_version == inference.model_version()]
    prediction = next(iter(current or succeeded), None)
    review = (
        Review.objects.filter(image=image)
        .select_related("reviewer", "prediction")
        .order_by("-created_at", "-id")
        .first()
    )
    return ImageReport(
        image=image, prediction=prediction, pending=predictions[0] if predictions else None, review=review
    )
