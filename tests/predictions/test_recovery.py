"""What a fault interrupts is finished later: heatmaps tracked in the database and sent again by the sweep,
and predictions stranded by a dead worker taken back as soon as its heartbeat stops."""

import datetime
from unittest import mock

import pytest
from celery import current_app
from django.test import TestCase
from django.utils import timezone

from predictions.models import HeatmapStatus, Prediction, PredictionStatus, WorkerHeartbeat
from predictions.models.predictions import class_heatmap_name, heatmap_name
from predictions.tasks import prediction_heatmap_task, prediction_run_task, predictions_sweep_task

from .conftest import stored_files
from .factories import PredictionFactory
from .faults import database_unreachable, files_under

LONG_AGO = datetime.timedelta(hours=1)


@pytest.fixture(autouse=True)
def tasks_in_process(monkeypatch):
    """The tasks a sweep or a run sends after its commit run here and now, and are listed in `sent`."""
    sent: list[tuple[str, object]] = []

    def heatmaps(args, **options):
        sent.append(("heatmap", args[0]))
        return prediction_heatmap_task.apply(args=args)

    monkeypatch.setattr(prediction_heatmap_task, "apply_async", heatmaps)
    monkeypatch.setattr(prediction_run_task, "delay", lambda prediction_id: sent.append(("run", prediction_id)))
    return sent


def classified(**fields) -> Prediction:
    """A prediction whose result was stored by a run, its heatmap not drawn yet."""
    prediction = PredictionFactory()
    with mock.patch.object(prediction_heatmap_task, "apply_async"):  # its heatmap task is lost
        prediction_run_task.apply(args=[prediction.pk], task_id="first-run")
    Prediction.objects.filter(pk=prediction.pk).update(**fields)
    prediction.refresh_from_db()
    return prediction


def sweep():
    with TestCase.captureOnCommitCallbacks(execute=True):
        predictions_sweep_task.apply()


@pytest.mark.django_db
def test_a_succeeded_prediction_starts_with_its_heatmap_pending_and_the_task_stores_it(fake_classifier, media_root):
    prediction = classified()
    assert prediction.heatmap_status == HeatmapStatus.PENDING and prediction.heatmap_queued_at is not None
    prediction_heatmap_task.apply(args=[[prediction.pk]])
    prediction.refresh_from_db()
    assert (prediction.heatmap_status, prediction.heatmap_attempts) == (HeatmapStatus.STORED, 1)
    assert prediction.heatmap.name == heatmap_name(prediction)


@pytest.mark.django_db
def test_the_sweep_sends_again_a_heatmap_whose_task_was_lost(fake_classifier, media_root, settings, tasks_in_process):
    prediction = classified(heatmap_queued_at=timezone.now() - LONG_AGO)  # its task never ran
    recent = classified()
    sweep()
    assert ("heatmap", [prediction.pk]) in tasks_in_process
    prediction.refresh_from_db()
    recent.refresh_from_db()
    assert prediction.heatmap_status == HeatmapStatus.STORED and prediction.heatmap
    assert recent.heatmap_status == HeatmapStatus.PENDING  # still within its time: left to its own task


@pytest.mark.django_db
def test_a_heatmap_that_fails_on_every_attempt_ends_unavailable_with_a_reason_and_no_file(
    fake_classifier, settings, disk_to_fill
):
    settings.SKINCLINIC_HEATMAP_MAX_ATTEMPTS = 3
    prediction = classified()
    full_disk = disk_to_fill()
    result = prediction_heatmap_task.apply(args=[[prediction.pk]])  # eager: its retries run at once
    assert result.failed()
    prediction.refresh_from_db()
    assert (prediction.heatmap_status, prediction.heatmap_attempts) == (HeatmapStatus.PENDING, 3)
    assert files_under(full_disk / "heatmaps") == []  # no empty file left by any attempt

    Prediction.objects.filter(pk=prediction.pk).update(heatmap_queued_at=timezone.now() - LONG_AGO)
    sweep()
    prediction.refresh_from_db()
    assert prediction.heatmap_status == HeatmapStatus.UNAVAILABLE and not prediction.heatmap
    assert "could not be drawn" in prediction.heatmap_error
    assert prediction.status == PredictionStatus.SUCCEEDED  # the result itself stands


@pytest.mark.django_db
def test_a_retried_heatmap_replaces_the_file_an_earlier_attempt_left_instead_of_adding_one(fake_classifier, media_root):
    prediction = classified()
    leftover = media_root / heatmap_name(prediction)
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"half a PNG from an attempt that crashed")
    prediction_heatmap_task.apply(args=[[prediction.pk]])
    prediction_heatmap_task.apply(args=[[prediction.pk]])
    concern = media_root / class_heatmap_name(prediction.pk, prediction.concern_class)
    assert stored_files(media_root / "heatmaps") == sorted([leftover, concern])
    assert leftover.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.django_db(transaction=True)
def test_a_heatmap_task_that_meets_a_database_outage_is_finished_by_the_sweep_once_it_is_back(
    fake_classifier, media_root
):
    prediction = classified()
    with database_unreachable():
        assert prediction_heatmap_task.apply(args=[[prediction.pk]]).failed()  # retried, then left to the sweep
    prediction.refresh_from_db()
    assert prediction.heatmap_status == HeatmapStatus.PENDING
    Prediction.objects.filter(pk=prediction.pk).update(heatmap_queued_at=timezone.now() - LONG_AGO)
    sweep()
    prediction.refresh_from_db()
    assert prediction.heatmap_status == HeatmapStatus.STORED


def running(worker: str, started_seconds_ago: float) -> Prediction:
    return PredictionFactory(
        status=PredictionStatus.RUNNING,
        claimed_by=f"task-of-{worker or 'nobody'}",
        claimed_worker=worker,
        attempts=1,
        started_at=timezone.now() - datetime.timedelta(seconds=started_seconds_ago),
    )


def heartbeat(worker: str, seconds_ago: float) -> None:
    seen = timezone.now() - datetime.timedelta(seconds=seconds_ago)
    WorkerHeartbeat.objects.create(worker=worker, started_at=seen - LONG_AGO, seen_at=seen)


@pytest.mark.django_db
def test_the_sweep_takes_back_a_running_prediction_as_soon_as_its_worker_stops_beating(settings, tasks_in_process):
    settings.SKINCLINIC_WORKER_LOST_AFTER = 30
    settings.SKINCLINIC_PREDICTION_STUCK_AFTER = 360
    heartbeat("dead@host/1/a", seconds_ago=31)
    heartbeat("busy@host/2/b", seconds_ago=2)
    stranded = running("dead@host/1/a", started_seconds_ago=35)  # far below the 360 s cutoff
    never_seen = running("gone@host/3/c", started_seconds_ago=35)  # died before its first heartbeat
    long_task = running("busy@host/2/b", started_seconds_ago=300)  # slow, but its worker is alive
    just_claimed = running("new@host/4/d", started_seconds_ago=5)
    unnamed = running("", started_seconds_ago=35)  # claimed before workers had names: the cutoff applies

    sweep()

    states = {
        p.pk: Prediction.objects.get(pk=p.pk).status for p in (stranded, never_seen, long_task, just_claimed, unnamed)
    }
    assert states == {
        stranded.pk: "queued",
        never_seen.pk: "queued",
        long_task.pk: "running",
        just_claimed.pk: "running",
        unnamed.pk: "running",
    }
    # Both go back in one message (a run claims its batch of queued predictions, oldest first).
    runs = [pk for kind, pk in tasks_in_process if kind == "run"]
    assert len(runs) == 1 and runs[0] in (stranded.pk, never_seen.pk)


@pytest.mark.django_db
def test_a_prediction_whose_message_the_broker_lost_is_sent_again_at_the_next_sweep(settings, tasks_in_process):
    settings.SKINCLINIC_QUEUED_RESEND_AFTER = 90
    lost = PredictionFactory(queued_at=timezone.now() - datetime.timedelta(seconds=120))  # broker down at upload
    waiting = PredictionFactory(queued_at=timezone.now() - datetime.timedelta(seconds=30))
    with current_app.connection_for_write() as broker:  # the broker restarted empty: nothing is on its way
        broker.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE).clear()
    sweep()
    sent = [pk for kind, pk in tasks_in_process if kind == "run"]
    assert sent == [lost.pk] and waiting.pk not in sent


@pytest.mark.django_db
def test_while_the_broker_still_holds_messages_a_queued_prediction_waits_for_them(settings, tasks_in_process):
    settings.SKINCLINIC_QUEUED_RESEND_AFTER = 90
    PredictionFactory(queued_at=timezone.now() - datetime.timedelta(seconds=120))  # a backlog, not a loss
    with current_app.connection_for_write() as broker:
        queue = broker.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE)
        queue.put({"a": "message still on its way"})
        try:
            sweep()
        finally:
            queue.clear()
            queue.close()
    assert [pk for kind, pk in tasks_in_process if kind == "run"] == []


@pytest.mark.django_db
def test_the_sweep_forgets_heartbeats_a_day_old():
    heartbeat("long-gone@host/1/a", seconds_ago=2 * 86400)
    heartbeat("alive@host/2/b", seconds_ago=1)
    sweep()
    assert list(WorkerHeartbeat.objects.values_list("worker", flat=True)) == ["alive@host/2/b"]
