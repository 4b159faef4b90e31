"""Everything that reads clinical records, already scoped to the clinics the user belongs to."""
from __future__ import annotations

from typing import TypeVar

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import Http404

from .models import AuditEvent, Clinic, Lesion, LesionImage, Membership, Patient, Prediction, Review, Role

M = TypeVar("M", bound=models.Model)


def clinic_list(*, user) -> QuerySet[Clinic]:
    """The clinics the user is a member of (none for an anonymous user)."""
    if not user.is_authenticated:
        return Clinic.objects.none()
    return Clinic.objects.filter(memberships__user=user)


def scoped(queryset: QuerySet[M], *, user) -> QuerySet[M]:
    """Restrict a queryset of a clinical model to the user's clinics (via the model's CLINIC_PATH)."""
    path = queryset.model.CLINIC_PATH
    clinic_ids = clinic_list(user=user).values("id")
    return queryset.filter(**{f"{path}__id__in" if path else "id__in": clinic_ids})


def object_get_for_user(queryset: QuerySet[M] | type[M], *, user, pk) -> M:
    """The one answer to "may this user see this object?": the object, or 404 for another clinic's.

    404 rather than 403, so that ids of other clinics' records reveal nothing.
    """
    if isinstance(queryset, type):
        queryset = queryset.objects.all()
    try:
        return scoped(queryset, user=user).get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.")


def clinic_role_get(*, user, clinic: Clinic) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, clinic=clinic).values_list("role", flat=True).first()


def clinic_role_require(*, user, clinic: Clinic, roles: tuple[str, ...]) -> str:
    """The user's role in the clinic, or PermissionDenied when it is not one of `roles`."""
    role = clinic_role_get(user=user, clinic=clinic)
    if role not in roles:
        allowed = " or ".join(Role(r).label.lower() for r in roles)
        raise PermissionDenied(f"Only a {allowed} of {clinic} may do this.")
    return role


def patient_list(*, user, clinic: Clinic | None = None) -> QuerySet[Patient]:
    patients = scoped(Patient.objects.select_related("clinic"), user=user)
    return patients.filter(clinic=clinic) if clinic is not None else patients


def lesion_list(*, user, patient: Patient | None = None) -> QuerySet[Lesion]:
    lesions = scoped(Lesion.objects.select_related("patient__clinic"), user=user)
    return lesions.filter(patient=patient) if patient is not None else lesions


def lesion_image_list(*, user, lesion: Lesion | None = None) -> QuerySet[LesionImage]:
    images = scoped(LesionImage.objects.select_related("lesion__patient__clinic", "uploaded_by"), user=user)
    return images.filter(lesion=lesion) if lesion is not None else images


def prediction_list(*, user, image: LesionImage | None = None) -> QuerySet[Prediction]:
    predictions = scoped(Prediction.objects.select_related("image__lesion__patient__clinic"), user=user)
    return predictions.filter(image=image) if image is not None else predictions


def review_list(*, user, image: LesionImage | None = None) -> QuerySet[Review]:
    reviews = scoped(Review.objects.select_related("image", "prediction", "reviewer"), user=user)
    return reviews.filter(image=image) if image is not None else reviews


def audit_event_list(*, user, clinic: Clinic) -> QuerySet[AuditEvent]:
    """A clinic's audit trail, for its administrators only."""
    clinic_role_require(user=user, clinic=clinic, roles=(Role.ADMIN,))
    return AuditEvent.objects.filter(clinic=clinic).select_related("actor")
