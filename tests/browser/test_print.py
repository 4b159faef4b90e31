"""Printing a result page from the browser gives a clean record: the result, the image, the reviews and the
disclaimer on at most two A4 pages, without the navigation, buttons or the empty review form."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import SCREENSHOTS, sign_in


def _pdf_pages_and_text(pdf: bytes) -> tuple[int, str]:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext is not installed (apt-get install poppler-utils; .ci/run installs it)")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return text.count("\f"), " ".join(text.split())


def test_printing_a_result_page_leaves_out_navigation_buttons_and_the_review_form(page, records):
    sign_in(page, "dr.reviewer")  # a reviewer: the page has the review form to leave out
    page.goto(f"/predictions/{records['refused'].pk}/")
    assert page.get_by_role("button", name="Save review").is_visible()
    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="Save review").is_visible()
    assert not page.locator(".site-nav").is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "print-result.pdf").write_bytes(pdf)
    pages, text = _pdf_pages_and_text(pdf)
    assert pages <= 2, f"the print takes {pages} pages"
    assert "Cannot assess this image" in text and "The image is out of focus." in text
    assert "Decision support only" in text
    for absent in ("Sign out", "Add your review", "Save review", "Lesion timeline", "Dashboard"):
        assert absent not in text, absent
