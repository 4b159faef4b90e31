"""Risk first and the reviewed diagnosis, on a desktop screen: the result leads with the referral verdict (or
the reviewer's diagnosis when there is one), the dashboard lists what needs review, and the lesion's report
downloads as a PDF."""

from __future__ import annotations

from .conftest import sign_in


def test_a_reviewed_result_leads_with_histopathology_then_the_models_referral_with_its_figure(
    page, records, screenshot
):
    sign_in(page, "dr.clinician")
    page.goto(f"/predictions/{records['refer'].pk}/")
    reviewed = page.locator("[data-standing-review]")
    verdict = page.locator("[data-recommendation]")
    assert "Histopathology: Melanoma" in " ".join(reviewed.inner_text().split())
    assert verdict.get_attribute("data-recommendation") == "refer"
    assert "Refer: suspicious for a malignant lesion" in verdict.inner_text() and "30.0%" in verdict.inner_text()
    assert reviewed.bounding_box()["y"] < verdict.bounding_box()["y"] < page.locator("[data-chart]").bounding_box()["y"]
    screenshot(page, "result-reviewed-refer")


def test_an_image_the_model_refused_reads_cannot_assess_and_is_on_the_dashboard(page, records, screenshot):
    sign_in(page, "dr.reviewer")
    page.goto(f"/predictions/{records['refused'].pk}/")
    verdict = page.locator("[data-recommendation]")
    assert "Cannot assess this image" in verdict.inner_text() and "The image is out of focus." in verdict.inner_text()
    screenshot(page, "result-cannot-assess")
    page.goto("/")
    section = page.locator("section", has=page.get_by_role("heading", name="The model could not assess these images"))
    assert records["patient"].full_name in section.inner_text()
    screenshot(page, "dashboard-risk-first")


def test_the_lesion_report_downloads_as_a_pdf_from_the_timeline(page, records):
    sign_in(page, "dr.clinician")
    page.goto(f"/lesions/{records['lesion'].pk}/")
    href = page.get_by_role("link", name="Consultation report (PDF)").get_attribute("href")
    response = page.request.get(href)
    assert response.ok and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF-")
