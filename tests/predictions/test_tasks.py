"""The prediction task run in-process (Celery's apply) with the small test classifier behind the seam."""

import datetime

import pytest
from django.test import TestCase
from django.utils import timezone

from mlcore import MALIGNANT_CLASSES
from predictions import inference
from predictions.models import AuditEvent, HeatmapStatus, Prediction, PredictionStatus
from predictions.tasks import prediction_heatmap_task, prediction_run_task, predictions_sweep_task

from .conftest import stored_files
from .factories import PredictionFactory

pytestmark = pytest.mark.django_db


def run(prediction, task_id="task-1"):
    """Deliver the prediction's task message, as a worker would, and what it sends after its commit."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return prediction_run_task.apply(args=[prediction.pk], task_id=task_id)


@pytest.fixture(autouse=True)
def heatmaps_in_process(monkeypatch):
    """The heatmap task a run sends after its commit runs here and now."""
    monkeypatch.setattr(
        prediction_heatmap_task, "apply_async", lambda args, **options: prediction_heatmap_task.apply(args=args)
    )


def successes(prediction):
    return AuditEvent.objects.filter(action="prediction.succeeded", target_id=str(prediction.pk)).count()


def test_a_queued_prediction_is_classified_and_its_result_stored(fake_classifier, media_root):
    prediction = PredictionFactory()
    run(prediction)

    prediction.refresh_from_db()
    assert prediction.status == PredictionStatus.SUCCEEDED
    with prediction.image.file.open("rb") as fh:
        from mlcore import LesionInput

        [expected] = fake_classifier.predict([LesionInput(fh.read(), age=50.0, sex="female", site="back")])
    assert prediction.probabilities == pytest.approx(expected.probabilities)
    assert prediction.top_class == expected.top_class
    assert prediction.malignancy_risk == pytest.approx(expected.malignancy_risk)
    assert prediction.attempts == 1 and prediction.error == "" and prediction.claimed_by == ""
    assert prediction.started_at <= prediction.finished_at
    assert successes(prediction) == 1


def test_the_heatmaps_of_the_top_class_and_the_class_of_concern_follow_the_result_in_one_pass(
    fake_classifier, media_root
):
    prediction = PredictionFactory()
    run(prediction)
    prediction.refresh_from_db()
    assert prediction.heatmap.name and (media_root / prediction.heatmap.name).read_bytes()[:4] == b"\x89PNG"
    concern = max(MALIGNANT_CLASSES, key=lambda c: prediction.probabilities[c])
    assert concern != prediction.top_class
    [evidence] = prediction.class_heatmaps.all()
    assert (evidence.class_code, evidence.status) == (concern, HeatmapStatus.STORED)
    assert (media_root / evidence.file.name).read_bytes()[:4] == b"\x89PNG"
    assert evidence.file.name != prediction.heatmap.name
    # One call of the model draws both: the top class's and the class of concern's.
    assert (fake_classifier.batches, fake_classifier.heatmap_batches) == ([1], [2])


def test_a_repeated_heatmap_task_stores_each_heatmap_once(fake_classifier, media_root):
    prediction = PredictionFactory()
    run(prediction)
    prediction_heatmap_task.apply(args=[[prediction.pk]])
    prediction.refresh_from_db()
    assert len(stored_files(media_root / "heatmaps")) == 2  # the top class's and the class of concern's
    assert fake_classifier.heatmap_batches == [2]


def test_a_redelivered_task_for_a_finished_prediction_does_nothing(fake_classifier):
    prediction = PredictionFactory()
    run(prediction, task_id="task-1")
    prediction.refresh_from_db()
    finished = (prediction.finished_at, prediction.probabilities, prediction.heatmap.name)

    run(prediction, task_id="task-1")  # the same message again
    run(prediction, task_id="task-2")  # a duplicate message (e.g. from the sweep)

    prediction.refresh_from_db()
    assert (prediction.finished_at, prediction.probabilities, prediction.heatmap.name) == finished
    assert prediction.attempts == 1
    assert successes(prediction) == 1
    assert fake_classifier.batches == [1]


def test_a_prediction_held_by_another_running_task_is_left_alone(fake_classifier):
    started = timezone.now()
    prediction = PredictionFactory(
        status=PredictionStatus.RUNNING, claimed_by="task-elsewhere", attempts=1, started_at=started
    )
    run(prediction, task_id="task-2")
    prediction.refresh_from_db()
    assert (prediction.status, prediction.claimed_by, prediction.started_at) == ("running", "task-elsewhere", started)
    assert fake_classifier.batches == []


def test_a_message_redelivered_after_its_worker_died_takes_its_prediction_back_and_finishes_it(fake_classifier):
    # The worker that ran task-1 was killed mid-task: the row is still RUNNING under task-1's claim.
    prediction = PredictionFactory(
        status=PredictionStatus.RUNNING, claimed_by="task-1", attempts=1, started_at=timezone.now()
    )
    run(prediction, task_id="task-1")
    prediction.refresh_from_db()
    assert prediction.status == PredictionStatus.SUCCEEDED
    assert prediction.attempts == 2
    assert successes(prediction) == 1


def test_a_prediction_whose_worker_died_on_every_attempt_is_failed(settings, fake_classifier):
    settings.SKINCLINIC_PREDICTION_MAX_ATTEMPTS = 3
    prediction = PredictionFactory(
        status=PredictionStatus.RUNNING, claimed_by="task-1", attempts=3, started_at=timezone.now()
    )
    run(prediction, task_id="task-1")
    prediction.refresh_from_db()
    assert prediction.status == PredictionStatus.FAILED
    assert "worker stopped 3 times" in prediction.error
    assert fake_classifier.batches == []


def test_queued_predictions_are_run_as_one_batch_by_the_first_task(fake_classifier, settings):
    settings.SKINCLINIC_PREDICTION_BATCH_SIZE = 4
    predictions = [PredictionFactory() for _ in range(6)]

    run(predictions[0], task_id="task-1")
    statuses = [Prediction.objects.get(pk=p.pk).status for p in predictions]
    assert statuses.count(PredictionStatus.SUCCEEDED) == 4 and statuses[0] == PredictionStatus.SUCCEEDED
    assert fake_classifier.batches == [4]

    for index, prediction in enumerate(predictions[1:], start=2):  # their own messages arrive later
        run(prediction, task_id=f"task-{index}")
    assert set(Prediction.objects.values_list("status", flat=True)) == {PredictionStatus.SUCCEEDED}
    assert fake_classifier.batches == [4, 2]
    assert AuditEvent.objects.filter(action="prediction.succeeded").count() == 6


def test_predictions_for_another_model_version_are_not_batched_in(fake_classifier):
    mine = PredictionFactory()
    other = PredictionFactory(model_version="someone-else:2.0")
    run(mine)
    run(other, task_id="task-2")
    assert Prediction.objects.get(pk=other.pk).status == PredictionStatus.QUEUED
    assert fake_classifier.batches == [1]


def test_a_corrupt_stored_image_fails_once_with_a_clear_message_and_spares_its_batch(fake_classifier, media_root):
    good = PredictionFactory()
    bad = PredictionFactory()
    with bad.image.file.storage.open(bad.image.file.name, "wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0 this is not a jpeg any more")

    run(bad)
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == PredictionStatus.FAILED
    assert bad.error.startswith("The stored image could not be read by the model:")
    assert bad.attempts == 1
    assert good.status == PredictionStatus.SUCCEEDED
    assert AuditEvent.objects.filter(action="prediction.failed", target_id=str(bad.pk)).count() == 1


def storage_failing(monkeypatch, times: int):
    """Make reads from file storage fail `times` times (an outage of the disk or bucket)."""
    from django.core.files.storage import FileSystemStorage

    real_open = FileSystemStorage._open
    calls = {"n": 0}

    def flaky_open(self, name, mode="rb"):
        calls["n"] += 1
        if calls["n"] <= times:
            raise OSError("storage timed out")
        return real_open(self, name, mode)

    monkeypatch.setattr(FileSystemStorage, "_open", flaky_open)


def test_a_transient_error_is_retried_with_backoff_and_then_succeeds(fake_classifier, monkeypatch, settings):
    settings.SKINCLINIC_PREDICTION_RETRY_BACKOFF = 7
    prediction = PredictionFactory()
    countdowns = []
    original_retry = prediction_run_task.retry

    def recording_retry(*args, **kwargs):
        countdowns.append(kwargs.get("countdown"))
        return original_retry(*args, **kwargs)

    storage_failing(monkeypatch, times=1)
    monkeypatch.setattr(prediction_run_task, "retry", recording_retry)
    run(prediction)  # eager apply runs the retry at once

    prediction.refresh_from_db()
    assert prediction.status == PredictionStatus.SUCCEEDED
    assert prediction.attempts == 2 and prediction.error == ""
    assert countdowns == [7]
    assert AuditEvent.objects.filter(action="prediction.released", target_id=str(prediction.pk)).count() == 1


def test_a_prediction_that_keeps_failing_transiently_fails_after_the_attempt_cap(
    fake_classifier, monkeypatch, settings
):
    settings.SKINCLINIC_PREDICTION_MAX_ATTEMPTS = 3
    prediction = PredictionFactory()
    storage_failing(monkeypatch, times=100)
    run(prediction)

    prediction.refresh_from_db()
    assert prediction.status == PredictionStatus.FAILED
    assert prediction.attempts == 3
    assert prediction.error == "Gave up after 3 attempts; the last error: OSError: storage timed out"


def test_a_model_that_cannot_be_loaded_counts_as_a_transient_failure(monkeypatch, settings):
    settings.SKINCLINIC_PREDICTION_MAX_ATTEMPTS = 2
    prediction = PredictionFactory()

    def no_model(version=None):
        from mlcore import ModelError

        raise ModelError("mlcore/shipped: not a model directory")

    monkeypatch.setattr(inference, "classifier_get", no_model)
    run(prediction)
    prediction.refresh_from_db()
    assert prediction.status == PredictionStatus.FAILED
    assert "ModelError: mlcore/shipped: not a model directory" in prediction.error


def test_sweep_requeues_predictions_stuck_running_past_the_timeout(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    from predictions import tasks

    settings.SKINCLINIC_PREDICTION_STUCK_AFTER = 600
    long_ago = timezone.now() - datetime.timedelta(seconds=601)
    stuck = PredictionFactory(status=PredictionStatus.RUNNING, claimed_by="dead-task", attempts=1, started_at=long_ago)
    alive = PredictionFactory(
        status=PredictionStatus.RUNNING, claimed_by="live-task", attempts=1, started_at=timezone.now()
    )
    sent = []
    monkeypatch.setattr(tasks.prediction_run_task, "delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_sweep_task.apply().get() == 1

    stuck.refresh_from_db()
    alive.refresh_from_db()
    assert (stuck.status, stuck.claimed_by) == (PredictionStatus.QUEUED, "")
    assert alive.status == PredictionStatus.RUNNING
    assert sent == [stuck.pk]
    assert AuditEvent.objects.filter(action="prediction.requeued", target_id=str(stuck.pk)).count() == 1


def test_sweep_resends_predictions_left_queued_and_fails_those_out_of_attempts(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    from predictions import tasks

    settings.SKINCLINIC_PREDICTION_STUCK_AFTER = 600
    settings.SKINCLINIC_PREDICTION_MAX_ATTEMPTS = 3
    long_ago = timezone.now() - datetime.timedelta(seconds=900)
    lost = PredictionFactory(queued_at=long_ago)  # its message was lost, or the broker was down at commit
    fresh = PredictionFactory()
    exhausted = PredictionFactory(status=PredictionStatus.RUNNING, claimed_by="t", attempts=3, started_at=long_ago)
    sent = []
    monkeypatch.setattr(tasks.prediction_run_task, "delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        predictions_sweep_task.apply()

    assert sent == [lost.pk]
    lost.refresh_from_db()
    assert lost.status == PredictionStatus.QUEUED and lost.queued_at > long_ago
    assert Prediction.objects.get(pk=fresh.pk).status == PredictionStatus.QUEUED
    exhausted.refresh_from_db()
    assert exhausted.status == PredictionStatus.FAILED and "giving up" in exhausted.error


def test_stored_heatmaps_are_the_only_files_a_run_adds(fake_classifier, media_root):
    prediction = PredictionFactory()
    before = set(stored_files(media_root))
    run(prediction)
    added = set(stored_files(media_root)) - before
    prediction.refresh_from_db()
    assert added == {media_root / prediction.heatmap.name} | {
        media_root / h.file.name for h in prediction.class_heatmaps.all()
    }


def test_storing_a_batch_takes_the_same_queries_whatever_its_size(fake_classifier, settings, monkeypatch):
    """Results, their audit records, triage and webhook events are written per batch, not per image."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from predictions.models import ReviewCase, WebhookDelivery, WebhookEndpoint

    from .factories import LesionFactory

    settings.SKINCLINIC_UNCERTAIN_TOP_PROBABILITY_BELOW = 1.01  # every result is uncertain: every image is triaged
    monkeypatch.setattr(prediction_heatmap_task, "apply_async", lambda args, **options: None)
    lesion = LesionFactory()
    WebhookEndpoint.objects.create(
        clinic=lesion.patient.clinic,
        url="https://ehr.example.org/hook",
        events=["prediction.succeeded"],
        secret="s" * 32,
        created_by=lesion.created_by,
    )

    def queries_storing(count: int, task_id: str) -> int:
        batch = [PredictionFactory(image__lesion=lesion) for _ in range(count)]
        with CaptureQueriesContext(connection) as queries:
            run(batch[0], task_id=task_id)
        assert set(Prediction.objects.filter(pk__in=[p.pk for p in batch]).values_list("status", flat=True)) == {
            PredictionStatus.SUCCEEDED
        }
        return len(queries)

    assert queries_storing(2, "task-small") == queries_storing(6, "task-large")
    assert ReviewCase.objects.count() == 8
    assert WebhookDelivery.objects.count() == 8
    assert AuditEvent.objects.filter(action="review_case.open").count() == 8
