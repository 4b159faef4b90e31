"""Re-running stored images on a model version: all at once from the command line (`predictions_rerun`, with a
report of what changed), or queued for the workers from the admin (`predictions_rerun_enqueue`). A result that
disagrees with the image's previous one is triaged into the review queue like any other."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from .. import inference, permissions
from ..interpretation import VersionDiff
from ..models import (
    LesionImage,
    ModelVersion,
    Prediction,
    PredictionStatus,
    ReviewCaseReason,
    ReviewReason,
)
from ..models.audit import AuditAction
from ..selectors import prediction_version_diff
from .audit import audit_record
from .predictions import prediction_release, prediction_run, predictions_enqueue_on_commit


@dataclass
class RerunReport:
    model_version: str
    images: int = 0
    succeeded: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    diff: VersionDiff | None = None
    cases_opened: int = 0


def _rerun_batch(*, target: str, image_ids: list[int], claimant: str) -> list[Prediction]:
    """Create (or take over queued) predictions of `target` for the images and claim them for this run."""
    now = timezone.now()
    with transaction.atomic():
        images = LesionImage.objects.filter(id__in=image_ids).select_related(LesionImage.CLINIC_PATH)
        existing = set(
            Prediction.objects.filter(image_id__in=image_ids, model_version=target).values_list("image_id", flat=True)
        )
        for image in images:
            if image.pk in existing:
                continue
            prediction = Prediction.objects.create(
                image=image, clinic=image.clinic, model_version=target, status=PredictionStatus.QUEUED, queued_at=now
            )
            audit_record(
                actor=None,
                clinic=image.clinic,
                action=AuditAction.PREDICTION_RERUN,
                target=prediction,
                data={"image_id": image.pk, "model_version": target},
            )
        # Compare-and-set: a prediction a worker already took is left to it.
        Prediction.objects.filter(image_id__in=image_ids, model_version=target, status=PredictionStatus.QUEUED).update(
            status=PredictionStatus.RUNNING, claimed_by=claimant, started_at=now, attempts=F("attempts") + 1
        )
    return list(
        Prediction.objects.filter(status=PredictionStatus.RUNNING, claimed_by=claimant)
        .select_related("image__lesion__patient__clinic")
        .order_by("id")
    )


def predictions_rerun(
    *,
    actor,
    model_version: ModelVersion,
    classifier,
    images: QuerySet[LesionImage] | None = None,
    batch_size: int = 32,
    progress=lambda done, total: None,
) -> RerunReport:
    """Run every stored image (or `images`) that has no result of `model_version` yet through `classifier`,
    keeping the results of other versions beside the new ones; report what changed.

    Each batch is its own transaction; a result that disagrees with the image's previous result (top class
    or risk band) queues the image for review as it is stored. A batch that fails as a whole (storage, the
    database) is given back to the queue for the workers and reported in `errors`.
    """
    permissions.require(actor, "images.rerun")
    target = model_version.identifier
    if classifier.version != target:
        raise ValidationError(f"The classifier is {classifier.version}, not {target}.")
    scope = images if images is not None else LesionImage.objects.all()
    # Images with a result of the target, or a run of it under way, are done; queued ones are taken over.
    settled = Prediction.objects.filter(
        model_version=target, status__in=[PredictionStatus.SUCCEEDED, PredictionStatus.FAILED, PredictionStatus.RUNNING]
    ).values("image_id")
    todo = list(scope.exclude(id__in=settled).order_by("id").values_list("id", flat=True))
    report = RerunReport(model_version=target, images=len(todo))
    claimant = f"rerun-{uuid.uuid4().hex}"
    for start in range(0, len(todo), batch_size):
        held = _rerun_batch(target=target, image_ids=todo[start : start + batch_size], claimant=claimant)
        if held:
            try:
                prediction_run(predictions=held, classifier=classifier, claimant=claimant)
            except Exception as exc:
                prediction_release(predictions=held, claimant=claimant, error=f"{type(exc).__name__}: {exc}")
                report.errors.append(f"images {held[0].image_id}…{held[-1].image_id}: {type(exc).__name__}: {exc}")
        progress(min(start + batch_size, len(todo)), len(todo))
    finished = Prediction.objects.filter(image_id__in=todo, model_version=target)
    report.succeeded = finished.filter(status=PredictionStatus.SUCCEEDED).count()
    report.failed = finished.filter(status=PredictionStatus.FAILED).count()
    report.diff = prediction_version_diff(to_version=target, images=scope)
    report.cases_opened = (
        ReviewCaseReason.objects.filter(code=ReviewReason.VERSION_DISAGREEMENT, prediction__in=finished)
        .values("case_id")
        .distinct()
        .count()
    )
    with transaction.atomic():
        audit_record(
            actor=actor,
            clinic=None,
            action=AuditAction.MODEL_VERSION_RERUN,
            target=model_version,
            data={
                "images": report.images,
                "succeeded": report.succeeded,
                "failed": report.failed,
                "errors": len(report.errors),
                "cases_opened": report.cases_opened,
                **{k: v for k, v in report.diff.summary().items() if k != "to_version"},
            },
        )
    return report


@dataclass
class RerunQueued:
    model_version: str
    queued: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    skipped: int = 0


@transaction.atomic
def predictions_rerun_enqueue(*, actor, images: Iterable[LesionImage]) -> RerunQueued:
    """Queue the images on the active model version for the workers (the admin's re-run action).

    An image with no result of that version gets a new prediction; one whose prediction of it failed is
    tried again; one already done or under way is skipped. Results arrive asynchronously and are
    triaged like any other (a disagreement with the previous version queues the image for review).
    """
    target = inference.model_version()
    outcome = RerunQueued(model_version=target)
    for image in images:
        clinic = image.clinic
        permissions.require(actor, "review_case.work", clinic)
        prediction = Prediction.objects.select_for_update().filter(image=image, model_version=target).first()
        if prediction is None:
            prediction = Prediction.objects.create(
                image=image,
                clinic=clinic,
                model_version=target,
                status=PredictionStatus.QUEUED,
                queued_at=timezone.now(),
            )
            outcome.queued.append(prediction.pk)
            action = AuditAction.PREDICTION_RERUN
        elif prediction.status == PredictionStatus.FAILED:
            Prediction.objects.filter(pk=prediction.pk, status=PredictionStatus.FAILED).update(
                **Prediction.retry_fields(timezone.now())
            )
            outcome.retried.append(prediction.pk)
            action = AuditAction.PREDICTION_RETRY
        else:
            outcome.skipped += 1
            continue
        audit_record(
            actor=actor,
            clinic=clinic,
            action=action,
            target=prediction,
            data={"image_id": image.pk, "model_version": target},
        )
    predictions_enqueue_on_commit(outcome.queued + outcome.retried)
    return outcome
