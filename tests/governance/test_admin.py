"""The admin site: searchable, filterable lists of clinical records, a prediction's probabilities and heatmap,
actions that re-run predictions and assign reviews, and every admin view and change audited."""

import pytest
from django.urls import reverse

from predictions.models import AuditEvent, ModelVersion, Prediction, PredictionStatus, ReviewCase, ReviewCaseState

from .helpers import finished_prediction

pytestmark = pytest.mark.django_db

HIGH = {"mel": 0.85}


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def _classified_with_heatmap(staff):
    """A prediction run by the task, then its heatmap by the follow-up task (as a worker would)."""
    from predictions.tasks import prediction_heatmap_task, prediction_run_task
    from tests.predictions.factories import PredictionFactory

    prediction = PredictionFactory(image__lesion=staff.lesion)
    prediction_run_task.apply(args=[prediction.pk], task_id="t-1")
    prediction_heatmap_task.apply(args=[[prediction.pk]])
    prediction.refresh_from_db()
    assert prediction.heatmap
    return prediction


@pytest.mark.parametrize(
    "model", ["patient", "lesion", "lesionimage", "prediction", "review", "reviewcase", "auditevent", "modelversion"]
)
def test_each_list_searches_and_its_viewing_is_audited(staff, admin_client, operator, model):
    finished_prediction(lesion=staff.lesion, probabilities=HIGH)
    response = admin_client.get(
        reverse(f"admin:predictions_{model}_changelist"), {"q": staff.patient.mrn}, REMOTE_ADDR="192.0.2.10"
    )
    assert response.status_code == 200
    event = AuditEvent.objects.filter(action="admin.list", target_type=f"predictions.{model}").latest("id")
    assert (event.actor, event.ip_address, event.data["query"]) == (operator, "192.0.2.10", f"q={staff.patient.mrn}")


def test_a_prediction_page_shows_probabilities_and_heatmap_and_records_the_view(
    staff, admin_client, operator, fake_classifier
):
    prediction = _classified_with_heatmap(staff)
    body = admin_client.get(reverse("admin:predictions_prediction_change", args=[prediction.pk])).content.decode()
    assert "Melanoma" in body and "%" in body
    heatmap_url = reverse("admin:predictions_prediction_heatmap", args=[prediction.pk])
    assert heatmap_url in body
    view = AuditEvent.objects.get(action="admin.view", target_id=str(prediction.pk))
    assert (view.actor, view.clinic) == (operator, staff.clinic)

    response = admin_client.get(heatmap_url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert AuditEvent.objects.filter(action="admin.download", target_id=str(prediction.pk), actor=operator).exists()


def test_staff_who_are_not_operators_get_no_admin_files(staff, client, fake_classifier):
    prediction = _classified_with_heatmap(staff)
    staff.admin.is_staff = True
    staff.admin.save()
    client.force_login(staff.admin)  # staff without model permissions
    response = client.get(reverse("admin:predictions_prediction_heatmap", args=[prediction.pk]))
    assert response.status_code in (403, 404)
    assert not AuditEvent.objects.filter(action="admin.download").exists()


def test_the_rerun_action_queues_images_on_the_active_version(
    staff, admin_client, operator, django_capture_on_commit_callbacks
):
    done = finished_prediction(lesion=staff.lesion, probabilities=HIGH, version="old:1")
    ModelVersion.objects.create(
        name="new", version="2", checksum="b" * 64, is_active=True, activated_at="2026-01-01T00:00:00Z"
    )
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            reverse("admin:predictions_lesionimage_changelist"),
            {"action": "images_rerun", "_selected_action": [done.image_id]},
            follow=True,
        )
    assert "Queued on new:2: 1 new prediction" in response.content.decode()
    queued = Prediction.objects.get(image=done.image, model_version="new:2")
    assert queued.status == PredictionStatus.QUEUED and len(callbacks) == 1
    assert AuditEvent.objects.get(action="prediction.rerun", target_id=str(queued.pk)).actor == operator

    # From the prediction list, the same image is already queued: nothing more.
    response = admin_client.post(
        reverse("admin:predictions_prediction_changelist"),
        {"action": "predictions_rerun_action", "_selected_action": [done.pk]},
        follow=True,
    )
    assert "0 new prediction(s), 0 failed one(s) retried, 1 image(s) already done" in response.content.decode()


def test_the_assign_action_gives_cases_to_the_chosen_reviewer(staff, admin_client, operator):
    cases = [
        ReviewCase.objects.get(image=finished_prediction(lesion=staff.lesion, probabilities=HIGH).image)
        for _ in range(2)
    ]
    url = reverse("admin:predictions_reviewcase_changelist")
    admin_client.post(
        url, {"action": "assign_to_reviewer", "assignee": staff.reviewer.pk, "_selected_action": [c.pk for c in cases]}
    )
    assert set(ReviewCase.objects.values_list("state", "assignee")) == {(ReviewCaseState.IN_REVIEW, staff.reviewer.pk)}
    assert AuditEvent.objects.filter(action="review_case.assign", actor=operator).count() == 2

    response = admin_client.post(
        url,
        {"action": "assign_to_reviewer", "assignee": staff.clinician.pk, "_selected_action": [cases[0].pk]},
        follow=True,
    )
    assert "not a reviewer or administrator" in response.content.decode()
    admin_client.post(url, {"action": "give_back_to_queue", "_selected_action": [cases[0].pk]})
    cases[0].refresh_from_db()
    assert (cases[0].state, cases[0].assignee) == (ReviewCaseState.NEW, None)


def test_clinical_records_and_audit_records_cannot_be_changed_in_the_admin(staff, admin_client):
    finished_prediction(lesion=staff.lesion, probabilities=HIGH)
    event = AuditEvent.objects.latest("id")
    response = admin_client.post(reverse("admin:predictions_auditevent_change", args=[event.pk]), {"action": "forged"})
    assert response.status_code == 403
    delete_url = reverse("admin:predictions_auditevent_delete", args=[event.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == event.action


def test_admin_changes_are_audited_in_their_transaction(staff, admin_client, operator):
    url = reverse("admin:predictions_clinic_change", args=[staff.clinic.pk])
    response = admin_client.post(
        url,
        {
            "name": "Renamed Clinic",
            "slug": staff.clinic.slug,
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
        REMOTE_ADDR="192.0.2.99",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="admin.change")
    assert (event.actor, event.clinic, event.target_type, event.target_id, event.ip_address) == (
        operator,
        staff.clinic,
        "predictions.clinic",
        str(staff.clinic.pk),
        "192.0.2.99",
    )
    assert "Name" in event.data["change_message"]


def test_admin_deletions_are_audited_one_record_per_object(staff, admin_client, operator):
    from predictions.models import Membership

    reviewer, admin = (Membership.objects.get(user=staff.reviewer), Membership.objects.get(user=staff.admin))
    clinician = Membership.objects.get(user=staff.clinician)
    response = admin_client.post(
        reverse("admin:predictions_membership_changelist"),
        {"action": "delete_selected", "_selected_action": [reviewer.pk, admin.pk], "post": "yes"},
    )
    assert response.status_code == 302
    response = admin_client.post(reverse("admin:predictions_membership_delete", args=[clinician.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(clinic=staff.clinic).exists()
    deleted = AuditEvent.objects.filter(action="admin.deletion").order_by("target_id")
    assert sorted((e.target_id, e.actor, e.clinic) for e in deleted) == sorted(
        (str(m.pk), operator, staff.clinic) for m in (reviewer, admin, clinician)
    )
