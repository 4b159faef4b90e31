"""Reviews (a clinician's diagnosis of an image) in the user's clinics."""

from __future__ import annotations

from django.db.models import F, QuerySet

from ..models import LesionImage, Review
from .clinics import object_get_for_user, scoped


def review_list(*, user, image: LesionImage | None = None) -> QuerySet[Review]:
    reviews = scoped(Review.objects.select_related("image", "prediction", "reviewer"), user=user)
    return reviews.filter(image=image) if image is not None else reviews


def review_representation_list(*, user) -> QuerySet[Review]:
    return review_list(user=user).select_related("image__lesion").annotate(clinic_id=F(f"{Review.CLINIC_PATH}_id"))


def review_get(*, user, pk) -> Review:
    return object_get_for_user(
        Review.objects.select_related("image__lesion__patient__clinic", "prediction", "reviewer"), user=user, pk=pk
    )
