"""The portal in a real browser, without a worker: live status, heatmap controls, upload by drag and drop,
forms that keep what was typed, keyboard use, and layouts down to a tablet.

The prediction rows are moved along by the test itself here, so these run anywhere Chromium is installed;
test_end_to_end.py does the same journey with a real worker and model.
"""

from __future__ import annotations

import datetime
import io
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from predictions import inference
from predictions.models import Lesion, LesionImage, Patient, Prediction
from predictions.services import image_upload, lesion_create, patient_create
from tests.predictions.images import jpeg_bytes

from .conftest import sign_in

PROBABILITIES = {"akiec": 0.05, "bcc": 0.04, "bkl": 0.08, "df": 0.02, "mel": 0.61, "nv": 0.18, "vasc": 0.02}
TEST_MODEL = "browser-test:1.0"


@pytest.fixture(autouse=True)
def test_model_version(monkeypatch):
    # No worker runs here, so no model is loaded; uploads only need a version to queue predictions under.
    monkeypatch.setattr(inference, "model_version", lambda: TEST_MODEL)


@pytest.fixture
def patient(clinic_staff):
    return patient_create(
        actor=clinic_staff["clinician"],
        clinic=clinic_staff["clinic"],
        mrn="BT-0001",
        full_name="Beatrice Tester",
        date_of_birth=datetime.date(1968, 7, 14),
        sex="female",
    )


@pytest.fixture
def queued_prediction(clinic_staff, patient):
    lesion = lesion_create(actor=clinic_staff["clinician"], patient=patient, site="back", label="Left scapula")
    image, _ = image_upload(
        actor=clinic_staff["clinician"],
        lesion=lesion,
        file=ContentFile(jpeg_bytes(size=(600, 450)), name="lesion.jpg"),
        captured_at=datetime.date(2024, 4, 2),
    )
    return Prediction.objects.get(image=image)


def heatmap_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (384, 384), (220, 40, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_status_updates_live_from_queued_to_running_to_done_without_a_reload(
    page, clinic_staff, queued_prediction, settings
):
    settings.SKINCLINIC_STATUS_POLL_SECONDS = 0.5
    sign_in(page, "dr.reviewer")
    page.goto(f"/predictions/{queued_prediction.pk}/")
    page.evaluate("window.__notReloaded = true")
    result = page.locator("#prediction-result")
    assert result.get_attribute("data-status") == "queued"
    assert page.get_by_text("Decision support only — not a diagnosis.").first.is_visible()

    Prediction.objects.filter(pk=queued_prediction.pk).update(status="running", started_at=timezone.now(), attempts=1)
    page.wait_for_selector('#prediction-result[data-status="running"]')
    assert page.locator(".steps li.is-current").inner_text() == "Running"

    Prediction.objects.filter(pk=queued_prediction.pk).update(
        status="succeeded",
        probabilities=PROBABILITIES,
        top_class="mel",
        malignancy_risk=0.70,
        finished_at=timezone.now(),
    )
    page.wait_for_selector('#prediction-result[data-status="succeeded"]')
    assert page.evaluate("window.__notReloaded") is True  # htmx swapped the panel; the page never reloaded

    # The heatmap is drawn after the probabilities are stored: the image section alone waits for it.
    assert page.locator("#prediction-viewer").get_attribute("data-heatmap-state") == "pending"
    page.get_by_label("Notes").fill("typed while the heatmap is drawn")
    prediction = Prediction.objects.get(pk=queued_prediction.pk)
    prediction.heatmap.save("heatmap.png", ContentFile(heatmap_png()), save=False)
    Prediction.objects.filter(pk=prediction.pk).update(heatmap=prediction.heatmap.name)
    page.wait_for_selector('#prediction-viewer[data-heatmap-state="ready"] img[data-heatmap]')
    page.wait_for_function("document.querySelector('img[data-heatmap]').naturalWidth > 0")
    assert page.get_by_label("Notes").input_value() == "typed while the heatmap is drawn"
    assert page.evaluate("window.__notReloaded") is True

    rows = page.locator("table[data-chart] tbody tr")
    assert rows.count() == 7
    assert rows.first.locator("th").inner_text().startswith("Melanoma")
    assert page.locator("[data-risk-band]").get_attribute("data-risk-band") == "high"
    assert TEST_MODEL in page.locator("[data-model-version]").inner_text()

    # The polling stopped with the final result and its heatmap: no more requests for either.
    requests = []
    page.on(
        "request",
        lambda request: (
            requests.append(request.url) if "/result/" in request.url or "/viewer/" in request.url else None
        ),
    )
    page.wait_for_timeout(1500)
    assert requests == []


def test_the_heatmap_can_be_hidden_and_its_opacity_changed(page, clinic_staff, queued_prediction):
    prediction = queued_prediction
    prediction.heatmap.save("heatmap.png", ContentFile(heatmap_png()), save=False)
    Prediction.objects.filter(pk=prediction.pk).update(
        status="succeeded",
        probabilities=PROBABILITIES,
        top_class="mel",
        malignancy_risk=0.70,
        heatmap=prediction.heatmap.name,
        finished_at=timezone.now(),
    )
    sign_in(page, "dr.clinician")
    page.goto(f"/predictions/{prediction.pk}/")
    heatmap = page.locator("img[data-heatmap]")
    assert heatmap.is_visible()
    assert page.evaluate("document.querySelector('img[data-heatmap]').naturalWidth") == 384  # served to members
    slider = page.get_by_label("Heatmap opacity")
    slider.fill("30")
    assert heatmap.evaluate("img => img.style.opacity") == "0.3"
    assert page.locator("[data-heatmap-opacity-value]").inner_text() == "30%"
    page.get_by_label("Show heatmap").uncheck()
    assert heatmap.is_hidden() and slider.is_disabled()
    page.get_by_label("Show heatmap").check()
    assert heatmap.is_visible()


def test_files_dropped_on_the_upload_page_are_listed_checked_and_sent(page, clinic_staff, patient, tmp_path):
    sign_in(page, "dr.clinician")
    page.goto(f"/patients/{patient.pk}/upload/")
    page.get_by_label("Start following a new lesion").check()
    page.get_by_label("Label of the new lesion").fill("Right forearm")
    page.get_by_label("Anatomic site of the new lesion").select_option("upper extremity")
    page.get_by_label("Date captured").fill("2024-05-20")
    assert "55 years" in page.locator("[data-age-hint]").inner_text()  # born 14 Jul 1968

    good = jpeg_bytes(seed=7, size=(300, 200))
    page.evaluate(
        """([good]) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(good)], "forearm.jpg", {type: "image/jpeg"}));
        transfer.items.add(new File(["just some text"], "notes.txt", {type: "text/plain"}));
        const zone = document.querySelector("[data-dropzone]");
        for (const type of ["dragenter", "dragover", "drop"]) {
            zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }
    }""",
        [list(good)],
    )
    listed = page.locator("#chosen-files li")
    assert listed.count() == 2
    assert "not a JPEG, PNG, TIFF or WebP file" in listed.nth(1).inner_text()

    page.get_by_role("button", name="Upload and classify").click()
    page.wait_for_selector("[data-error-summary]")
    summary = page.locator("[data-error-summary]").inner_text()
    assert "1 file could not be stored" in summary and "notes.txt" in summary and "forearm.jpg" in summary
    assert page.evaluate("document.activeElement.hasAttribute('data-error-summary')")  # focus moved to it
    # What was typed is still there, and the new lesion is now the chosen one.
    lesion = Lesion.objects.get(patient=patient, label="Right forearm")
    assert page.get_by_label("Date captured").input_value() == "2024-05-20"
    assert page.locator(f'input[name=lesion][value="{lesion.pk}"]').is_checked()
    assert LesionImage.objects.filter(lesion=lesion).count() == 1


def test_the_patient_form_explains_errors_and_keeps_what_was_typed(page, clinic_staff, screenshot):
    sign_in(page, "dr.clinician")
    page.goto("/patients/new/")
    page.get_by_label("Full name").fill("Kept Through Errors")
    page.get_by_label("Date of birth").fill("2999-01-01")
    page.get_by_role("button", name="Register patient").click()
    summary = page.locator("[data-error-summary]")
    assert summary.is_visible() and page.evaluate("document.activeElement.hasAttribute('data-error-summary')")
    assert "The date of birth cannot be in the future." in summary.inner_text()
    assert page.get_by_label("Full name").input_value() == "Kept Through Errors"
    assert page.get_by_label("Medical record number (MRN)").get_attribute("aria-invalid") == "true"
    screenshot(page, "patient-form-errors")
    # The summary links to the field to fix.
    summary.get_by_role("link", name="Medical record number (MRN): Enter the medical record number.").click()
    page.keyboard.type("KT-1")
    page.get_by_label("Date of birth").fill("1990-01-01")
    page.get_by_role("button", name="Register patient").click()
    page.wait_for_selector("h1:has-text('Kept Through Errors')")
    assert Patient.objects.filter(mrn="KT-1").exists()


def test_a_clinician_can_sign_in_and_reach_a_patient_with_the_keyboard_alone(page, clinic_staff, patient):
    page.goto("/")
    page.wait_for_url("**/accounts/login/?next=/")
    assert page.evaluate("document.activeElement.name") == "username"  # the sign-in form takes the focus
    page.keyboard.type("dr.clinician")
    page.keyboard.press("Tab")
    page.keyboard.type("a long browser test password")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: urlsplit(url).path == "/")
    page.keyboard.press("Tab")  # the skip link comes first, and takes the focus past the navigation
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.get_by_role("link", name="Patients", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/patients/")
    page.get_by_label("Search by name or MRN").focus()
    page.keyboard.type("BT-0001")
    page.keyboard.press("Enter")
    page.wait_for_url("**/patients/?q=BT-0001")
    page.get_by_role("link", name="Beatrice Tester").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:has-text('Beatrice Tester')")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline  # focus stays visible (the :focus-visible ring)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/patients/",
        "/patients/{patient}/",
        "/patients/{patient}/upload/",
        "/lesions/{lesion}/",
        "/predictions/{prediction}/",
    ],
)
def test_every_page_has_labelled_controls_described_images_and_fits_a_tablet(
    browser, live_server, clinic_staff, queued_prediction, path
):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 768, "height": 1024})
    page = context.new_page()
    try:
        sign_in(page, "dr.clinician")
        image = queued_prediction.image
        page.goto(path.format(patient=image.lesion.patient_id, lesion=image.lesion_id, prediction=queued_prediction.pk))
        unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll(
                'input:not([type=hidden]), select, textarea'))
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.getAttribute('aria-labelledby'))
            .map(el => el.outerHTML)""")
        assert unlabelled == []
        assert page.evaluate("Array.from(document.images).filter(img => !img.hasAttribute('alt')).length") == 0
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scrolling"
        assert page.locator("h1").count() == 1
        assert page.evaluate("document.documentElement.lang") == "en"
    finally:
        context.close()


def test_two_images_of_a_lesion_are_compared_side_by_side(page, clinic_staff, queued_prediction, screenshot):
    lesion = queued_prediction.image.lesion
    later, _ = image_upload(
        actor=clinic_staff["clinician"],
        lesion=lesion,
        file=ContentFile(jpeg_bytes(seed=3, size=(600, 450)), name="later.jpg"),
        captured_at=datetime.date(2025, 1, 15),
    )
    sign_in(page, "dr.clinician")
    page.goto(f"/lesions/{lesion.pk}/")
    page.get_by_label("Compare the image of 2 April 2024").check()
    page.get_by_label("Compare the image of 15 January 2025").check()
    page.get_by_role("button", name="Compare the two selected images").click()
    comparison = page.locator("#comparison")
    assert "Side by side: 2 Apr 2024 and 15 Jan 2025" in comparison.inner_text()
    assert comparison.locator("img").count() == 2
    screenshot(page, "lesion-comparison")


def test_a_page_polling_after_the_session_ends_goes_to_sign_in_and_comes_back(
    page, context, clinic_staff, queued_prediction, settings
):
    settings.SKINCLINIC_STATUS_POLL_SECONDS = 0.5
    sign_in(page, "dr.clinician")
    page.goto(f"/predictions/{queued_prediction.pk}/")
    context.clear_cookies()  # the session ends (expired, or signed out in another tab)
    page.wait_for_url(lambda url: urlsplit(url).path == "/accounts/login/")
    assert parse_qs(urlsplit(page.url).query)["next"] == [f"/predictions/{queued_prediction.pk}/"]
    assert page.locator("#prediction-result").count() == 0  # the sign-in page was not swapped into the panel
    page.get_by_label("Username").fill("dr.clinician")
    page.get_by_label("Password").fill("a long browser test password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/predictions/{queued_prediction.pk}/")
