"""End to end on real services: upload -> PostgreSQL -> Redis -> a Celery worker running the real model."""

import io
import os
import signal

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from PIL import Image

from predictions import inference
from predictions.models import AuditEvent, Prediction, PredictionStatus
from predictions.services import image_upload, lesion_create
from tests.integration import sample_images, wait_for, wait_for_predictions, wait_for_running

pytestmark = pytest.mark.integration


def upload_all(staff, images: list[bytes], name="photo.jpg") -> list[int]:
    """Upload in one transaction, so the worker finds them all queued at once; returns prediction ids."""
    ids = []
    with transaction.atomic():
        for data in images:
            image, _ = image_upload(
                actor=staff.clinician,
                lesion=lesion_create(actor=staff.clinician, patient=staff.patient, site="back"),
                file=SimpleUploadedFile(name, data),
            )
            ids.append(image.predictions.get().pk)
    return ids


def assert_each_succeeded_exactly_once(ids):
    predictions = wait_for_predictions(ids)
    assert [p.status for p in predictions] == [PredictionStatus.SUCCEEDED] * len(ids), [p.error for p in predictions]
    for prediction in predictions:
        assert AuditEvent.objects.filter(action="prediction.succeeded", target_id=str(prediction.pk)).count() == 1
        assert Prediction.objects.filter(image_id=prediction.image_id).count() == 1
    return predictions


def test_an_upload_is_classified_by_a_real_worker_exactly_as_mlcore_classifies_it(staff, start_worker, media_root):
    from mlcore import Classifier, LesionInput

    worker = start_worker()
    # PNG is stored losslessly, so the worker's model sees exactly the pixels uploaded.
    original = Image.open(io.BytesIO(sample_images(1)[0]))
    png = io.BytesIO()
    original.save(png, "PNG")
    image, created = image_upload(
        actor=staff.clinician,
        lesion=staff.lesion,
        age=55,
        sex="male",
        site="back",
        file=SimpleUploadedFile("a.png", png.getvalue()),
    )
    assert created
    worker.wait_until_model_loaded()

    [prediction] = assert_each_succeeded_exactly_once([image.predictions.get().pk])

    reference = Classifier.load(settings.SKINCLINIC_MODEL_DIR)
    assert prediction.model_version == reference.version == inference.model_version()
    [expected] = reference.predict([LesionInput(png.getvalue(), age=55.0, sex="male", site="back")])
    assert prediction.probabilities.keys() == expected.probabilities.keys()
    for name, probability in expected.probabilities.items():
        assert prediction.probabilities[name] == pytest.approx(probability, abs=1e-5)
    assert prediction.top_class == expected.top_class
    assert prediction.malignancy_risk == pytest.approx(expected.malignancy_risk, abs=1e-5)
    assert prediction.attempts == 1
    prediction = wait_for(
        lambda: Prediction.objects.exclude(heatmap="").filter(pk=prediction.pk).first(), "the prediction's heatmap"
    )
    with Image.open(media_root / prediction.heatmap.name) as heatmap:
        assert heatmap.format == "PNG"


def test_a_pool_process_killed_mid_task_is_replaced_and_each_prediction_completes_once(staff, start_worker):
    worker = start_worker(PREDICTION_BATCH_SIZE=64)
    child = worker.wait_until_model_loaded()
    seen = len(worker.lines)
    ids = upload_all(staff, sample_images(48))

    wait_for_running()
    os.kill(child, signal.SIGKILL)  # the pool process dies mid-batch; the worker itself lives on
    worker.wait_until_model_loaded(after=seen)  # a new pool process, which gets the message redelivered

    predictions = assert_each_succeeded_exactly_once(ids)
    attempts = [p.attempts for p in predictions]
    assert set(attempts) <= {1, 2} and 2 in attempts, "the kill should have interrupted a running batch"
    assert worker.process.poll() is None


def test_a_worker_killed_with_sigkill_mid_task_is_recovered_after_a_restart(staff, start_worker):
    # Short limits so that the sweep takes back what the dead worker held within the test's patience.
    limits = {
        "CELERY_TASK_SOFT_TIME_LIMIT": 45,
        "CELERY_TASK_TIME_LIMIT": 50,
        "PREDICTION_STUCK_AFTER_SECONDS": 55,
        "PREDICTION_SWEEP_INTERVAL_SECONDS": 2,
        "PREDICTION_BATCH_SIZE": 64,
    }
    first = start_worker(**limits)
    first.wait_until_model_loaded()
    ids = upload_all(staff, sample_images(48))

    wait_for_running()
    first.kill()
    held = set(Prediction.objects.filter(status=PredictionStatus.RUNNING).values_list("id", flat=True))
    assert held, "the worker should have died holding predictions"

    second = start_worker(beat=True, **limits)
    predictions = assert_each_succeeded_exactly_once(ids)
    assert {p.pk for p in predictions if p.attempts == 2} == held
    assert AuditEvent.objects.filter(action="prediction.requeued").count() == len(held)
    assert second.process.poll() is None
