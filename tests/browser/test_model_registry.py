"""Issue 16: on a fresh install the model registry page shows the model that answers (the shipped one), with its
version, card figures and operating point. Desktop and 390x844; var/screenshots/model-registry-*.png."""

from __future__ import annotations

import json

import pytest

from mlcore.modeldir import SHIPPED_MODEL_DIR
from predictions.models import ModelVersion

from .conftest import sign_in

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_fresh_install_shows_the_served_model(browser, live_server, clinic_staff, screenshot, viewport):
    assert not ModelVersion.objects.exists()
    config = json.loads((SHIPPED_MODEL_DIR / "config.json").read_text())
    metrics = json.loads((SHIPPED_MODEL_DIR / "metrics.json").read_text())
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORTS[viewport])
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, "dr.reviewer")
        page.goto("/governance/models/")
        served = page.locator("[data-served-model]")
        assert served.is_visible()
        assert page.locator("[data-served-identifier]").inner_text() == f"{config['name']}:{config['version']}"
        figures = page.locator("[data-served-figures]").inner_text()
        assert f"{metrics['balanced_accuracy']:.3f}" in figures and f"{metrics['melanoma_auc']:.3f}" in figures
        threshold = config["operating_point"]["threshold"]
        assert page.locator("[data-served-threshold]").inner_text() == f"{threshold * 100:.1f}%"
        assert page.locator("[data-served-operating-point]").count() >= 1
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]
        screenshot(page, f"model-registry-{viewport}")
    finally:
        context.close()
