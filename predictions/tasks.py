"""Celery tasks: take ids, call a service, decide whether to retry. The work itself lives in services."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

from celery import shared_task
from celery.signals import worker_init, worker_process_init, worker_ready
from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone

from . import inference, services
from .models import Prediction, PredictionHeatmap

logger = logging.getLogger(__name__)

# Heatmap messages yield to prediction messages on brokers with priorities (Redis: 0 is served first).
HEATMAP_PRIORITY = 9


# This run of the worker, named in its main process before the pool forks, so that every pool process
# claims work in its name and the sweep can tell a crashed worker (no heartbeat) from a busy one.
WORKER_NAME = ""


@worker_init.connect
def _name_this_worker_run(sender=None, **kwargs) -> None:
    global WORKER_NAME
    WORKER_NAME = f"{getattr(sender, 'hostname', 'worker')}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


@worker_ready.connect
def _start_heartbeat(sender=None, **kwargs) -> None:
    if not WORKER_NAME:
        return
    threading.Thread(
        target=_heartbeat_forever, args=(WORKER_NAME, timezone.now()), name="skinclinic-heartbeat", daemon=True
    ).start()
    # A worker that comes back takes over what a crashed one left running as soon as the dead one's
    # heartbeat counts as lost, instead of waiting for beat's next sweep.
    predictions_sweep_task.apply_async(countdown=settings.SKINCLINIC_WORKER_LOST_AFTER + 1)


def _heartbeat_forever(worker: str, started_at) -> None:
    while True:
        try:
            services.worker_heartbeat(worker=worker, started_at=started_at)
        except Exception as exc:  # the database is down: the sweep cannot run either; beat again later
            logger.warning("could not record the heartbeat of %s: %r", worker, exc)
        finally:
            # No connection stays open between beats: a pool process forked meanwhile must not inherit one.
            connections.close_all()
        time.sleep(settings.SKINCLINIC_WORKER_HEARTBEAT_SECONDS)


@worker_process_init.connect
def _load_model_in_worker_process(**kwargs) -> None:
    # Runs in each pool process after the fork: TensorFlow must never be loaded in the parent.
    if settings.SKINCLINIC_WARM_MODEL_ON_WORKER_START:
        try:
            inference.classifier_warm_up()
        except Exception:
            logger.exception("could not load the model at worker start; tasks will retry loading it")


def _backoff(attempts: int) -> int:
    return settings.SKINCLINIC_PREDICTION_RETRY_BACKOFF * 2 ** max(attempts - 1, 0)


@shared_task(bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def prediction_run_task(self, prediction_id: int) -> None:
    """Run the prediction, batched with others waiting for the same model; a no-op if already handled."""
    claimant = self.request.id
    try:
        # The classifier must be the version claimed for, even if another one is activated meanwhile.
        version = inference.model_version()
        predictions = services.prediction_claim(
            prediction_id=prediction_id,
            claimant=claimant,
            model_version=version,
            limit=settings.SKINCLINIC_PREDICTION_BATCH_SIZE,
            worker=WORKER_NAME,
        )
    except DatabaseError as exc:  # nothing claimed; the sweep resends if these retries run out
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries + 1), max_retries=5) from exc
    if not predictions:
        return
    try:
        services.prediction_run(
            predictions=predictions, classifier=inference.classifier_get(version), claimant=claimant
        )
    except Exception as exc:
        # Storage, database, model loading, a time limit: worth another attempt while attempts remain.
        logger.warning("predictions %s failed transiently: %r", [p.id for p in predictions], exc)
        try:
            requeued = services.prediction_release(
                predictions=predictions, claimant=claimant, error=f"{type(exc).__name__}: {exc}"
            )
        except DatabaseError as db_error:
            # The database is down, so the claim cannot be given back: run again under the same task id,
            # which still holds the claim (the next claim takes it back as a new attempt).
            raise self.retry(exc=exc, countdown=_backoff(min(self.request.retries + 1, 3))) from db_error
        if requeued:
            attempts = max(p.attempts for p in predictions if p.id in requeued)
            raise self.retry(args=[requeued[0]], countdown=_backoff(attempts), exc=exc) from exc


@shared_task(bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def prediction_heatmap_task(self, prediction_ids: list[int]) -> None:
    """Store the heatmaps of succeeded predictions; a no-op for those that have one.

    Any error, the database's included, is retried with backoff up to the attempt cap; past it, or if the
    message is lost, the sweep sends the heatmap again (its state is kept in the database).
    """
    try:
        predictions = services.prediction_heatmaps_claim(prediction_ids=prediction_ids)
        class_heatmaps = services.prediction_class_heatmaps_claim(prediction_ids=prediction_ids)
        by_version: dict[str, tuple[list[Prediction], list[PredictionHeatmap]]] = {}
        for prediction in predictions:
            by_version.setdefault(prediction.model_version, ([], []))[0].append(prediction)
        for heatmap in class_heatmaps:
            by_version.setdefault(heatmap.prediction.model_version, ([], []))[1].append(heatmap)
        # Each heatmap comes from the model version that made the prediction, active or not.
        for version, (group, classes) in by_version.items():
            services.prediction_heatmaps_store(
                predictions=group, class_heatmaps=classes, classifier=inference.classifier_get(version)
            )
    except Exception as exc:
        logger.warning("heatmaps of predictions %s failed: %r", prediction_ids, exc)
        raise self.retry(
            exc=exc,
            countdown=_backoff(self.request.retries + 1),
            priority=HEATMAP_PRIORITY,
            max_retries=settings.SKINCLINIC_HEATMAP_MAX_ATTEMPTS - 1,
        ) from exc


@shared_task
def predictions_sweep_task() -> int:
    """Re-enqueue predictions stuck queued or running (run by celery beat); returns how many."""
    from .services.registry import predictions_retarget_to_active

    predictions_retarget_to_active()  # work queued for a version no longer active moves to the active one
    return len(services.predictions_sweep(broker_queue_empty=_broker_queue_empty()))


def _broker_queue_empty() -> bool:
    """Whether the task queue holds no message at all (False when the broker cannot say)."""
    from celery import current_app
    from kombu.exceptions import ChannelError

    try:
        with current_app.connection_for_write() as broker:
            declared = broker.default_channel.queue_declare(queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=True)
    except ChannelError:  # no such queue (a broker restarted empty): no message in it either
        return True
    except Exception as exc:
        logger.warning("could not count the messages in the broker's queue: %r", exc)
        return False
    return declared.message_count == 0
