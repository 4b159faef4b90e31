"""Issue 16: every page asked for a missing /favicon.ico. Pages load with no request answered 404, the icon they
link is the app's SVG, and /favicon.ico (which pages without the link still ask for) leads to it. Desktop and
390x844; var/screenshots/site-icon-*.png."""

from __future__ import annotations

import pytest

from .conftest import sign_in

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
ICON_CHECK = """async () => {
    const link = document.querySelector('link[rel="icon"]');
    const linked = await fetch(link.href);
    const fallback = await fetch('/favicon.ico');
    return {type: link.type, status: linked.status, contentType: linked.headers.get('content-type'),
            svg: (await linked.text()).trim().startsWith('<svg'), fallbackStatus: fallback.status,
            fallbackUrl: new URL(fallback.url).pathname};
}"""


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_pages_load_their_icon_and_nothing_is_missing(browser, live_server, clinic_staff, screenshot, viewport):
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORTS[viewport])
    context.set_default_timeout(15_000)
    missing: list[str] = []
    try:
        page = context.new_page()
        page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
        page.goto("/accounts/login/")
        screenshot(page, f"site-icon-login-{viewport}")
        sign_in(page, "dr.clinician")
        for path in ("/", "/patients/"):
            page.goto(path)
            page.wait_for_load_state("networkidle")
            icon = page.evaluate(ICON_CHECK)
            assert icon == {
                "type": "image/svg+xml",
                "status": 200,
                "contentType": "image/svg+xml",
                "svg": True,
                "fallbackStatus": 200,
                "fallbackUrl": "/static/portal/favicon.svg",
            }
        screenshot(page, f"site-icon-patients-{viewport}")
        assert missing == [], f"requests answered 404: {missing}"
    finally:
        context.close()
