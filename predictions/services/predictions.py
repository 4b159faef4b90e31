"""The life of a prediction: queued at upload, claimed by a worker, run in batches, finished or failed.

A prediction moves QUEUED -> RUNNING only by a compare-and-set update that also records the claiming
task run (`claimed_by`), and RUNNING -> SUCCEEDED/FAILED/QUEUED only while that claim still holds, so a
redelivered or duplicated task message never runs finished work again or stores a result twice.
"""
from __future__ import annotations

import datetime
import logging
from typing import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import inference
from ..models import Prediction, PredictionStatus, Role
from ..selectors import clinic_role_require
from .audit import AuditEntry, audit_record, audit_records
from .governance import review_cases_triage

logger = logging.getLogger(__name__)

QUEUED, RUNNING = PredictionStatus.QUEUED, PredictionStatus.RUNNING
SUCCEEDED, FAILED = PredictionStatus.SUCCEEDED, PredictionStatus.FAILED


def _send_on_commit(send, what: str) -> None:
    """Publish after the current transaction commits; a broker that cannot be reached is logged, not raised."""

    def robust_send() -> None:
        try:
            send()
        except Exception:
            logger.exception("could not enqueue %s", what)

    transaction.on_commit(robust_send)


def predictions_enqueue_on_commit(prediction_ids: Sequence[int]) -> None:
    """Send one task per prediction once the current transaction commits.

    A broker that cannot be reached is logged, not raised: the row is committed as queued and the
    periodic sweep sends it again.
    """
    from ..tasks import prediction_run_task

    ids = list(prediction_ids)
    if ids:
        _send_on_commit(lambda: [prediction_run_task.delay(i) for i in ids],
                        f"predictions {ids}; the sweep will resend them")


def _heatmaps_enqueue_on_commit(prediction_ids: Sequence[int]) -> None:
    from ..tasks import HEATMAP_PRIORITY, prediction_heatmap_task

    ids = list(prediction_ids)
    if ids:
        _send_on_commit(lambda: prediction_heatmap_task.apply_async(args=[ids], priority=HEATMAP_PRIORITY),
                        f"heatmaps of predictions {ids}")


def _clinic_of(prediction: Prediction):
    return prediction.image.lesion.patient.clinic


def _claimed(claimant: str):
    return Prediction.objects.filter(status=RUNNING, claimed_by=claimant)


@transaction.atomic
def prediction_claim(*, prediction_id: int, claimant: str, model_version: str, limit: int) -> list[Prediction]:
    """Claim the prediction a task was sent for and up to `limit` - 1 others queued for the same model.

    Returns every prediction `claimant` (the task run's id) now holds, oldest first; empty when the
    prediction is finished, held by another run, or queued for another model version. Predictions still
    RUNNING under this claimant were claimed by an earlier delivery of the same message whose worker died
    (late acknowledgement redelivers it); they are taken back as a new attempt, or failed when out of attempts.
    """
    now = timezone.now()
    held = _claimed(claimant)
    exhausted = list(held.filter(attempts__gte=settings.SKINCLINIC_PREDICTION_MAX_ATTEMPTS)
                     .select_related("image__lesion__patient__clinic"))
    for prediction in exhausted:
        _finish_failed(prediction, claimant=claimant, error=(
            f"The worker stopped {prediction.attempts} times while running this prediction; giving up."))
    held.update(started_at=now, attempts=F("attempts") + 1)

    claim = {"status": RUNNING, "claimed_by": claimant, "started_at": now, "attempts": F("attempts") + 1}
    queued = Prediction.objects.filter(status=QUEUED, model_version=model_version)
    queued.filter(id=prediction_id).update(**claim)
    room = limit - held.count()
    if room > 0:
        # SKIP LOCKED (PostgreSQL): two workers batching at once take disjoint rows instead of waiting.
        others = (queued.exclude(id=prediction_id).order_by("queued_at", "id")
                  .select_for_update(skip_locked=True).values_list("id", flat=True)[:room])
        queued.filter(id__in=list(others)).update(**claim)
    return list(held.select_related("image__lesion__patient__clinic").order_by("queued_at", "id"))


def _read_input(prediction: Prediction):
    from mlcore import LesionInput

    image = prediction.image
    with image.file.open("rb") as fh:
        data = fh.read()
    return LesionInput(
        image=data,
        age=float(image.age) if image.age is not None else None,
        sex=image.sex if image.sex != "unknown" else None,
        site=image.site if image.site != "unknown" else None,
    )


def prediction_run(*, predictions: Sequence[Prediction], classifier, claimant: str) -> list[Prediction]:
    """Classify claimed predictions as one batch and store each result, then queue their heatmaps.

    The probabilities are what a clinician waits for, so they are stored first; the Grad-CAM heatmaps
    (costlier to render than the classification itself) follow in a lower-priority task. An image the
    model cannot read fails its own prediction only, once, with the reason. Errors reading storage or
    writing the database propagate: the caller releases the claim and retries.
    """
    from mlcore import ImageError

    inputs = [_read_input(prediction) for prediction in predictions]
    try:
        outcomes: list = list(classifier.predict(inputs))
    except ImageError:
        # One bad file in the batch: find it by running the images one by one.
        outcomes = []
        for item in inputs:
            try:
                outcomes.extend(classifier.predict([item]))
            except ImageError as exc:
                outcomes.append(exc)
    return _store_outcomes(predictions, outcomes, claimant=claimant)


@transaction.atomic
def _store_outcomes(predictions: Sequence[Prediction], outcomes: Sequence, *, claimant: str) -> list[Prediction]:
    finishes = []
    for prediction, outcome in zip(predictions, outcomes, strict=True):
        if isinstance(outcome, Exception):
            error = f"The stored image could not be read by the model: {outcome}"
            finishes.append((prediction, _failed_fields(error)))
        else:
            finishes.append((prediction, _succeeded_fields(outcome)))
    finished = _finish(finishes, claimant=claimant)
    _heatmaps_enqueue_on_commit([p.id for p in finished if p.status == SUCCEEDED])
    return list(predictions)


def prediction_heatmaps_store(*, predictions: Sequence[Prediction], classifier) -> list[Prediction]:
    """Compute and store the Grad-CAM heatmap of succeeded predictions that have none yet.

    The model is run again on the same input (it is deterministic), and a heatmap is kept only when it
    explains the stored top class. Returns the predictions that got a heatmap.
    """
    pending = [p for p in predictions if p.status == SUCCEEDED and not p.heatmap]
    if not pending:
        return []
    results = classifier.predict([_read_input(p) for p in pending], heatmap=True)
    stored = []
    for prediction, result in zip(pending, results, strict=True):
        if not result.heatmap_png or result.top_class != prediction.top_class:
            logger.warning("no heatmap for prediction %s: the rerun gave %s, the stored result %s",
                           prediction.id, result.top_class, prediction.top_class)
            continue
        prediction.heatmap.save("heatmap.png", ContentFile(result.heatmap_png), save=False)
        if Prediction.objects.filter(id=prediction.id, status=SUCCEEDED, heatmap="").update(
                heatmap=prediction.heatmap.name):
            stored.append(prediction)
        else:  # another run stored one first
            prediction.heatmap.delete(save=False)
    return stored


def _succeeded_fields(result) -> dict:
    return {"status": SUCCEEDED, "probabilities": result.probabilities, "top_class": result.top_class,
            "malignancy_risk": result.malignancy_risk, "assessable": result.assessable,
            "assessment_reasons": result.reasons, "refer": result.refer,
            "referral_threshold": result.referral_threshold,
            "error": "", "finished_at": timezone.now(), "claimed_by": ""}


def _failed_fields(error: str) -> dict:
    return {"status": FAILED, "error": error, "finished_at": timezone.now(), "claimed_by": ""}


def _finish(finishes: Sequence[tuple[Prediction, dict]], *, claimant: str) -> list[Prediction]:
    """Store the results of predictions `claimant` holds, with their audit records and triage, in a few
    queries however many there are (a worker's batch); returns those stored. A prediction no longer held
    (a sweep gave it to another run) keeps what that run stores: its result here is dropped."""
    ids = [prediction.id for prediction, _ in finishes]
    # Locked until commit: a sweep or release waits, so each result is stored once, by its holder.
    held = set(_claimed(claimant).filter(id__in=ids).select_for_update().values_list("id", flat=True))
    finished, entries, fields_set = [], [], set()
    for prediction, fields in finishes:
        if prediction.id not in held:
            logger.warning("prediction %s was no longer held by %s; result dropped", prediction.id, claimant)
            continue
        for name, value in fields.items():
            setattr(prediction, name, value)
        fields_set.update(fields)
        finished.append(prediction)
        entries.append(_finish_audit_entry(prediction))
    if not finished:
        return []
    Prediction.objects.bulk_update(finished, sorted(fields_set))
    audit_records(entries)
    review_cases_triage(predictions=finished)
    return finished


def _finish_audit_entry(prediction: Prediction) -> AuditEntry:
    data = {"image_id": prediction.image_id, "model_version": prediction.model_version}
    if prediction.status == SUCCEEDED:
        data |= {"top_class": prediction.top_class, "malignancy_risk": prediction.malignancy_risk,
                 "attempts": prediction.attempts}
    else:
        data |= {"attempts": prediction.attempts, "error": prediction.error}
    action = "prediction.succeeded" if prediction.status == SUCCEEDED else "prediction.failed"
    return AuditEntry(actor=None, clinic=_clinic_of(prediction), action=action, target=prediction, data=data)


def _finish_failed(prediction: Prediction, *, claimant: str, error: str) -> bool:
    return bool(_finish([(prediction, _failed_fields(error))], claimant=claimant))


@transaction.atomic
def prediction_fail(*, prediction: Prediction, claimant: str, error: str) -> bool:
    """Mark a held prediction failed for good with a reason a clinician can read; False if no longer held."""
    return _finish_failed(prediction, claimant=claimant, error=error)


@transaction.atomic
def prediction_release(*, predictions: Sequence[Prediction], claimant: str, error: str) -> list[int]:
    """Give held predictions back to the queue after a transient error; returns the ids queued again.

    A prediction that has used all its attempts (counted in the database) is failed instead.
    """
    requeued = []
    for prediction in predictions:
        if prediction.attempts >= settings.SKINCLINIC_PREDICTION_MAX_ATTEMPTS:
            _finish_failed(prediction, claimant=claimant,
                           error=f"Gave up after {prediction.attempts} attempts; the last error: {error}")
        elif _claimed(claimant).filter(id=prediction.id).update(
                status=QUEUED, claimed_by="", error=error, queued_at=timezone.now()):
            audit_record(actor=None, clinic=_clinic_of(prediction), action="prediction.released", target=prediction,
                         data={"attempts": prediction.attempts, "error": error})
            requeued.append(prediction.id)
    return requeued


@transaction.atomic
def predictions_sweep(*, now: datetime.datetime | None = None) -> list[int]:
    """Re-enqueue predictions stuck queued (lost message, broker down at commit) or running (dead worker).

    Anything in that state for longer than SKINCLINIC_PREDICTION_STUCK_AFTER (which exceeds the task's
    hard time limit, so nothing alive is taken away) is sent again; a running one that used all its
    attempts is failed. Returns the ids enqueued again.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.SKINCLINIC_PREDICTION_STUCK_AFTER)
    resend = []
    stale_running = (Prediction.objects.filter(status=RUNNING, started_at__lt=cutoff)
                     .select_related("image__lesion__patient__clinic"))
    for prediction in stale_running:
        if prediction.attempts >= settings.SKINCLINIC_PREDICTION_MAX_ATTEMPTS:
            _finish_failed(prediction, claimant=prediction.claimed_by, error=(
                f"The worker stopped {prediction.attempts} times while running this prediction; giving up."))
        elif Prediction.objects.filter(id=prediction.id, status=RUNNING, claimed_by=prediction.claimed_by,
                                       started_at=prediction.started_at).update(
                status=QUEUED, claimed_by="", queued_at=now):
            audit_record(actor=None, clinic=_clinic_of(prediction), action="prediction.requeued", target=prediction,
                         data={"reason": "running past the timeout", "attempts": prediction.attempts})
            resend.append(prediction.id)
    stale_queued = Prediction.objects.filter(status=QUEUED, queued_at__lt=cutoff)
    for prediction_id in list(stale_queued.values_list("id", flat=True)):
        if stale_queued.filter(id=prediction_id).update(queued_at=now):
            resend.append(prediction_id)
    predictions_enqueue_on_commit(resend)
    return resend


@transaction.atomic
def prediction_retry(*, actor, prediction: Prediction) -> Prediction:
    """Queue a failed prediction again with a fresh budget of attempts, at a clinician's request.

    Only a failed prediction of the model version the workers now run can be retried (a worker never
    claims another version's work); anything else raises ValidationError.
    """
    clinic = _clinic_of(prediction)
    clinic_role_require(user=actor, clinic=clinic, roles=(Role.CLINICIAN, Role.ADMIN))
    if prediction.model_version != inference.model_version():
        raise ValidationError(f"This prediction was made by {prediction.model_version}, which the workers no "
                              f"longer run; upload the image again to classify it with the current model.")
    previous_error = prediction.error
    now = timezone.now()
    fields = {"status": QUEUED, "error": "", "attempts": 0, "claimed_by": "", "queued_at": now,
              "started_at": None, "finished_at": None}
    if not Prediction.objects.filter(id=prediction.id, status=FAILED).update(**fields):
        raise ValidationError("Only a failed prediction can be retried; this one is already queued or done.")
    for name, value in fields.items():
        setattr(prediction, name, value)
    audit_record(actor=actor, clinic=clinic, action="prediction.retry", target=prediction,
                 data={"previous_error": previous_error, "model_version": prediction.model_version})
    predictions_enqueue_on_commit([prediction.id])
    return prediction
