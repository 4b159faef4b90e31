"""The performance figures are exported by one service: the governance page's JSON download and the API serve
the same body for the same filters, and audit both exports alike."""

import pytest
from django.urls import reverse

from predictions.models import AuditAction, AuditEvent
from tests.api.conftest import token_client

from .helpers import V1

pytestmark = pytest.mark.django_db


def test_the_page_download_and_the_api_serve_the_same_figures_and_audit_them_alike(staff, reviewed, client):
    client.force_login(staff.reviewer)
    page = client.get(
        reverse("governance:performance-json", args=[staff.clinic.pk]), {"version": V1, "histopathology": "on"}
    )
    api = token_client(staff.reviewer).get(
        f"/api/v1/clinics/{staff.clinic.pk}/performance", {"version": V1, "histopathology": "true"}
    )
    assert page.status_code == api.status_code == 200
    assert page.json() == api.json()
    exports = AuditEvent.objects.filter(action=AuditAction.PERFORMANCE_EXPORT).order_by("id")
    assert [e.data for e in exports] == [
        {"format": "json", "version": V1, "histopathology_only": True},
        {"format": "api", "version": V1, "histopathology_only": True},
    ]
