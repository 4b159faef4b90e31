from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from .. import permissions
from ..models import LesionImage, Prediction, PredictionStatus, Review, Verdict
from ..models.audit import AuditAction
from .audit import audit_record
from .review_cases import review_cases_resolve
from .webhooks import webhook_events_emit


@transaction.atomic
def review_create(
    *,
    actor,
    image: LesionImage,
    verdict: str,
    diagnosis: str | None = None,
    prediction: Prediction | None = None,
    histopathology_confirmed: bool = False,
    notes: str = "",
) -> Review:
    """Record a reviewer's diagnosis of an image.

    AGREE takes the diagnosis from `prediction` (which must have succeeded; by default the image's newest
    finished prediction); OVERRIDE needs `diagnosis`.
    """
    clinic = image.lesion.patient.clinic
    permissions.require(actor, "review.create", clinic)
    if prediction is not None and prediction.image_id != image.pk:
        raise ValidationError({"prediction": "The prediction is of another image."})
    if verdict == Verdict.AGREE:
        if prediction is None:  # the reviewer agrees with what the image shows now
            prediction = (
                image.predictions.filter(status=PredictionStatus.SUCCEEDED)
                .order_by(F("finished_at").desc(nulls_last=True), "-id")
                .first()
            )
        if prediction is None or prediction.status != PredictionStatus.SUCCEEDED:
            raise ValidationError({"prediction": "Agreeing needs a finished prediction to agree with."})
        if diagnosis not in (None, prediction.top_class):
            raise ValidationError({"diagnosis": "Agreeing means the prediction's class; use override for another."})
        diagnosis = prediction.top_class
    elif verdict == Verdict.OVERRIDE and not diagnosis:
        raise ValidationError({"diagnosis": "An override needs the diagnosis it overrides with."})
    review = Review(
        image=image,
        prediction=prediction,
        verdict=verdict,
        diagnosis=diagnosis or "",
        histopathology_confirmed=histopathology_confirmed,
        notes=notes,
        reviewer=actor,
    )
    review.full_clean()
    review.save()
    event = audit_record(
        actor=actor,
        clinic=clinic,
        action=AuditAction.REVIEW_CREATE,
        target=review,
        data={
            "image_id": image.pk,
            "prediction_id": getattr(prediction, "pk", None),
            "verdict": verdict,
            "diagnosis": review.diagnosis,
            "histopathology_confirmed": histopathology_confirmed,
        },
    )
    webhook_events_emit(audit_events=[event])  # the clinics' endpoints hear of it once this commits
    review_cases_resolve(review=review)
    return review
