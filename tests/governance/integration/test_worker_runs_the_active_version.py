"""On real services (PostgreSQL, Redis, a Celery worker process): the worker loads the active registry
version at start, and after another version is activated it classifies new uploads with that one."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictions.models import ModelVersion, PredictionStatus
from predictions.services import image_upload
from predictions.services.registry import model_version_activate, model_version_register
from tests.integration import sample_images, wait_for_predictions

pytestmark = pytest.mark.integration


def _classify_upload(staff, data: bytes, name: str):
    image, created = image_upload(
        actor=staff.clinician,
        lesion=staff.lesion,
        age=60,
        sex="female",
        site="back",
        file=SimpleUploadedFile(name, data),
    )
    assert created
    [prediction] = wait_for_predictions([image.predictions.get().pk])
    assert prediction.status == PredictionStatus.SUCCEEDED, prediction.error
    return image, prediction


def test_the_worker_runs_the_active_version_and_switches_when_another_is_activated(staff, start_worker, two_model_dirs):
    from mlcore import Classifier, LesionInput

    first, _ = model_version_register(actor=None, model_dir=two_model_dirs[0])
    second, _ = model_version_register(actor=None, model_dir=two_model_dirs[1])
    assert first.is_active and not second.is_active
    worker = start_worker()
    worker.wait_for(rf"model {first.identifier} loaded in worker process")
    photos = sample_images(2)

    _, before = _classify_upload(staff, photos[0], "first.jpg")
    assert before.model_version == first.identifier

    model_version_activate(actor=None, model_version=ModelVersion.objects.get(pk=second.pk))
    image, after = _classify_upload(staff, photos[1], "second.jpg")
    assert after.model_version == second.identifier
    with image.file.open("rb") as fh:
        [expected] = Classifier.load(two_model_dirs[1]).predict(
            [LesionInput(fh.read(), age=60.0, sex="female", site="back")]
        )
    assert after.top_class == expected.top_class
    assert after.probabilities == pytest.approx(expected.probabilities, abs=1e-4)
