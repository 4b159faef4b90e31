"""Every page names an icon that the server has (issue 16: each page asked for a missing /favicon.ico)."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse


def _icon_href(html: str) -> str:
    found = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
    assert found, "the page links no SVG icon"
    return found.group(1)


@pytest.mark.parametrize("url", ["/accounts/login/", "/"])
def test_each_page_links_the_shipped_svg_icon(client, staff, url):
    if url == "/":
        client.force_login(staff.clinician)
    response = client.get(url)
    assert response.status_code == 200
    href = _icon_href(response.content.decode())
    assert href == "/static/portal/favicon.svg"
    path = finders.find("portal/favicon.svg")
    assert path, "the icon is not among the static files"
    with open(path) as fh:
        svg = fh.read()
    assert svg.lstrip().startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg


def test_favicon_ico_which_browsers_ask_for_by_default_redirects_to_the_icon(client, db):
    # The admin site, the API docs and the plain error pages have no icon link: browsers ask /favicon.ico.
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/portal/favicon.svg"


def test_the_icon_is_not_behind_sign_in(client, db):
    response = client.get(reverse("login"))
    assert "/static/portal/favicon.svg" in response.content.decode()
