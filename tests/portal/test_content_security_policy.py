"""Every page is sent with a Content-Security-Policy that forbids inline script (issue 13), and no page needs
one: no <script> without src, no on*= handler, no javascript: URL. The browser tests run with the policy on."""

from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.portal.conftest import succeeded


def policy(response) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy", "")
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


class InlineScriptFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src") and attributes.get("type") != "application/json":
            self.found.append(f"<script> without src on line {self.getpos()[0]}")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{name}= on <{tag}> on line {self.getpos()[0]}")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"javascript: URL on <{tag}> on line {self.getpos()[0]}")


def inline_scripts(html: str) -> list[str]:
    finder = InlineScriptFinder()
    finder.feed(html)
    return finder.found


@pytest.fixture
def pages(staff, image) -> list[str]:
    prediction = succeeded(image)
    return [
        reverse("portal:dashboard"),
        reverse("portal:patient-list"),
        reverse("portal:patient-create"),
        reverse("portal:patient-detail", args=[staff.patient.pk]),
        reverse("portal:patient-edit", args=[staff.patient.pk]),
        reverse("portal:image-upload", args=[staff.patient.pk]),
        reverse("portal:lesion-timeline", args=[staff.lesion.pk]),
        reverse("portal:prediction-detail", args=[prediction.pk]),
        reverse("governance:queue", args=[staff.clinic.pk]),
        reverse("governance:audit", args=[staff.clinic.pk]),
        reverse("governance:performance", args=[staff.clinic.pk]),
        reverse("governance:models"),
    ]


def assert_strict_script_policy(response):
    directives = policy(response)
    assert directives.get("script-src") == ["'self'"], response.get("Content-Security-Policy")
    assert directives.get("object-src") == ["'none'"] and directives.get("base-uri") == ["'none'"]
    assert directives.get("frame-ancestors") == ["'none'"]


def test_every_portal_page_forbids_inline_script_and_uses_none(client, staff, pages):
    client.force_login(staff.admin)
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict_script_policy(response)
        assert inline_scripts(response.content.decode()) == [], url


@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/password_reset/", "/api/docs/"])
def test_pages_open_to_anyone_forbid_inline_script_and_use_none(client, db, url):
    response = client.get(url, secure=True)
    assert response.status_code == 200
    assert_strict_script_policy(response)
    assert inline_scripts(response.content.decode()) == []


def test_the_api_docs_start_up_code_is_a_script_file_of_this_server(client, db):
    html = client.get("/api/docs/").content.decode()
    assert "/api/docs/?script" in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_admin_site_forbids_inline_script_and_uses_none(client, db):
    operator = get_user_model().objects.create_superuser("operator", "op@example.org", "correct horse battery")
    client.force_login(operator)
    for url in (
        reverse("admin:index"),
        reverse("admin:predictions_patient_changelist"),
        reverse("admin:predictions_clinic_add"),
    ):
        response = client.get(url, secure=True)
        assert response.status_code == 200, url
        assert_strict_script_policy(response)
        assert inline_scripts(response.content.decode()) == [], url
