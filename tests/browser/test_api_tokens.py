"""Issue 16: a clinic administrator makes an API token in the portal, copies its key (shown once), and revokes it,
which stops the key at once. Desktop and 390x844; var/screenshots/api-tokens-*.png."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from predictions.models import Role
from predictions.services import membership_create

from .conftest import PASSWORD, sign_in

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def _api_status(base: str, key: str) -> int:
    request = urllib.request.Request(base + "/api/v1/clinics", headers={"Authorization": f"Token {key}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            json.load(response)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def clinic_admin(clinic_staff):
    with transaction.atomic():
        admin = get_user_model().objects.create_user(
            "dr.admin", "admin@example.org", PASSWORD, first_name="Ada", last_name="Administrator"
        )
        membership_create(clinic=clinic_staff["clinic"], user=admin, role=Role.ADMIN)
    return admin


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_an_administrator_makes_copies_and_revokes_a_token(browser, live_server, clinic_admin, screenshot, viewport):
    width = VIEWPORTS[viewport]["width"]
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORTS[viewport])
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, "dr.admin")
        page.get_by_role("link", name="API tokens").click()
        page.wait_for_url("**/api-tokens/")
        assert page.get_by_text("No tokens yet.").is_visible()
        page.get_by_label("What the token is for").fill("EHR integration")
        page.get_by_label("Expires after (days)").fill("90")
        page.get_by_role("button", name="Make the token").click()

        key = page.locator("[data-new-token-key]").input_value()
        assert key.startswith("sc_") and page.locator("[data-new-token]").is_visible()
        row = page.locator("[data-token-list] tbody tr")
        assert row.count() == 1 and f"{key[:10]}…" in row.inner_text() and key not in row.inner_text()
        assert "Active until" in row.locator("[data-token-state]").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # The administrator's extra menu entry keeps the phone header within the layout's budget.
        assert page.locator(".site-header").bounding_box()["height"] <= 130
        screenshot(page, f"api-tokens-made-{viewport}")
        assert _api_status(live_server.url, key) == 200

        page.reload()  # the key is gone for good, only its first characters remain, and no second token is made
        assert page.locator("[data-new-token-key]").count() == 0 and key not in page.content()
        assert page.locator("[data-token-list] tbody tr").count() == 1
        page.get_by_role("button", name=f"Revoke EHR integration ({key[:10]}…)").click()
        page.wait_for_selector("text=is revoked: it no longer works")
        assert page.locator("[data-token-state]").inner_text().startswith("Revoked")
        assert _api_status(live_server.url, key) == 401
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"api-tokens-revoked-{viewport}")
    finally:
        context.close()
