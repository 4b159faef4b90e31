"""A photograph already stored for another patient of the clinic: the upload page warns, names where it is, and
stores it only once the clinician confirms (desktop and phone)."""

from __future__ import annotations

import pytest

from predictions.models import LesionImage
from tests.predictions.images import jpeg_bytes

from .conftest import sign_in
from .test_phone_layout import PHONE


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, PHONE], ids=["desktop", "phone"])
def test_uploading_a_photograph_stored_elsewhere_warns_and_stores_it_only_when_confirmed(
    browser, live_server, records, screenshot, tmp_path, viewport
):
    photo = tmp_path / "mole.jpg"
    photo.write_bytes(jpeg_bytes(seed=77, size=(640, 480)))
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    page = context.new_page()
    try:
        sign_in(page, "dr.clinician")
        patient = records["patient"]
        page.goto(f"/patients/{patient.pk}/upload/")
        page.get_by_label("Back").check()  # the patient's second lesion
        page.locator("input[type=file]").set_input_files(str(photo))
        page.get_by_role("button", name="Upload and classify").click()
        page.wait_for_load_state("networkidle")
        assert LesionImage.objects.filter(lesion__label="Back").count() == 2  # the failed one and this one
        page.goto(f"/patients/{patient.pk}/upload/")
        page.get_by_label("Pigmented lesion, left forearm, dorsal aspect").check()
        page.locator("input[type=file]").set_input_files(str(photo))
        page.get_by_role("button", name="Upload and classify").click()
        warning = page.locator("[data-duplicates]")
        warning.wait_for()
        assert "mole.jpg is already stored for this patient's lesion Back" in " ".join(warning.inner_text().split())
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        screenshot(page, f"duplicate-warning-{'phone' if viewport is PHONE else 'desktop'}")
        page.get_by_label("Store them anyway: these files belong with the lesion chosen above").check()
        page.locator("input[type=file]").set_input_files(str(photo))
        page.get_by_role("button", name="Upload and classify").click()
        page.wait_for_url("**/predictions/*/")
        assert LesionImage.objects.filter(lesion=records["lesion"]).count() == 3
    finally:
        context.close()
