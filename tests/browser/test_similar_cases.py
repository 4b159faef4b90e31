"""Similar reference cases on the result page, in Chromium on a desktop screen and a 390x844 phone: a photograph
classified by the real shipped model (through the worker's own service) shows six reference cases with their
thumbnails, diagnosis, how it was confirmed and similarity; without an index the panel gives the command that
builds one. Screenshots: var/screenshots/result-similar-cases*.png and phone-result-similar-cases.png."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.test import TestCase

from mlcore import Classifier
from predictions import inference
from predictions.models import Prediction
from predictions.services import image_upload, lesion_create, patient_create
from predictions.tasks import prediction_run_task
from tests.predictions.reference_set import reference_set_build, training_image

from .conftest import sign_in

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def shipped():
    return Classifier.load()


@pytest.fixture(scope="module")
def reference_set(shipped, tmp_path_factory):
    return reference_set_build(tmp_path_factory.mktemp("reference"), shipped)


@pytest.fixture
def classified(clinic_staff, shipped, reference_set, monkeypatch, settings, request):
    """A melanoma photograph of the reference set uploaded for a patient and classified by the real model."""
    monkeypatch.setattr(inference, "_classifier", shipped)
    monkeypatch.setattr(inference, "model_version", lambda: shipped.version)
    settings.SKINCLINIC_REFERENCE_DIR = str(reference_set[2])
    clinician = clinic_staff["clinician"]
    patient = patient_create(actor=clinician, clinic=clinic_staff["clinic"], mrn="SIM-0001", full_name="Sam Similar")
    lesion = lesion_create(actor=clinician, patient=patient, site="back", label="Pigmented lesion, upper back")
    _, photograph = training_image(reference_set, "mel")
    image, _ = image_upload(
        actor=clinician, lesion=lesion, file=ContentFile(photograph, name="lesion.jpg"), age=60, sex="male", site="back"
    )
    prediction = Prediction.objects.get(image=image)
    with TestCase.captureOnCommitCallbacks(execute=True):
        prediction_run_task.apply(args=[prediction.pk], task_id="browser-similar-1")
    prediction.refresh_from_db()
    assert prediction.status == "succeeded" and prediction.similar_cases.count() == 6
    return prediction


def _check_panel(page, prediction) -> None:
    panel = page.locator("[data-similar-cases]")
    assert panel.get_attribute("data-similar-cases") == "shown"
    tiles = panel.locator("[data-similar-case]")
    assert tiles.count() == 6
    text = " ".join(panel.inner_text().split())
    assert "Similar reference cases" in text and "for comparison only" in text
    for case in prediction.similar_cases.order_by("rank"):
        tile = panel.locator(f'[data-similar-case="{case.reference_id}"]')
        tile_text = " ".join(tile.inner_text().split())
        assert case.diagnosis_name in tile_text and f"Confirmed by {case.confirmed_by}" in tile_text
        assert f"Similarity {case.similarity:.2f}" in tile_text
    # Every thumbnail came through the clinic-checking view and decoded.
    widths = panel.locator("img").evaluate_all("imgs => imgs.map(img => img.complete && img.naturalWidth)")
    assert len(widths) == 6 and all(widths), widths
    # The model's result and the reviews come first; the cases sit beside them for comparison.
    assert page.locator("#result-title").bounding_box()["y"] < panel.bounding_box()["y"]


def test_the_result_page_shows_six_similar_reference_cases_on_a_desktop(page, classified, screenshot):
    sign_in(page, "dr.clinician")
    page.goto(f"/predictions/{classified.pk}/")
    _check_panel(page, classified)
    page.locator("[data-similar-cases]").scroll_into_view_if_needed()
    screenshot(page, "result-similar-cases")


def test_the_similar_cases_fit_a_390_px_phone(browser, live_server, classified, screenshot):
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        sign_in(page, "dr.reviewer")
        page.goto(f"/predictions/{classified.pk}/")
        _check_panel(page, classified)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        tiles = page.locator("[data-similar-case]")
        # Two tiles a row on a phone.
        assert tiles.nth(0).bounding_box()["y"] == tiles.nth(1).bounding_box()["y"] < tiles.nth(2).bounding_box()["y"]
        screenshot(page, "phone-result-similar-cases")
    finally:
        context.close()


def test_without_an_index_the_panel_says_how_to_build_one(page, classified, settings, tmp_path, screenshot):
    classified.similar_cases.all().delete()
    settings.SKINCLINIC_REFERENCE_DIR = str(tmp_path / "reference")
    sign_in(page, "dr.clinician")
    page.goto(f"/predictions/{classified.pk}/")
    panel = page.locator("[data-similar-cases]")
    assert panel.get_attribute("data-similar-cases") == "no_index"
    assert f"No reference index has been built for model {classified.model_version}." in panel.inner_text()
    command = page.locator("[data-build-command]").inner_text()
    assert command == f"python -m mlcore reference --data /path/to/HAM10000 --out {tmp_path / 'reference'}"
    screenshot(page, "result-similar-cases-no-index")
