"""A clinician's day in a real browser against a live server, PostgreSQL, Redis and a real Celery worker that
runs the configured model: sign in, register a patient, upload a photograph, watch the status reach done,
read the chart and heatmap, and have a reviewer confirm it. Saves a screenshot of each main page.
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone

from predictions import inference
from predictions.models import Patient, Prediction, Review
from tests.integration import _unavailable, sample_images

from .conftest import sign_in, sign_out

pytestmark = pytest.mark.integration

WORKER_TIMEOUT_S = 420  # a cold worker loads TensorFlow and the model first


@pytest.fixture
def configured_model() -> str:
    from mlcore import ModelError

    try:
        return inference.model_version()
    except ModelError as exc:
        _unavailable(f"no model to run: {exc} (ship one in mlcore/shipped or set MODEL_DIR)")


def test_a_clinician_uploads_a_photograph_and_a_reviewer_confirms_the_result(
    page, live_server, clinic_staff, real_services, start_worker, configured_model, screenshot, tmp_path
):
    worker = start_worker()  # loads the model while the clinician signs in and registers the patient
    photograph = tmp_path / "lesion.jpg"
    photograph.write_bytes(sample_images(1)[0])

    page.goto("/accounts/login/")
    screenshot(page, "sign-in")
    sign_in(page, "dr.clinician")
    screenshot(page, "dashboard-empty")

    # Register a patient, correcting a mistake on the way.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="New patient").click()
    page.get_by_label("Full name").fill("Eleanor Example")
    page.get_by_label("Date of birth").fill("1961-09-30")
    page.get_by_label("Sex").select_option("female")
    page.get_by_role("button", name="Register patient").click()
    assert "Enter the medical record number." in page.locator("[data-error-summary]").inner_text()
    page.get_by_label("Medical record number (MRN)").fill("E2E-0042")
    page.get_by_role("button", name="Register patient").click()
    page.wait_for_selector("h1:has-text('Eleanor Example')")
    patient = Patient.objects.get(mrn="E2E-0042")

    # Upload a photograph of a new lesion.
    page.get_by_role("link", name="Upload images").first.click()
    page.get_by_label("Start following a new lesion").check()
    page.get_by_label("Anatomic site of the new lesion").select_option("back")
    page.get_by_label("Label of the new lesion").fill("Left scapula")
    page.get_by_label("Date captured").fill("2024-06-12")
    assert "62 years" in page.locator("[data-age-hint]").inner_text()
    page.locator("input[type=file]").set_input_files(str(photograph))
    assert page.locator("#chosen-files li").count() == 1
    screenshot(page, "upload")
    page.get_by_role("button", name="Upload and classify").click()
    page.wait_for_url(re.compile(r"/predictions/\d+/$"))
    prediction_id = int(re.search(r"/predictions/(\d+)/$", page.url).group(1))
    assert Prediction.objects.get(pk=prediction_id).image.lesion.patient == patient

    # The status moves on by itself until the result is there.
    status = page.locator("#prediction-result")
    assert status.get_attribute("data-status") in ("queued", "running", "succeeded")
    page.evaluate("window.__notReloaded = true")
    screenshot(page, "prediction-pending")
    try:
        page.wait_for_selector(
            '#prediction-result[data-status="succeeded"], #prediction-result[data-status="failed"]',
            timeout=WORKER_TIMEOUT_S * 1000,
        )
    except Exception:
        pytest.fail(f"the result never came; the worker said:\n{worker.output[-6000:]}")
    assert page.evaluate("window.__notReloaded") is True
    prediction = Prediction.objects.get(pk=prediction_id)
    assert prediction.status == "succeeded", prediction.error
    assert prediction.model_version == configured_model
    assert page.locator("table[data-chart] tbody tr").count() == 7
    assert page.locator("[data-risk-band]").get_attribute("data-risk-band") in ("low", "intermediate", "high")
    assert page.get_by_text("Decision support only — not a diagnosis.").first.is_visible()
    assert configured_model in page.locator("[data-model-version]").inner_text()
    # The worker draws the heatmap after storing the probabilities; the image section picks it up by itself.
    page.wait_for_selector('#prediction-viewer[data-heatmap-state="ready"]', timeout=WORKER_TIMEOUT_S * 1000)
    prediction.refresh_from_db()
    assert prediction.heatmap
    page.wait_for_function("document.querySelector('img[data-heatmap]')?.naturalWidth > 0")
    assert page.locator("img[data-heatmap]").is_visible()
    assert page.evaluate("window.__notReloaded") is True
    screenshot(page, "prediction-result")

    # A reviewer confirms the model's class, with histopathology, and it shows on the lesion's timeline.
    sign_out(page)
    sign_in(page, "dr.reviewer")
    screenshot(page, "dashboard")
    page.goto(f"/predictions/{prediction_id}/")
    page.get_by_role("radio", name=re.compile("Confirm the model")).check()
    page.get_by_label("Confirmed by histopathology").check()
    page.get_by_label("Notes").fill("Dermoscopy agrees; excised 2024-06-20.")
    page.get_by_role("button", name="Save review").click()
    page.wait_for_selector("text=Your review is saved")
    review = Review.objects.get(prediction_id=prediction_id)
    assert (review.verdict, review.diagnosis, review.histopathology_confirmed) == ("agree", prediction.top_class, True)
    page.get_by_role("link", name="Lesion timeline").click()
    reviews = page.locator(".reviews").text_content()
    assert "Confirmed:" in reviews and "Histopathology confirmed" in reviews
    screenshot(page, "lesion-timeline")
    page.get_by_role("link", name="Eleanor Example").first.click()
    screenshot(page, "patient")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    screenshot(page, "patients")
    assert timezone.now() - prediction.finished_at < datetime.timedelta(minutes=15)
