"""Examining images in a browser: the whole photograph zooms and pans with its heatmap over it (the heatmap's
opacity still adjustable), and the two photographs of a comparison zoom and pan together."""

from __future__ import annotations

import pytest

from .conftest import sign_in


def _scale(page, selector: str) -> float:
    return page.eval_on_selector(selector, "el => el.closest('[data-zoom-stage]').panzoom.getScale()")


def test_the_result_shows_the_whole_photograph_zoomable_with_the_heatmap_over_its_centre(page, records, screenshot):
    sign_in(page, "dr.clinician")
    page.goto(f"/predictions/{records['refer'].pk}/")
    stage = page.locator("#prediction-viewer [data-zoom-stage]")
    box = stage.bounding_box()
    assert box["width"] / box["height"] == pytest.approx(800 / 600, rel=0.02)  # the whole 800x600 photograph
    heatmap = page.locator("img[data-heatmap]")
    page.wait_for_function("document.querySelector('img[data-heatmap]').complete")
    # A square heatmap over a 4:3 photograph: the centred 600x600 crop, 75% of the width, all of the height.
    assert heatmap.evaluate("img => img.style.width") == "75%" and heatmap.evaluate("img => img.style.left") == "12.5%"
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    assert _scale(page, "#prediction-viewer [data-zoom-content]") > 1.5
    # The heatmap moves with the photograph: it is inside the transformed content.
    assert heatmap.evaluate("img => !!img.closest('[data-zoom-content]')")
    page.get_by_label("Heatmap opacity").fill("40")
    assert heatmap.evaluate("img => img.style.opacity") == "0.4"
    screenshot(page, "result-zoomed")
    page.get_by_role("button", name="Reset").click()
    assert _scale(page, "#prediction-viewer [data-zoom-content]") == pytest.approx(1)


def test_the_comparison_zooms_and_pans_both_photographs_together(page, records, screenshot):
    images = records["images"]
    sign_in(page, "dr.clinician")
    page.goto(f"/lesions/{records['lesion'].pk}/?compare={images[0].pk}&compare={images[1].pk}")
    stages = page.locator("#comparison [data-zoom-stage]")
    assert stages.count() == 2
    first, second = stages.nth(0), stages.nth(1)
    box = first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(4):  # zoom the first with the wheel
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(50)
    scales = [stage.evaluate("el => el.panzoom.getScale()") for stage in (first, second)]
    assert scales[0] > 1.2 and scales[1] == pytest.approx(scales[0], rel=0.01)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 - 60, box["y"] + box["height"] / 2 - 30, steps=5)
    page.mouse.up()
    pans = [stage.evaluate("el => el.panzoom.getPan()") for stage in (first, second)]
    assert pans[0]["x"] != 0 and pans[1]["x"] == pytest.approx(pans[0]["x"], abs=1)
    screenshot(page, "comparison-zoomed")
    page.locator("#comparison").get_by_role("button", name="Reset").click()
    assert [stage.evaluate("el => el.panzoom.getScale()") for stage in (first, second)] == [pytest.approx(1)] * 2


def test_the_viewer_switches_the_heatmap_to_the_class_of_concern(page, records, screenshot):
    from django.core.files.base import ContentFile

    from predictions.models import PredictionHeatmap

    from .conftest import _heatmap_png

    refer = records["refer"]
    concern = PredictionHeatmap(prediction=refer, class_code=refer.concern_class)
    concern.file.save("concern.png", ContentFile(_heatmap_png()), save=False)
    concern.status = "stored"
    concern.save()
    sign_in(page, "dr.clinician")
    page.goto(f"/predictions/{refer.pk}/")
    switch = page.get_by_label("Evidence for", exact=True)
    assert switch.locator("option").all_inner_texts() == [
        "Melanocytic nevus (top class)",
        "Melanoma (class of concern)",
    ]
    switch.select_option(label="Melanoma (class of concern)")
    heatmap = page.locator("img[data-heatmap]")
    assert heatmap.get_attribute("src") == f"/predictions/{refer.pk}/heatmap/mel"
    assert page.locator("[data-heatmap-class-shown]").inner_text() == "Melanoma"
    for _ in range(50):  # polled from here: a string predicate polled in the page would need eval, which CSP forbids
        if heatmap.evaluate("img => img.complete && img.naturalWidth > 0"):
            break
        page.wait_for_timeout(100)
    assert heatmap.evaluate("img => img.naturalWidth") == 384  # the class of concern's heatmap, served
    screenshot(page, "result-class-of-concern")
