"""Recovery from a whole worker's crash with the default settings: what a clinician at the result page waits."""

import time

import pytest

from predictions.models import AuditEvent, Prediction, PredictionStatus, WorkerHeartbeat
from tests.integration import sample_images, wait_for, wait_for_predictions, wait_for_running

from .test_worker_pipeline import upload_all

pytestmark = pytest.mark.integration

# The promise: done within this long of a worker coming back, whatever the task's time limit.
RECOVERY_LIMIT_SECONDS = 120


def test_predictions_stranded_by_a_killed_worker_are_done_within_two_minutes_of_a_worker_coming_back(
    staff, start_worker
):
    first = start_worker()  # the default settings: 300 s hard limit, 60 s sweep, 10 s heartbeat
    first.wait_until_model_loaded()
    wait_for(lambda: WorkerHeartbeat.objects.exists(), "the worker's first heartbeat", timeout=60)
    ids = upload_all(staff, sample_images(40))

    wait_for_running()
    first.kill()  # SIGKILL to the whole worker: no shutdown, no acknowledgement, no last heartbeat
    held = set(Prediction.objects.filter(status=PredictionStatus.RUNNING).values_list("id", flat=True))
    assert held, "the worker should have died holding predictions"

    came_back = time.monotonic()
    second = start_worker(beat=True)
    predictions = wait_for_predictions(ids, timeout=RECOVERY_LIMIT_SECONDS + 60)
    recovered_in = time.monotonic() - came_back

    assert [p.status for p in predictions] == [PredictionStatus.SUCCEEDED] * len(ids), [p.error for p in predictions]
    requeued = AuditEvent.objects.filter(action="prediction.requeued", data__reason="its worker stopped")
    assert requeued.count() == len(held)
    print(f"\nworker SIGKILL: {len(held)} stranded predictions done {recovered_in:.0f} s after a worker came back")
    assert recovered_in < RECOVERY_LIMIT_SECONDS
    assert second.process.poll() is None
