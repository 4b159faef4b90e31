"""The API's reads: the clinic-scoped selectors of predictions/selectors.py, joined and annotated so that
each list or detail response costs a fixed number of queries whatever its length."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Prefetch, QuerySet

from .. import inference, permissions
from ..models import (
    Lesion,
    LesionImage,
    Membership,
    Patient,
    Prediction,
    PredictionStatus,
    Review,
    WebhookDelivery,
    WebhookEndpoint,
)
from ..selectors import lesion_image_list, lesion_list, object_get_for_user, patient_list, prediction_list, review_list


def _with_reviewed(predictions: QuerySet[Prediction]) -> QuerySet[Prediction]:
    return predictions.annotate(is_reviewed=Exists(Review.objects.filter(image=OuterRef("image_id"))))


def api_membership_list(*, user) -> QuerySet[Membership]:
    """The user's clinics with the role held in each."""
    return Membership.objects.filter(user=user).select_related("clinic").order_by("clinic__name")


def api_patient_list(*, user) -> QuerySet[Patient]:
    return patient_list(user=user)


def api_patient_get(*, user, pk) -> Patient:
    return object_get_for_user(Patient.objects.select_related("clinic"), user=user, pk=pk)


def api_lesion_list(*, user, patient: Patient | None = None) -> QuerySet[Lesion]:
    return lesion_list(user=user, patient=patient)


def api_lesion_get(*, user, pk) -> Lesion:
    return object_get_for_user(Lesion.objects.select_related("patient__clinic"), user=user, pk=pk)


def _images(queryset: QuerySet[LesionImage]) -> QuerySet[LesionImage]:
    return queryset.select_related("lesion__patient__clinic", "uploaded_by").prefetch_related(
        Prefetch("predictions", queryset=Prediction.objects.order_by("-queued_at", "-id")))


def api_image_list(*, user, lesion: Lesion | None = None) -> QuerySet[LesionImage]:
    return _images(lesion_image_list(user=user, lesion=lesion))


def api_image_get(*, user, pk) -> LesionImage:
    return object_get_for_user(_images(LesionImage.objects.all()), user=user, pk=pk)


def _for_representation(predictions: QuerySet[Prediction]) -> QuerySet[Prediction]:
    """What a prediction's representation and its read's audit record need besides its own row: the ids of
    its lesion, patient and clinic (`lesion_id`, `patient_id`, `clinic_id`, columns of the joined tables rather
    than the image's and lesion's rows, which cost more to select and load than the rest of the read), its
    heatmaps per class and whether it was reviewed."""
    return _with_reviewed(predictions.select_related(None).prefetch_related("class_heatmaps").annotate(
        lesion_id=F("image__lesion_id"), patient_id=F("image__lesion__patient_id"),
        clinic_id=F(f"{Prediction.CLINIC_PATH}_id")))


def api_prediction_list(*, user) -> QuerySet[Prediction]:
    return _for_representation(prediction_list(user=user))


def api_prediction_get(*, user, pk) -> Prediction:
    return object_get_for_user(_for_representation(Prediction.objects.all()), user=user, pk=pk)


def api_review_list(*, user) -> QuerySet[Review]:
    return review_list(user=user).select_related("image__lesion").annotate(clinic_id=F(f"{Review.CLINIC_PATH}_id"))


def api_review_get(*, user, pk) -> Review:
    return object_get_for_user(Review.objects.select_related("image__lesion__patient__clinic", "prediction",
                                                             "reviewer"), user=user, pk=pk)


@dataclass(frozen=True)
class ImageReport:
    """What the FHIR report of an image is made of."""

    image: LesionImage
    prediction: Prediction | None  # the finished prediction reported on; None while there is none
    pending: Prediction | None  # the newest prediction, when none has finished yet
    review: Review | None  # the newest review of the image


def api_image_report_get(*, user, pk) -> ImageReport:
    """The image with the prediction to report (by the current model version when it has succeeded,
    else the newest that succeeded) and the image's newest review; 404 outside the user's clinics."""
    image = object_get_for_user(LesionImage.objects.select_related("lesion__patient__clinic"), user=user, pk=pk)
    predictions = list(Prediction.objects.filter(image=image).order_by("-queued_at", "-id"))
    succeeded = [p for p in predictions if p.status == PredictionStatus.SUCCEEDED]
    current = [p for p in succeeded if p.model_version == inference.model_version()]
    prediction = (current or succeeded or [None])[0]
    review = (Review.objects.filter(image=image).select_related("reviewer", "prediction")
              .order_by("-created_at", "-id").first())
    return ImageReport(image=image, prediction=prediction, pending=predictions[0] if predictions else None,
                       review=review)


def webhook_endpoint_list(*, user) -> QuerySet[WebhookEndpoint]:
    """The endpoints of the clinics the user administers (webhooks are for administrators only)."""
    clinics = permissions.clinics_where(user, "clinic.administer")
    return WebhookEndpoint.objects.filter(clinic__in=clinics.values("id")).select_related("clinic")


def webhook_endpoint_get(*, user, pk) -> WebhookEndpoint:
    """An endpoint of the user's clinics (404 for another clinic's), for its administrators (403 otherwise)."""
    endpoint = object_get_for_user(WebhookEndpoint.objects.select_related("clinic"), user=user, pk=pk)
    permissions.require(user, "clinic.administer", endpoint.clinic)
    return endpoint


def webhook_delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return endpoint.deliveries.prefetch_related("attempt_log").order_by("-created_at", "-id")

