"""Who reaches which page: anonymous visitors sign in first, other clinics get 404, roles decide writes."""

import pytest
from django.urls import reverse

from tests.predictions.factories import LesionFactory, LesionImageFactory, PatientFactory, PredictionFactory

from .conftest import ROLES


@pytest.fixture
def records(staff, image):
    prediction = PredictionFactory(image=image)
    return {"patient_id": staff.patient.pk, "lesion_id": staff.lesion.pk, "prediction_id": prediction.pk}


READ_PAGES = [
    ("portal:dashboard", []),
    ("portal:patient-list", []),
    ("portal:patient-detail", ["patient_id"]),
    ("portal:lesion-timeline", ["lesion_id"]),
    ("portal:prediction-detail", ["prediction_id"]),
    ("portal:prediction-result", ["prediction_id"]),
    ("portal:prediction-badge", ["prediction_id"]),
    ("portal:prediction-viewer", ["prediction_id"]),
]
WRITE_PAGES = [
    ("portal:patient-create", []),
    ("portal:patient-edit", ["patient_id"]),
    ("portal:image-upload", ["patient_id"]),
]
PAGES_OF_A_RECORD = [page for page in READ_PAGES + WRITE_PAGES if page[1]]


def url(records, name, keys):
    return reverse(name, args=[records[key] for key in keys])


@pytest.mark.parametrize("name, keys", READ_PAGES + WRITE_PAGES)
def test_an_anonymous_visitor_is_sent_to_sign_in_first(client, records, name, keys):
    target = url(records, name, keys)
    response = client.get(target)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={target}"


@pytest.mark.parametrize("name, keys", PAGES_OF_A_RECORD)
def test_a_user_of_another_clinic_gets_404_for_every_page_of_a_record(client, staff, records, name, keys):
    client.force_login(staff.outsider)
    response = client.get(url(records, name, keys))
    assert response.status_code == 404
    assert staff.patient.full_name not in response.content.decode()


@pytest.mark.parametrize("action", ["portal:prediction-retry", "portal:prediction-review"])
def test_posting_to_another_clinics_prediction_gets_404(client, staff, records, action):
    client.force_login(staff.outsider)
    assert client.post(reverse(action, args=[records["prediction_id"]]), {}).status_code == 404


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name, keys", READ_PAGES)
def test_members_of_each_role_read_every_page(client, staff, records, role, name, keys):
    client.force_login(staff.role(role))
    response = client.get(url(records, name, keys))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("role, status", [("clinician", 200), ("admin", 200), ("reviewer", 403)])
@pytest.mark.parametrize("name, keys", WRITE_PAGES)
def test_only_clinicians_and_admins_open_the_forms_that_write(client, staff, records, role, status, name, keys):
    client.force_login(staff.role(role))
    assert client.get(url(records, name, keys)).status_code == status


def test_the_patient_list_and_dashboard_show_only_the_users_clinic(client, staff, image):
    theirs = PatientFactory(clinic=staff.other_clinic, full_name="Zelda Elsewhere")
    LesionImageFactory(lesion=LesionFactory(patient=theirs))
    client.force_login(staff.clinician)
    for page in ("portal:patient-list", "portal:dashboard"):
        body = client.get(reverse(page)).content.decode()
        assert "Zelda Elsewhere" not in body
    assert staff.patient.full_name in client.get(reverse("portal:patient-list")).content.decode()


def test_a_user_without_a_clinic_sees_an_explanation_and_no_patients(client, user_without_clinic, staff):
    client.force_login(user_without_clinic)
    assert "not a member of any clinic" in client.get(reverse("portal:dashboard")).content.decode()
    body = client.get(reverse("portal:patient-list")).content.decode()
    assert staff.patient.full_name not in body and "New patient" not in body
    assert client.get(reverse("portal:patient-create")).status_code == 403


def test_retry_and_review_accept_only_post(client, staff, records):
    client.force_login(staff.admin)
    for action in ("portal:prediction-retry", "portal:prediction-review"):
        assert client.get(reverse(action, args=[records["prediction_id"]])).status_code == 405


def test_a_poll_after_the_session_ended_sends_the_whole_page_to_sign_in(client, records):
    response = client.get(
        reverse("portal:prediction-result", args=[records["prediction_id"]]),
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver/predictions/{records['prediction_id']}/"},
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{reverse('login')}?next=%2Fpredictions%2F{records['prediction_id']}%2F"
