"""Every page fits a 390 px wide phone (iPhone 12-15 class, 390x844) without sideways scrolling, and the header
leaves most of the screen to the page. Screenshots go to var/screenshots/phone-*.png."""

from __future__ import annotations

from .conftest import sign_in

PHONE = {"width": 390, "height": 844}


def _overflow(page) -> list[str]:
    """The elements wider than the viewport (to say what overflows when the page does)."""
    # Against 390 px, not innerWidth: a phone browser widens its layout viewport to fit content that overflows.
    return page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
        .filter(el => el.getBoundingClientRect().right > 391)
        .slice(0, 8).map(el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className) : ''))""")


def _visit_all(browser, live_server, username, pages, screenshot) -> dict[str, list[str]]:
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True
    )
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


def test_every_clinician_page_fits_a_390_px_phone_without_sideways_scrolling(browser, live_server, records, screenshot):
    patient, lesion, images = records["patient"], records["lesion"], records["images"]
    pages = {
        "dashboard": "/",
        "patients": "/patients/",
        "patient": f"/patients/{patient.pk}/",
        "patient-new": "/patients/new/",
        "patient-edit": f"/patients/{patient.pk}/edit/",
        "upload": f"/patients/{patient.pk}/upload/",
        "timeline": f"/lesions/{lesion.pk}/",
        "comparison": f"/lesions/{lesion.pk}/?compare={images[0].pk}&compare={images[1].pk}",
        "result-refer": f"/predictions/{records['refer'].pk}/",
        "result-cannot-assess": f"/predictions/{records['refused'].pk}/",
        "password-change": "/accounts/password_change/",
        "lesion-new": f"/patients/{patient.pk}/lesions/new/",
        "lesion-edit": f"/lesions/{lesion.pk}/edit/",
        "lesion-merge": f"/lesions/{lesion.pk}/merge/",
    }
    assert _visit_all(browser, live_server, "dr.clinician", pages, screenshot) == {}


def test_every_reviewer_page_fits_a_390_px_phone_without_sideways_scrolling(browser, live_server, records, screenshot):
    clinic = records["clinic"]
    pages = {
        "reviewer-result": f"/predictions/{records['refused'].pk}/",
        "case-review": "/governance/",
        "review-queue": f"/governance/clinics/{clinic.pk}/queue/",
        "audit": f"/governance/clinics/{clinic.pk}/audit/",
        "performance": f"/governance/clinics/{clinic.pk}/performance/",
        "models": "/governance/models/",
    }
    assert _visit_all(browser, live_server, "dr.reviewer", pages, screenshot) == {}


def test_the_sign_in_page_fits_a_phone_and_the_header_leaves_the_screen_to_the_page(
    browser, live_server, records, screenshot
):
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
