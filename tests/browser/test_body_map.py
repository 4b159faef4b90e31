"""The body map in a browser: a click on the outline places the lesion and fills in the patient's side."""

from __future__ import annotations

from predictions.models import Lesion

from .conftest import sign_in


def _click_on_map(page, view: str, x: float, y: float) -> None:
    """Click the point (x, y) of a view's outline box, in the drawing's own coordinates."""
    svg = page.locator("[data-body-map-canvas]")
    box = svg.bounding_box()
    data = svg.evaluate("el => el.dataset")
    left = float(data["backLeft" if view == "back" else "frontLeft"]) + x * float(data["figureWidth"])
    top = float(data["top"]) + y * float(data["figureHeight"])
    scale = box["width"] / 230  # the viewBox is 230 wide
    page.mouse.click(box["x"] + left * scale, box["y"] + top * scale)


def test_clicking_the_back_outline_places_the_lesion_and_fills_in_the_side(page, records, screenshot):
    sign_in(page, "dr.clinician")
    page.goto(f"/patients/{records['patient'].pk}/lesions/new/")
    page.get_by_label("Label").fill("Mole under the right shoulder blade")
    _click_on_map(page, "back", 0.7, 0.25)  # the viewer's right on the back: the patient's right
    assert page.get_by_label("Body map view").input_value() == "back"
    across = page.get_by_label("Across the outline (0 to 1, from the viewer's left)").input_value()
    assert abs(float(across) - 0.7) < 0.02
    assert page.get_by_label("Side (the patient's)").input_value() == "right"
    assert page.locator("[data-body-map-marker]").get_attribute("cx") != "-20"
    screenshot(page, "lesion-form-body-map")
    page.get_by_role("button", name="Start following this lesion").click()
    page.wait_for_selector("h1:has-text('Mole under the right shoulder blade')")
    lesion = Lesion.objects.get(label="Mole under the right shoulder blade")
    assert (lesion.body_view, lesion.laterality) == ("back", "right") and abs(lesion.body_y - 0.25) < 0.02
    page.goto(f"/patients/{records['patient'].pk}/")
    assert page.locator(".body-map__dot").count() == 1
    screenshot(page, "patient-body-map")
