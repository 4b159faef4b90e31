"""Browser tests: Playwright drives Debian's headless Chromium against pytest-django's live server.

No browser is downloaded: the tests use /usr/bin/chromium (`apt-get install chromium`; CHROMIUM_PATH
overrides) and skip, saying why, when it is missing. Screenshots of each main page go to
var/screenshots/ (a CI artifact). The end-to-end test also needs the integration services (PostgreSQL,
Redis, a real Celery worker with the real model): it reuses the clinical app's integration fixtures.
"""

from __future__ import annotations

import datetime
import io
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from predictions import inference
from predictions.models import Prediction, ReviewCase, Role
from predictions.services import (
    clinic_create,
    image_upload,
    lesion_create,
    membership_create,
    patient_create,
    review_create,
)
from predictions.services.review_cases import review_cases_triage
from tests.predictions.images import jpeg_bytes

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying Google's hosts on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "a long browser test password"


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser():
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        reason = (
            f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium) "
            f"or set CHROMIUM_PATH; browser tests never download a browser"
        )
        if os.environ.get("SKINCLINIC_REQUIRE_INTEGRATION") == "1":  # CI (.ci/run) installs it
            pytest.fail(reason)
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements.txt)")
    # Playwright's sync API keeps an event loop on the test thread while it runs; Django would take the
    # ORM calls made on that thread (by fixtures and tests) for calls from async code. They are plain
    # synchronous calls, so say so for as long as the browser runs (one module: later tests get a thread
    # without an event loop again).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def context(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The app sends a Content-Security-Policy; anything it refuses (an inline script, a handler) is an error.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def screenshot():
    """Save a full-page screenshot as var/screenshots/<name>.png once images have loaded."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        page.wait_for_load_state("networkidle")
        page.wait_for_function("Array.from(document.images).every(img => img.complete)")
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def clinic_staff(transactional_db):
    """A clinic with a clinician and a reviewer who sign in with a password (committed: the server sees them)."""
    User = get_user_model()
    with transaction.atomic():
        clinic = clinic_create(name="Browser Test Dermatology", slug="browser-test")
        clinician = User.objects.create_user(
            "dr.clinician", "clinician@example.org", PASSWORD, first_name="Chris", last_name="Clinician"
        )
        reviewer = User.objects.create_user(
            "dr.reviewer", "reviewer@example.org", PASSWORD, first_name="Robin", last_name="Reviewer"
        )
        membership_create(clinic=clinic, user=clinician, role=Role.CLINICIAN)
        membership_create(clinic=clinic, user=reviewer, role=Role.REVIEWER)
    return {"clinic": clinic, "clinician": clinician, "reviewer": reviewer}


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/")


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")


# --- Records the portal's page tests look at ----------------------------------------------------------------
TEST_MODEL = "browser-test:2.0"
PROBABILITIES = {"akiec": 0.03, "bcc": 0.03, "bkl": 0.06, "df": 0.02, "mel": 0.24, "nv": 0.60, "vasc": 0.02}


@pytest.fixture
def test_model_version(monkeypatch):
    """The app runs a fixed test model version (no model is loaded: the results are written directly)."""
    monkeypatch.setattr(inference, "model_version", lambda: TEST_MODEL)


def _heatmap_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (384, 384), (220, 40, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def records(clinic_staff, test_model_version):
    """A patient with a long name, a lesion with two photographs: a result to refer (reviewed), one the model
    could not assess (queued for review), and a failed prediction on another lesion."""
    clinician, reviewer = clinic_staff["clinician"], clinic_staff["reviewer"]
    patient = patient_create(
        actor=clinician,
        clinic=clinic_staff["clinic"],
        mrn="PHONE-000123456789",
        full_name="Maximiliana Wolfeschlegelsteinhausen-Bergerdorff",
        date_of_birth=datetime.date(1959, 3, 2),
        sex="female",
    )
    lesion = lesion_create(
        actor=clinician, patient=patient, site="upper extremity", label="Pigmented lesion, left forearm, dorsal aspect"
    )
    images = []
    for seed, day in ((1, datetime.date(2024, 3, 1)), (2, datetime.date(2025, 2, 1))):
        image, _ = image_upload(
            actor=clinician,
            lesion=lesion,
            file=ContentFile(jpeg_bytes(seed=seed, size=(800, 600)), name=f"{seed}.jpg"),
            captured_at=day,
        )
        images.append(image)
    refer = Prediction.objects.get(image=images[0])
    Prediction.objects.filter(pk=refer.pk).update(
        status="succeeded",
        probabilities=PROBABILITIES,
        top_class="nv",
        malignancy_risk=0.30,
        refer=True,
        referral_threshold=0.12,
        assessable=True,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    refer.refresh_from_db()
    refer.heatmap.save("heatmap.png", ContentFile(_heatmap_png()), save=True)
    refused = Prediction.objects.get(image=images[1])
    Prediction.objects.filter(pk=refused.pk).update(
        status="succeeded",
        probabilities=PROBABILITIES,
        top_class="nv",
        malignancy_risk=0.30,
        refer=False,
        referral_threshold=0.12,
        assessable=False,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        assessment_reasons=[{"code": "blur", "message": "The image is out of focus."}],
    )
    refused.refresh_from_db()
    review_cases_triage(predictions=[refer, refused])
    review_create(
        actor=reviewer,
        image=images[0],
        prediction=refer,
        verdict="override",
        diagnosis="mel",
        histopathology_confirmed=True,
        notes="Excised; superficial spreading melanoma, Breslow 0.4 mm.",
    )
    other = lesion_create(actor=clinician, patient=patient, site="back", label="Back")
    failed_image, _ = image_upload(
        actor=clinician, lesion=other, file=ContentFile(jpeg_bytes(seed=5, size=(640, 480)), name="5.jpg")
    )
    Prediction.objects.filter(image=failed_image).update(
        status="failed",
        finished_at=timezone.now(),
        error="Gave up after 3 attempts; the last error: the stored image could not be read (OSError)",
    )
    assert ReviewCase.objects.filter(image=images[1]).exists()
    return {
        "patient": patient,
        "lesion": lesion,
        "images": images,
        "refer": refer,
        "refused": refused,
        "clinic": clinic_staff["clinic"],
    }
