"""Similar reference cases on real services: a Celery worker running the shipped model finds and stores them
with the result, from the index at its REFERENCE_DIR."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictions.models import PredictionStatus
from predictions.services import image_upload
from tests.integration import sample_images, wait_for_predictions

from ..reference_set import reference_set_build, training_image

pytestmark = pytest.mark.integration


def test_a_real_worker_stores_six_similar_cases_with_the_result(staff, start_worker, tmp_path):
    from mlcore import Classifier

    reference = reference_set_build(tmp_path / "reference", Classifier.load())
    worker = start_worker(REFERENCE_DIR=str(reference[2]))
    mel_id, mel = training_image(reference, "mel")
    bcc_id, bcc = training_image(reference, "bcc")
    ids = []
    for data in (mel, bcc):
        image, _ = image_upload(actor=staff.clinician, lesion=staff.lesion, file=SimpleUploadedFile("a.jpg", data))
        ids.append(image.predictions.get().pk)
    worker.wait_until_model_loaded()

    for prediction, reference_id in zip(wait_for_predictions(ids), (mel_id, bcc_id)):
        assert prediction.status == PredictionStatus.SUCCEEDED, prediction.error
        cases = list(prediction.similar_cases.order_by("rank"))
        assert [c.rank for c in cases] == [1, 2, 3, 4, 5, 6]
        assert cases[0].reference_id == reference_id and cases[0].similarity > 0.99
        assert len({c.reference_id for c in cases}) == 6


def test_a_real_worker_without_an_index_finishes_the_result_without_similar_cases(staff, start_worker, tmp_path):
    worker = start_worker(REFERENCE_DIR=str(tmp_path / "no-index"))
    image, _ = image_upload(
        actor=staff.clinician, lesion=staff.lesion, file=SimpleUploadedFile("a.jpg", sample_images(1)[0])
    )
    worker.wait_until_model_loaded()
    [prediction] = wait_for_predictions([image.predictions.get().pk])
    assert prediction.status == PredictionStatus.SUCCEEDED and prediction.top_class
    assert not prediction.similar_cases.exists()
