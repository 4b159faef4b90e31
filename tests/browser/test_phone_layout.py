"""Every page fits a 390 px wide phone (iPhone 12-15 class, 390x844) without sideways scrolling, and the header
leaves most of the screen to the page. Screenshots go to var/screenshots/phone-*.png."""
from __future__ import annotations

import datetime
import io

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from predictions import inference
from predictions.models import Prediction, ReviewCase
from predictions.services import image_upload, lesion_create, patient_create, review_create
from predictions.services.governance import review_cases_triage
from tests.predictions.images import jpeg_bytes

from .conftest import sign_in

PHONE = {"width": 390, "height": 844}
TEST_MODEL = "browser-test:2.0"
PROBABILITIES = {"akiec": 0.03, "bcc": 0.03, "bkl": 0.06, "df": 0.02, "mel": 0.24, "nv": 0.60, "vasc": 0.02}


@pytest.fixture(autouse=True)
def test_model_version(monkeypatch):
    monkeypatch.setattr(inference, "model_version", lambda: TEST_MODEL)


def _heatmap_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (384, 384), (220, 40, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def records(clinic_staff):
    """A patient with a long name, a lesion with two photographs: a result to refer (reviewed), one the model
    could not assess (queued for review), and a failed prediction on another lesion."""
    clinician, reviewer = clinic_staff["clinician"], clinic_staff["reviewer"]
    patient = patient_create(actor=clinician, clinic=clinic_staff["clinic"], mrn="PHONE-000123456789",
                             full_name="Maximiliana Wolfeschlegelsteinhausen-Bergerdorff",
                             date_of_birth=datetime.date(1959, 3, 2), sex="female")
    lesion = lesion_create(actor=clinician, patient=patient, site="upper extremity",
                           label="Pigmented lesion, left forearm, dorsal aspect")
    images = []
    for seed, day in ((1, datetime.date(2024, 3, 1)), (2, datetime.date(2025, 2, 1))):
        image, _ = image_upload(actor=clinician, lesion=lesion,
                                file=ContentFile(jpeg_bytes(seed=seed, size=(800, 600)), name=f"{seed}.jpg"),
                                captured_at=day)
        images.append(image)
    refer = Prediction.objects.get(image=images[0])
    Prediction.objects.filter(pk=refer.pk).update(
        status="succeeded", probabilities=PROBABILITIES, top_class="nv", malignancy_risk=0.30, refer=True,
        referral_threshold=0.12, assessable=True, started_at=timezone.now(), finished_at=timezone.now())
    refer.refresh_from_db()
    refer.heatmap.save("heatmap.png", ContentFile(_heatmap_png()), save=True)
    refused = Prediction.objects.get(image=images[1])
    Prediction.objects.filter(pk=refused.pk).update(
        status="succeeded", probabilities=PROBABILITIES, top_class="nv", malignancy_risk=0.30, refer=False,
        referral_threshold=0.12, assessable=False, started_at=timezone.now(), finished_at=timezone.now(),
        assessment_reasons=[{"code": "blur", "message": "The image is out of focus."}])
    refused.refresh_from_db()
    review_cases_triage(predictions=[refer, refused])
    review_create(actor=reviewer, image=images[0], prediction=refer, verdict="override", diagnosis="mel",
                  histopathology_confirmed=True, notes="Excised; superficial spreading melanoma, Breslow 0.4 mm.")
    other = lesion_create(actor=clinician, patient=patient, site="back", label="Back")
    failed_image, _ = image_upload(actor=clinician, lesion=other,
                                   file=ContentFile(jpeg_bytes(seed=5, size=(640, 480)), name="5.jpg"))
    Prediction.objects.filter(image=failed_image).update(
        status="failed", finished_at=timezone.now(),
        error="Gave up after 3 attempts; the last error: the stored image could not be read (OSError)")
    assert ReviewCase.objects.filter(image=images[1]).exists()
    return {"patient": patient, "lesion": lesion, "images": images, "refer": refer, "refused": refused,
            "clinic": clinic_staff["clinic"]}


def _overflow(page) -> list[str]:
    """The elements wider than the viewport (to say what overflows when the page does)."""
    # Against 390 px, not innerWidth: a phone browser widens its layout viewport to fit content that overflows.
    return page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
        .filter(el => el.getBoundingClientRect().right > 391)
        .slice(0, 8).map(el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className) : ''))""")


def _visit_all(browser, live_server, username, pages, screenshot) -> dict[str, list[str]]:
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, device_scale_factor=1, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    too_wide = {}
    try:
        sign_in(page, username)
        for name, path in pages.items():
            page.goto(path)
            page.wait_for_load_state("networkidle")
            if page.evaluate("document.documentElement.scrollWidth") > PHONE["width"]:
                too_wide[name] = _overflow(page)
            screenshot(page, f"phone-{name}")
    finally:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"
    return too_wide


def test_every_clinician_page_fits_a_390_px_phone_without_sideways_scrolling(browser, live_server, records,
                                                                            screenshot):
    patient, lesion, images = records["patient"], records["lesion"], records["images"]
    pages = {
        "dashboard": "/", "patients": "/patients/", "patient": f"/patients/{patient.pk}/",
        "patient-new": "/patients/new/", "patient-edit": f"/patients/{patient.pk}/edit/",
        "upload": f"/patients/{patient.pk}/upload/", "timeline": f"/lesions/{lesion.pk}/",
        "comparison": f"/lesions/{lesion.pk}/?compare={images[0].pk}&compare={images[1].pk}",
        "result-refer": f"/predictions/{records['refer'].pk}/",
        "result-cannot-assess": f"/predictions/{records['refused'].pk}/",
        "password-change": "/accounts/password_change/",
        "lesion-new": f"/patients/{patient.pk}/lesions/new/", "lesion-edit": f"/lesions/{lesion.pk}/edit/",
        "lesion-merge": f"/lesions/{lesion.pk}/merge/",
    }
    assert _visit_all(browser, live_server, "dr.clinician", pages, screenshot) == {}


def test_every_reviewer_page_fits_a_390_px_phone_without_sideways_scrolling(browser, live_server, records,
                                                                           screenshot):
    clinic = records["clinic"]
    pages = {
        "reviewer-result": f"/predictions/{records['refused'].pk}/", "case-review": "/governance/",
        "review-queue": f"/governance/clinics/{clinic.pk}/queue/", "audit": f"/governance/clinics/{clinic.pk}/audit/",
        "performance": f"/governance/clinics/{clinic.pk}/performance/", "models": "/governance/models/",
    }
    assert _visit_all(browser, live_server, "dr.reviewer", pages, screenshot) == {}


def test_the_sign_in_page_fits_a_phone_and_the_header_leaves_the_screen_to_the_page(browser, live_server, records,
                                                                                    screenshot):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "phone-sign-in")
        sign_in(page, "dr.reviewer")
        header = page.locator(".site-header").bounding_box()
        assert header["height"] <= 130, f"the header takes {header['height']} of 844 px"
    finally:
        context.close()
