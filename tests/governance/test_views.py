"""The governance pages: the review queue (assign, close), the audit trail and the model versions,
for reviewers and administrators of the clinic only; every page view is itself audited."""

import pytest
from django.urls import reverse

from predictions.models import AuditEvent, ModelVersion, ReviewCase, ReviewCaseState
from tests.predictions.factories import LesionFactory

from .helpers import finished_prediction

pytestmark = pytest.mark.django_db

HIGH = {"mel": 0.85}


@pytest.fixture
def case(staff):
    return ReviewCase.objects.get(image=finished_prediction(lesion=staff.lesion, probabilities=HIGH).image)


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_the_queue_lists_the_clinics_cases_with_their_reasons(staff, client, case, role):
    client.force_login(staff.role(role))
    response = client.get(reverse("governance:queue", args=[staff.clinic.pk]), {"reason": "high_risk"})
    assert response.status_code == 200
    body = response.content.decode()
    assert staff.patient.full_name in body and "High malignancy risk" in body
    assert AuditEvent.objects.filter(action="review_queue.view", actor=staff.role(role), clinic=staff.clinic).exists()


def test_a_reviewer_assigns_a_case_and_closes_another_from_the_queue(staff, client, case):
    failed = ReviewCase.objects.get(image=finished_prediction(lesion=staff.lesion, fail="unreadable").image)
    client.force_login(staff.reviewer)
    response = client.post(
        reverse("governance:case-assign", args=[case.pk]), {"assignee": staff.reviewer.pk}, REMOTE_ADDR="198.51.100.3"
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.state, case.assignee) == (ReviewCaseState.IN_REVIEW, staff.reviewer)
    assert AuditEvent.objects.get(action="review_case.assign").ip_address == "198.51.100.3"

    client.post(reverse("governance:case-close", args=[failed.pk]), {"resolution": "New photograph requested."})
    failed.refresh_from_db()
    assert failed.state == ReviewCaseState.DONE and failed.resolution == "New photograph requested."

    mine = client.get(reverse("governance:queue", args=[staff.clinic.pk]), {"mine": "on"}).content.decode()
    assert f"image {case.image_id}" in mine and f"image {failed.image_id}" not in mine


def test_assigning_to_a_clinician_is_refused_with_a_message(staff, client, case):
    client.force_login(staff.admin)
    response = client.post(
        reverse("governance:case-assign", args=[case.pk]), {"assignee": staff.clinician.pk}, follow=True
    )
    assert "not a reviewer or administrator" in response.content.decode()
    case.refresh_from_db()
    assert case.state == ReviewCaseState.NEW


@pytest.mark.parametrize("role,status", [("clinician", 403), ("outsider", 404)])
def test_clinicians_are_refused_and_other_clinics_find_nothing(staff, client, case, role, status):
    client.force_login(staff.role(role))
    assert client.get(reverse("governance:queue", args=[staff.clinic.pk])).status_code == status
    assert client.get(reverse("governance:audit", args=[staff.clinic.pk])).status_code == status
    assert (
        client.post(reverse("governance:case-assign", args=[case.pk]), {"assignee": staff.role(role).pk}).status_code
        == status
    )
    assert client.post(reverse("governance:case-close", args=[case.pk]), {"resolution": "x"}).status_code == status
    case.refresh_from_db()
    assert case.state == ReviewCaseState.NEW


def test_the_audit_trail_page_filters_and_shows_who_from_where(staff, client):
    client.force_login(staff.clinician)
    client.get(
        reverse(
            "predictions:lesion-image-file",
            args=[finished_prediction(lesion=staff.lesion, probabilities=HIGH).image_id],
        ),
        REMOTE_ADDR="203.0.113.50",
    )
    client.force_login(staff.reviewer)
    response = client.get(reverse("governance:audit", args=[staff.clinic.pk]), {"action": "image.download"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "image.download" in body and "203.0.113.50" in body and staff.clinician.username in body
    assert "review_case.open" not in body
    viewed = AuditEvent.objects.get(action="audit.view")
    assert viewed.data["filters"] == {"action": "image.download"}


def test_the_model_versions_page_lists_the_registry(staff, client):
    ModelVersion.objects.create(
        name="m",
        version="1",
        checksum="a" * 64,
        is_active=True,
        activated_at="2026-01-01T00:00:00Z",
        metrics={"balanced_accuracy": 0.6123},
    )
    client.force_login(staff.reviewer)
    body = client.get(reverse("governance:models")).content.decode()
    assert "m:1" in body and "0.612" in body and "Active" in body
    client.force_login(staff.clinician)
    assert client.get(reverse("governance:models")).status_code == 403


def test_the_index_sends_a_reviewer_of_one_clinic_to_its_queue(staff, client):
    LesionFactory(patient__clinic=staff.other_clinic)
    client.force_login(staff.reviewer)
    response = client.get(reverse("governance:index"))
    assert response.status_code == 302 and response["Location"] == reverse("governance:queue", args=[staff.clinic.pk])


def test_the_portal_header_links_reviewers_and_admins_to_case_review(staff, client):
    link = f'href="{reverse("governance:index")}"'
    for role, shown in (("reviewer", True), ("admin", True), ("clinician", False)):
        client.force_login(staff.role(role))
        body = client.get(reverse("portal:dashboard")).content.decode()
        assert (body.count(link) == 1) is shown, role
        assert (link in body) is shown, role
