"""The life of a prediction: queued at upload, claimed by a worker, run in batches, finished or failed.

A prediction moves QUEUED -> RUNNING only by a compare-and-set update that also records the claiming
task run (`claimed_by`), and RUNNING -> SUCCEEDED/FAILED/QUEUED only while that claim still holds, so a
redelivered or duplicated task message never runs finished work again or stores a result twice.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from mlcore import CLASSES

from .. import inference, permissions
from ..models import HeatmapStatus, Prediction, PredictionHeatmap, PredictionStatus, WorkerHeartbeat
from ..models.audit import AuditAction
from ..models.predictions import class_heatmap_name, heatmap_name
from .audit import AuditEntry, audit_record, audit_records
from .files import file_save_at
from .review_cases import review_cases_triage
from .similar_cases import similar_cases_find, similar_cases_store
from .webhooks import webhook_events_emit

logger = logging.getLogger(__name__)

QUEUED, RUNNING = PredictionStatus.QUEUED, PredictionStatus.RUNNING
SUCCEEDED, FAILED = PredictionStatus.SUCCEEDED, PredictionStatus.FAILED


class _PredictionMessages:
    """The predictions a transaction queues, sent once it commits as one message per batch that a worker run
    claims (SKINCLINIC_PREDICTION_BATCH_SIZE): a message per prediction would mostly wake workers for nothing.
    Not Celery's `delay_on_commit`, which sends a message per call: here a transaction's calls join one callback,
    which sends a message per batch (200 uploads woke the worker 168 times for nothing: docs/benchmarks.md)."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def __call__(self) -> None:
        from ..tasks import prediction_run_task

        ids = list(dict.fromkeys(self.ids))
        size = max(1, settings.SKINCLINIC_PREDICTION_BATCH_SIZE)
        try:
            for start in range(0, len(ids), size):
                prediction_run_task.delay(ids[start])  # its run claims the rest of the batch, oldest first
        except Exception:
            logger.exception("could not enqueue predictions %s; the sweep will resend them", ids)


def predictions_enqueue_on_commit(prediction_ids: Sequence[int]) -> None:
    """Send the predictions' tasks once the current transaction commits, batched with the others it queues.

    The first call in a transaction registers the send and later calls join it. Django drops a callback
    only with the savepoint it was registered in, and any later row inside that savepoint goes with it, so
    joining loses nothing (a row rolled back on its own costs at most a message that claims nothing). A
    broker that cannot be reached is logged, not raised: the rows are committed as queued and the periodic
    sweep sends them again.
    """
    ids = list(prediction_ids)
    if not ids:
        return
    connection = transaction.get_connection()
    pending = (
        next((func for _, func, _ in connection.run_on_commit if isinstance(func, _PredictionMessages)), None)
        if connection.in_atomic_block
        else None
    )
    if pending is not None:
        pending.ids.extend(ids)
        return
    pending = _PredictionMessages()
    pending.ids.extend(ids)
    transaction.on_commit(pending)  # outside a transaction: sent now


def _heatmaps_enqueue_on_commit(prediction_ids: Sequence[int]) -> None:
    from ..tasks import HEATMAP_PRIORITY, prediction_heatmap_task

    ids = list(prediction_ids)
    if ids:  # a broker that cannot be reached at commit is logged (skinclinic.celery.Task)
        prediction_heatmap_task.apply_async_on_commit(args=[ids], priority=HEATMAP_PRIORITY)


def _claimed(claimant: str):
    return Prediction.objects.filter(status=RUNNING, claimed_by=claimant)


@transaction.atomic
def prediction_claim(
    *, prediction_id: int, claimant: str, model_version: str, limit: int, worker: str = ""
) -> list[Prediction]:
    """Claim the prediction a task was sent for and up to `limit` - 1 others queued for the same model.

    Returns every prediction `claimant` (the task run's id) now holds, oldest first; empty when the
    prediction is finished, held by another run, or queued for another model version. Predictions still
    RUNNING under this claimant were claimed by an earlier delivery of the same message whose worker died
    (late acknowledgement redelivers it); they are taken back as a new attempt, or failed when out of attempts.
    `worker` names the worker process running the claim (its heartbeat vouches for the claim).
    """
    now = timezone.now()
    held = _claimed(claimant)
    exhausted = list(
        held.filter(attempts__gte=settings.SKINCLINIC_PREDICTION_MAX_ATTEMPTS).select_related(
            "image__lesion__patient__clinic"
        )
    )
    for prediction in exhausted:
        _finish_failed(
            prediction,
            claimant=claimant,
            error=(f"The worker stopped {prediction.attempts} times while running this prediction; giving up."),
        )
    held.update(started_at=now, attempts=F("attempts") + 1, claimed_worker=worker)

    claim = {
        "status": RUNNING,
        "claimed_by": claimant,
        "claimed_worker": worker,
        "started_at": now,
        "attempts": F("attempts") + 1,
    }
    queued = Prediction.objects.filter(status=QUEUED, model_version=model_version)
    queued.filter(id=prediction_id).update(**claim)
    room = limit - held.count()
    if room > 0:
        # SKIP LOCKED (PostgreSQL): two workers batching at once take disjoint rows instead of waiting.
        others = (
            queued.exclude(id=prediction_id)
            .order_by("queued_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:room]
        )
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
    # The reference cases nearest each image, from the embedding the classification already computed.
    similar = similar_cases_find(outcomes=outcomes, classifier=classifier)
    return _store_outcomes(
        predictions, outcomes, claimant=claimant, similar={p.id: cases for p, cases in zip(predictions, similar)}
    )


@transaction.atomic
def _store_outcomes(
    predictions: Sequence[Prediction],
    outcomes: Sequence,
    *,
    claimant: str,
    similar: dict[int, list | None] | None = None,
) -> list[Prediction]:
    finishes = []
    for prediction, outcome in zip(predictions, outcomes, strict=True):
        if isinstance(outcome, Exception):
            error = f"The stored image could not be read by the model: {outcome}"
            finishes.append((prediction, _failed_fields(error)))
        else:
            finishes.append((prediction, _succeeded_fields(outcome)))
    finished = _finish(finishes, claimant=claimant)
    similar_cases_store(predictions=[p for p in finished if p.status == SUCCEEDED], neighbours=similar or {})
    _heatmaps_enqueue_on_commit([p.id for p in finished if p.status == SUCCEEDED])
    return list(predictions)


@transaction.atomic
def prediction_heatmaps_claim(*, prediction_ids: Sequence[int]) -> list[Prediction]:
    """Take the succeeded predictions among `prediction_ids` whose heatmap is still to be drawn, counting
    an attempt for each (in the database, so the count survives a crash); returns them.

    Those that used SKINCLINIC_HEATMAP_MAX_ATTEMPTS are marked unavailable instead, with the reason.
    """
    pending = Prediction.objects.filter(
        id__in=list(prediction_ids), status=SUCCEEDED, heatmap_status=HeatmapStatus.PENDING
    )
    _heatmaps_give_up(pending.filter(heatmap_attempts__gte=settings.SKINCLINIC_HEATMAP_MAX_ATTEMPTS))
    # Marked as just sent, so the sweep leaves it alone while this attempt runs.
    now = timezone.now()
    pending.update(heatmap_attempts=F("heatmap_attempts") + 1, heatmap_queued_at=now)
    claimed = list(pending.select_related("image").order_by("id"))
    # The class of concern's evidence is drawn with the top class's, in the same pass of the model.
    concerns = [
        PredictionHeatmap(prediction=p, class_code=p.concern_class, queued_at=now) for p in claimed if p.concern_class
    ]
    PredictionHeatmap.objects.bulk_create(concerns, ignore_conflicts=True)
    return claimed


@transaction.atomic
def prediction_class_heatmaps_claim(*, prediction_ids: Sequence[int]) -> list[PredictionHeatmap]:
    """Take the pending heatmaps for other classes than the top one of the succeeded predictions among
    `prediction_ids`, counting an attempt for each; those out of attempts are marked unavailable."""
    pending = PredictionHeatmap.objects.filter(
        prediction_id__in=list(prediction_ids), status=HeatmapStatus.PENDING, prediction__status=SUCCEEDED
    )
    _class_heatmaps_give_up(pending.filter(attempts__gte=settings.SKINCLINIC_HEATMAP_MAX_ATTEMPTS))
    ids = list(pending.values_list("id", flat=True))
    PredictionHeatmap.objects.filter(id__in=ids).update(attempts=F("attempts") + 1, queued_at=timezone.now())
    return list(PredictionHeatmap.objects.filter(id__in=ids).select_related("prediction__image").order_by("id"))


def _class_heatmaps_give_up(pending, *, reason: str | None = None) -> int:
    reason = reason or "This heatmap could not be drawn: every attempt failed. The result itself is complete."
    return pending.update(status=HeatmapStatus.UNAVAILABLE, error=reason)


@transaction.atomic
def prediction_class_heatmap_request(
    *, actor, prediction: Prediction, class_code: str, via: str = "portal"
) -> PredictionHeatmap | None:
    """Ask the worker for the prediction's evidence for `class_code`, drawn after commit; returns its row
    (pending, or as it stands when it was already asked for), or None for the top class (the prediction's
    own heatmap). A heatmap given up on is asked for again with fresh attempts. Raises ValidationError for
    an unknown class or a prediction without a result."""
    clinic = prediction.image.clinic
    permissions.require(actor, "record.view", clinic)
    if class_code not in CLASSES:
        raise ValidationError(f"Unknown class {class_code!r}; one of {', '.join(CLASSES)}.")
    if prediction.status != SUCCEEDED:
        raise ValidationError("Only a finished result has heatmaps.")
    if class_code == prediction.top_class:
        return None
    now = timezone.now()
    heatmap, created = PredictionHeatmap.objects.get_or_create(
        prediction=prediction, class_code=class_code, defaults={"queued_at": now}
    )
    if not created and heatmap.status == HeatmapStatus.UNAVAILABLE:
        PredictionHeatmap.objects.filter(id=heatmap.id, status=HeatmapStatus.UNAVAILABLE).update(
            status=HeatmapStatus.PENDING, attempts=0, error="", queued_at=now
        )
        heatmap.refresh_from_db()
    elif not created:
        return heatmap
    audit_record(
        actor=actor,
        clinic=clinic,
        action=AuditAction.HEATMAP_REQUEST,
        target=prediction,
        data={"class": class_code, "via": via},
    )
    _heatmaps_enqueue_on_commit([prediction.id])
    return heatmap


def prediction_heatmaps_store(
    *, predictions: Sequence[Prediction], classifier, class_heatmaps: Sequence[PredictionHeatmap] = ()
) -> list[Prediction]:
    """Compute and store the Grad-CAM heatmaps of succeeded predictions whose heatmap is pending, and the
    pending `class_heatmaps` (for other classes), in one call of the model.

    The model is run again on the same input (it is deterministic), and a heatmap is kept only when the
    rerun gives the stored top class; otherwise the heatmap is marked unavailable. Each heatmap is written
    under its one name, in the transaction that records it, so a retry replaces a file
    instead of adding one and a failed commit removes it. Returns the predictions that got a heatmap.
    """
    pending = [p for p in predictions if p.status == SUCCEEDED and p.heatmap_status == HeatmapStatus.PENDING]
    wanted = [h for h in class_heatmaps if h.status == HeatmapStatus.PENDING and h.prediction.status == SUCCEEDED]
    if not pending and not wanted:
        return []
    inputs = {p.id: _read_input(p) for p in [*pending, *(h.prediction for h in wanted)]}
    results = classifier.predict(
        [inputs[p.id] for p in pending] + [inputs[h.prediction_id] for h in wanted],
        heatmap=True,
        heatmap_classes=[None] * len(pending) + [h.class_code for h in wanted],
    )
    stored = []
    for prediction, result in zip(pending, results[: len(pending)], strict=True):
        if not result.heatmap_png or result.top_class != prediction.top_class:
            logger.warning(
                "no heatmap for prediction %s: the rerun gave %s, the stored result %s",
                prediction.id,
                result.top_class,
                prediction.top_class,
            )
            _heatmaps_give_up(
                Prediction.objects.filter(id=prediction.id, heatmap_status=HeatmapStatus.PENDING),
                reason="The model's explanation did not match the stored result.",
            )
            continue
        with transaction.atomic():
            # Locked until commit: a second run for the same prediction waits, then finds it stored.
            if (
                not Prediction.objects.select_for_update()
                .filter(id=prediction.id, status=SUCCEEDED, heatmap_status=HeatmapStatus.PENDING)
                .exists()
            ):
                continue
            name = file_save_at(prediction.heatmap, heatmap_name(prediction), result.heatmap_png)
            Prediction.objects.filter(id=prediction.id).update(
                heatmap=name, heatmap_status=HeatmapStatus.STORED, heatmap_error=""
            )
        prediction.heatmap_status = HeatmapStatus.STORED
        stored.append(prediction)
    for heatmap, result in zip(wanted, results[len(pending) :], strict=True):
        _class_heatmap_store(heatmap, result)
    return stored


def _class_heatmap_store(heatmap: PredictionHeatmap, result) -> None:
    if not result.heatmap_png or result.top_class != heatmap.prediction.top_class:
        logger.warning(
            "no %s heatmap for prediction %s: the rerun gave %s, the stored result %s",
            heatmap.class_code,
            heatmap.prediction_id,
            result.top_class,
            heatmap.prediction.top_class,
        )
        _class_heatmaps_give_up(
            PredictionHeatmap.objects.filter(id=heatmap.id, status=HeatmapStatus.PENDING),
            reason="The model's explanation did not match the stored result.",
        )
        return
    with transaction.atomic():
        if (
            not PredictionHeatmap.objects.select_for_update()
            .filter(id=heatmap.id, status=HeatmapStatus.PENDING)
            .exists()
        ):
            return
        name = file_save_at(
            heatmap.file, class_heatmap_name(heatmap.prediction_id, heatmap.class_code), result.heatmap_png
        )
        PredictionHeatmap.objects.filter(id=heatmap.id).update(file=name, status=HeatmapStatus.STORED, error="")
    heatmap.status = HeatmapStatus.STORED


def _heatmaps_give_up(pending, *, reason: str | None = None) -> int:
    reason = reason or "The heatmap could not be drawn: every attempt failed. The result itself is complete."
    return pending.update(heatmap_status=HeatmapStatus.UNAVAILABLE, heatmap_error=reason)


def _succeeded_fields(result) -> dict:
    now = timezone.now()
    return {
        "status": SUCCEEDED,
        "probabilities": result.probabilities,
        "top_class": result.top_class,
        "malignancy_risk": result.malignancy_risk,
        "assessable": result.assessable,
        "assessment_reasons": result.reasons,
        "refer": result.refer,
        "referral_threshold": result.referral_threshold,
        "error": "",
        "finished_at": now,
        "claimed_by": "",
        "claimed_worker": "",
        "heatmap_status": HeatmapStatus.PENDING,
        "heatmap_attempts": 0,
        "heatmap_queued_at": now,
    }


def _failed_fields(error: str) -> dict:
    return {"status": FAILED, "error": error, "finished_at": timezone.now(), "claimed_by": "", "claimed_worker": ""}


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
    # Each result is audited, and sent to the clinics' webhook endpoints once this commits.
    webhook_events_emit(audit_events=audit_records(entries))
    review_cases_triage(predictions=finished)
    return finished


def _finish_audit_entry(prediction: Prediction) -> AuditEntry:
    data = {"image_id": prediction.image_id, "model_version": prediction.model_version}
    if prediction.status == SUCCEEDED:
        data |= {
            "top_class": prediction.top_class,
            "malignancy_risk": prediction.malignancy_risk,
            "attempts": prediction.attempts,
        }
    else:
        data |= {"attempts": prediction.attempts, "error": prediction.error}
    action = AuditAction.PREDICTION_SUCCEEDED if prediction.status == SUCCEEDED else AuditAction.PREDICTION_FAILED
    return AuditEntry(actor=None, clinic=prediction.image.clinic, action=action, target=prediction, data=data)


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
            _finish_failed(
                prediction,
                claimant=claimant,
                error=f"Gave up after {prediction.attempts} attempts; the last error: {error}",
            )
        elif (
            _claimed(claimant)
            .filter(id=prediction.id)
            .update(status=QUEUED, claimed_by="", claimed_worker="", error=error, queued_at=timezone.now())
        ):
            audit_record(
                actor=None,
                clinic=prediction.image.clinic,
                action=AuditAction.PREDICTION_RELEASED,
                target=prediction,
                data={"attempts": prediction.attempts, "error": error},
            )
            requeued.append(prediction.id)
    return requeued


def worker_heartbeat(*, worker: str, started_at: datetime.datetime) -> None:
    """Record that `worker` is alive now (called every SKINCLINIC_WORKER_HEARTBEAT_SECONDS while it runs)."""
    WorkerHeartbeat.objects.update_or_create(
        worker=worker, defaults={"seen_at": timezone.now(), "started_at": started_at}
    )


def _workers_alive(now: datetime.datetime) -> set[str]:
    seen_since = now - datetime.timedelta(seconds=settings.SKINCLINIC_WORKER_LOST_AFTER)
    return set(WorkerHeartbeat.objects.filter(seen_at__gte=seen_since).values_list("worker", flat=True))


@transaction.atomic
def predictions_sweep(*, now: datetime.datetime | None = None, broker_queue_empty: bool = False) -> list[int]:
    """Re-enqueue predictions stuck queued (lost message, broker down at commit) or running (dead worker).

    A running prediction goes back to the queue as soon as its worker has sent no heartbeat for
    SKINCLINIC_WORKER_LOST_AFTER seconds (a crash, not a long task: a live worker keeps beating while
    it runs). One claimed without a worker's name, and anything queued, is sent again once older than
    SKINCLINIC_PREDICTION_STUCK_AFTER (which exceeds the task's hard time limit); when the broker's queue
    is empty (`broker_queue_empty`), a prediction queued for SKINCLINIC_QUEUED_RESEND_AFTER has lost its
    message (a broker that was down at upload, or restarted empty) and is sent again at once. A running
    one that used all its attempts is failed. Heatmaps left pending by a fault are sent again too.
    Returns the ids of the predictions enqueued again.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.SKINCLINIC_PREDICTION_STUCK_AFTER)
    lost_cutoff = now - datetime.timedelta(seconds=settings.SKINCLINIC_WORKER_LOST_AFTER)
    alive = _workers_alive(now)
    resend = []
    running = (
        Prediction.objects.filter(status=RUNNING)
        .filter(Q(started_at__lt=cutoff) | (~Q(claimed_worker="") & Q(started_at__lt=lost_cutoff)))
        .select_related("image__lesion__patient__clinic")
    )
    for prediction in running:
        if prediction.started_at >= cutoff and prediction.claimed_worker in alive:
            continue  # its worker is alive: it is still running
        reason = "running past the timeout" if prediction.started_at < cutoff else "its worker stopped"
        if prediction.attempts >= settings.SKINCLINIC_PREDICTION_MAX_ATTEMPTS:
            _finish_failed(
                prediction,
                claimant=prediction.claimed_by,
                error=(f"The worker stopped {prediction.attempts} times while running this prediction; giving up."),
            )
        elif Prediction.objects.filter(
            id=prediction.id, status=RUNNING, claimed_by=prediction.claimed_by, started_at=prediction.started_at
        ).update(status=QUEUED, claimed_by="", claimed_worker="", queued_at=now):
            audit_record(
                actor=None,
                clinic=prediction.image.clinic,
                action=AuditAction.PREDICTION_REQUEUED,
                target=prediction,
                data={"reason": reason, "attempts": prediction.attempts},
            )
            resend.append(prediction.id)
    queued_cutoff = (
        now - datetime.timedelta(seconds=settings.SKINCLINIC_QUEUED_RESEND_AFTER) if broker_queue_empty else cutoff
    )
    stale_queued = Prediction.objects.filter(status=QUEUED, queued_at__lt=queued_cutoff)
    for prediction_id in list(stale_queued.values_list("id", flat=True)):
        if stale_queued.filter(id=prediction_id).update(queued_at=now):
            resend.append(prediction_id)
    predictions_enqueue_on_commit(resend)
    prediction_heatmaps_sweep(now=now)
    # Each run of a worker leaves one row; a day after its last beat it vouches for nothing.
    WorkerHeartbeat.objects.filter(seen_at__lt=now - datetime.timedelta(days=1)).delete()
    return resend


def prediction_heatmaps_sweep(*, now: datetime.datetime) -> list[int]:
    """Send again the heatmaps still pending after SKINCLINIC_PREDICTION_STUCK_AFTER (a task lost to a
    fault, or one that ran out of retries while a service was down); mark those out of attempts
    unavailable. Returns the ids sent again."""
    cutoff = now - datetime.timedelta(seconds=settings.SKINCLINIC_PREDICTION_STUCK_AFTER)
    stale = Prediction.objects.filter(status=SUCCEEDED, heatmap_status=HeatmapStatus.PENDING).filter(
        Q(heatmap_queued_at__lt=cutoff) | Q(heatmap_queued_at__isnull=True)
    )
    _heatmaps_give_up(stale.filter(heatmap_attempts__gte=settings.SKINCLINIC_HEATMAP_MAX_ATTEMPTS))
    ids = list(stale.values_list("id", flat=True))
    Prediction.objects.filter(id__in=ids).update(heatmap_queued_at=now)
    stale_classes = PredictionHeatmap.objects.filter(status=HeatmapStatus.PENDING, prediction__status=SUCCEEDED).filter(
        Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True)
    )
    _class_heatmaps_give_up(stale_classes.filter(attempts__gte=settings.SKINCLINIC_HEATMAP_MAX_ATTEMPTS))
    class_ids = list(stale_classes.values_list("id", flat=True))
    PredictionHeatmap.objects.filter(id__in=class_ids).update(queued_at=now)
    ids = sorted(
        set(ids) | set(PredictionHeatmap.objects.filter(id__in=class_ids).values_list("prediction_id", flat=True))
    )
    _heatmaps_enqueue_on_commit(ids)
    return ids


@transaction.atomic
def prediction_retry(*, actor, prediction: Prediction) -> Prediction:
    """Queue a failed prediction again with a fresh budget of attempts, at a clinician's request.

    Only a failed prediction of the model version the workers now run can be retried (a worker never
    claims another version's work); anything else raises ValidationError.
    """
    clinic = prediction.image.clinic
    permissions.require(actor, "record.write", clinic)
    if prediction.model_version != inference.model_version():
        raise ValidationError(
            f"This prediction was made by {prediction.model_version}, which the workers no "
            f"longer run; upload the image again to classify it with the current model."
        )
    previous_error = prediction.error
    now = timezone.now()
    fields = Prediction.retry_fields(now)
    if not Prediction.objects.filter(id=prediction.id, status=FAILED).update(**fields):
        raise ValidationError("Only a failed prediction can be retried; this one is already queued or done.")
    for name, value in fields.items():
        setattr(prediction, name, value)
    audit_record(
        actor=actor,
        clinic=clinic,
        action=AuditAction.PREDICTION_RETRY,
        target=prediction,
        data={"previous_error": previous_error, "model_version": prediction.model_version},
    )
    predictions_enqueue_on_commit([prediction.id])
    return prediction
