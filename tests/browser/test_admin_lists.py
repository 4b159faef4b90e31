"""The admin site's lists read cleanly (issue 16): the prediction list's columns fit the screen and say whose
result it is and what the model advised, and the index names "Webhook deliveries" (not "Webhook deliverys").
Screenshots: var/screenshots/admin-*.png, desktop and 390x844."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from tests.portal.conftest import PROBABILITIES_UNCERTAIN_MELANOMA, succeeded
from tests.predictions.factories import (
    ClinicFactory,
    LesionFactory,
    LesionImageFactory,
    PatientFactory,
    PredictionFactory,
)

from .conftest import PASSWORD

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def operator(transactional_db):
    with transaction.atomic():
        user = get_user_model().objects.create_superuser("site.operator", "operator@example.org", PASSWORD)
        clinic = ClinicFactory(name="Northfield Dermatology and Skin Cancer Clinic")
        for n in range(6):
            patient = PatientFactory(clinic=clinic, mrn=f"NF-2026-{n:06d}", full_name=f"Patient {n}")
            image = LesionImageFactory(lesion=LesionFactory(patient=patient))
            if n == 0:
                PredictionFactory(image=image, status="failed", error="The stored image could not be read.")
            elif n == 1:
                PredictionFactory(image=image)  # still queued
            else:
                succeeded(
                    image,
                    PROBABILITIES_UNCERTAIN_MELANOMA,
                    refer=True,
                    referral_threshold=0.124,
                    assessable=True,
                    model_version="skinclinic-ham10000-cnn:2.0.0",
                )
    return user


def _sign_in_to_admin(page) -> None:
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("site.operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_prediction_list_fits_the_screen_and_the_index_spells_deliveries(
    browser, live_server, operator, screenshot, viewport
):
    size = PHONE if viewport == "phone" else {"width": 1280, "height": 900}
    context = browser.new_context(base_url=live_server.url, viewport=size)
    try:
        page = context.new_page()
        _sign_in_to_admin(page)
        assert page.get_by_role("link", name="Webhook deliveries").count() == 1
        assert "deliverys" not in page.content().lower()
        assert page.get_by_role("link", name="API tokens").count() == 1
        screenshot(page, f"admin-index-{viewport}")

        page.goto("/admin/predictions/prediction/")
        headers = [h.strip() for h in page.locator("#result_list thead th").all_text_contents()]
        assert headers[1:] == ["ID", "Clinic", "MRN", "Status", "Advice", "Risk", "Top class", "Version", "Finished"]
        rows = page.locator("#result_list tbody tr")
        assert rows.count() == 6
        text = page.locator("#result_list").inner_text()
        assert "NF-2026-000005" in text and "Refer" in text and "48%" in text and "2.0.0" in text
        screenshot(page, f"admin-predictions-{viewport}")
        if viewport == "desktop":
            # Every column is on the screen: the table is no wider than the box that holds it.
            overflow = page.evaluate("""() => {
                const box = document.querySelector('#changelist .results');
                return box.scrollWidth - box.clientWidth;
            }""")
            assert overflow <= 0, f"the prediction list is {overflow} px wider than its box: columns are cut"
        # On a phone the table scrolls inside its box; the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
    finally:
        context.close()
