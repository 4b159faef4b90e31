"""Asking for a prediction of an image by the model version the workers run now."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .. import inference, permissions
from ..models import LesionImage, Prediction, PredictionStatus
from ..models.audit import AuditAction
from .audit import audit_record
from .predictions import prediction_retry, predictions_enqueue_on_commit


@transaction.atomic
def prediction_request(*, actor, image: LesionImage) -> tuple[Prediction, bool]:
    """The image's prediction by the current model version, queued if needed; returns (prediction, queued).

    An existing prediction is returned as it is (queued False), except a failed one, which is retried
    with a fresh budget of attempts (`prediction_retry`): asking again is how a clinician retries.
    """
    clinic = image.lesion.patient.clinic
    permissions.require(actor, "record.write", clinic)
    prediction, created = Prediction.objects.get_or_create(
        image=image,
        model_version=inference.model_version(),
        defaults={"clinic": clinic, "status": PredictionStatus.QUEUED, "queued_at": timezone.now()},
    )
    if created:
        audit_record(
            actor=actor,
            clinic=clinic,
            action=AuditAction.PREDICTION_REQUEST,
            target=prediction,
            data={"image_id": image.pk, "model_version": prediction.model_version},
        )
        predictions_enqueue_on_commit([prediction.pk])
        return prediction, True
    if prediction.status == PredictionStatus.FAILED:
        return prediction_retry(actor=actor, prediction=prediction), True
    return prediction, False
