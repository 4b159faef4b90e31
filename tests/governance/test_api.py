"""The performance endpoint of the REST API: the same figures as the page, for reviewers and admins only."""

import pytest

from predictions.models import AuditEvent
from predictions.selectors import performance_report
from tests.api.conftest import token_client

from .helpers import V1

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_reviewers_and_admins_get_the_figures_and_the_export_is_audited(staff, reviewed, role):
    user = staff.role(role)
    response = token_client(user).get(
        f"/api/v1/clinics/{staff.clinic.pk}/performance", {"version": V1}, REMOTE_ADDR="198.51.100.20"
    )
    assert response.status_code == 200
    expected = performance_report(user=user, clinic=staff.clinic, model_version=V1).as_dict()
    body = response.json()
    assert [v["model_version"] for v in body["model_versions"]] == [V1]
    assert body["model_versions"][0]["agreement_rate"] == expected["model_versions"][0]["agreement_rate"] == 0.5
    assert body["model_versions"][0]["confusion_matrix"] == expected["model_versions"][0]["confusion_matrix"]
    event = AuditEvent.objects.get(action="performance.export")
    assert (event.actor, event.data["format"], event.ip_address) == (user, "api", "198.51.100.20")


@pytest.mark.parametrize("role,status", [("clinician", 403), ("outsider", 404)])
def test_clinicians_are_refused_and_another_clinic_is_not_found(staff, reviewed, role, status):
    response = token_client(staff.role(role)).get(f"/api/v1/clinics/{staff.clinic.pk}/performance")
    assert response.status_code == status
    assert not AuditEvent.objects.filter(action="performance.export").exists()


def test_without_credentials_the_answer_is_401(staff):
    assert token_client(None).get(f"/api/v1/clinics/{staff.clinic.pk}/performance").status_code == 401
