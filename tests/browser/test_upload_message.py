"""Issue 16: after an upload the result page says "the model is looking at it now" only while it is; when the
polled result arrives finished, the message goes without a reload. Desktop and 390x844, with screenshots
(var/screenshots/upload-message-*.png)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from predictions import inference
from predictions.models import Prediction
from predictions.services import lesion_create, patient_create
from tests.predictions.images import jpeg_bytes

from .conftest import sign_in

TEST_MODEL = "browser-test:1.0"
PROBABILITIES = {"akiec": 0.02, "bcc": 0.02, "bkl": 0.05, "df": 0.01, "mel": 0.04, "nv": 0.84, "vasc": 0.02}
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
LOOKING = "the model is looking at it now"


@pytest.fixture(autouse=True)
def test_model_version(monkeypatch):
    # No worker runs here: the test plays its part by storing the result.
    monkeypatch.setattr(inference, "model_version", lambda: TEST_MODEL)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_upload_message_goes_when_the_polled_result_arrives(
    browser, live_server, clinic_staff, settings, screenshot, tmp_path, viewport
):
    settings.SKINCLINIC_STATUS_POLL_SECONDS = 0.5
    clinician = clinic_staff["clinician"]
    patient = patient_create(
        actor=clinician,
        clinic=clinic_staff["clinic"],
        mrn="UM-1",
        full_name="Uma Message",
        date_of_birth=datetime.date(1971, 5, 6),
        sex="female",
    )
    lesion = lesion_create(actor=clinician, patient=patient, site="back", label="Upper back")
    photo = tmp_path / "lesion.jpg"
    photo.write_bytes(jpeg_bytes(seed=3, size=(400, 300)))
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORTS[viewport])
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, "dr.clinician")
        page.goto(f"/patients/{patient.pk}/upload/?lesion={lesion.pk}")
        page.locator("input[type=file]").set_input_files(str(photo))
        page.get_by_role("button", name="Upload and classify").click()
        page.wait_for_url("**/predictions/*/")
        message = page.locator("[data-until-result]")
        assert LOOKING in message.inner_text() and message.is_visible()
        assert page.locator("#prediction-result").get_attribute("data-status") == "queued"
        screenshot(page, f"upload-message-queued-{viewport}")

        prediction = Prediction.objects.get(image__lesion=lesion)
        Prediction.objects.filter(pk=prediction.pk).update(
            status="succeeded",
            probabilities=PROBABILITIES,
            top_class="nv",
            malignancy_risk=0.08,
            started_at=timezone.now(),
            finished_at=timezone.now(),
        )
        page.wait_for_selector('#prediction-result[data-status="succeeded"]')
        page.wait_for_selector("[data-until-result]", state="detached")
        assert LOOKING not in page.locator("main").inner_text()
        assert page.locator("ul.messages").count() == 0  # the list it sat in went with it
        assert page.locator("table[data-chart] tbody tr").count() == 7
        screenshot(page, f"upload-message-finished-{viewport}")

        page.reload()  # the page as the server now renders it: finished, and the message consumed
        assert LOOKING not in page.locator("main").inner_text()
    finally:
        context.close()
