"""Patients and lesions over the API: each role, another clinic's user, filters, ordering and paging."""

import datetime

import pytest

from predictions.models import AuditEvent, Lesion, Patient
from tests.predictions.factories import ClinicFactory, LesionFactory, MembershipFactory, PatientFactory

from .conftest import EVERYONE, ROLES, token_client

pytestmark = pytest.mark.django_db

PATIENTS = "/api/v1/patients"


@pytest.mark.parametrize("role", ROLES)
def test_members_of_each_role_list_and_read_their_clinics_patients(api, staff, role):
    PatientFactory(clinic=staff.other_clinic)
    body = api(role).get(PATIENTS).json()
    assert body["count"] == 1
    [patient] = body["results"]
    assert patient["id"] == staff.patient.pk and patient["mrn"] == staff.patient.mrn
    assert patient["clinic"] == staff.clinic.slug
    assert patient["url"] == f"http://testserver/api/v1/patients/{staff.patient.pk}"
    assert api(role).get(patient["url"]).json() == patient


def test_another_clinics_user_gets_404_for_the_patient_and_its_lesions(api, staff):
    client = api("outsider")
    for path in (
        f"{PATIENTS}/{staff.patient.pk}",
        f"{PATIENTS}/{staff.patient.pk}/lesions",
        f"/api/v1/lesions/{staff.lesion.pk}",
        f"/api/v1/lesions/{staff.lesion.pk}/images",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert staff.patient.full_name not in response.content.decode()
    assert client.patch(f"{PATIENTS}/{staff.patient.pk}", {"full_name": "Taken"}).status_code == 404
    assert client.post(f"{PATIENTS}/{staff.patient.pk}/lesions", {"site": "back"}).status_code == 404
    assert client.get(PATIENTS).json()["count"] == 0


@pytest.mark.parametrize("role,expected", [("clinician", 201), ("admin", 201), ("reviewer", 403)])
def test_clinicians_and_admins_register_patients_and_reviewers_may_not(api, staff, role, expected):
    response = api(role).post(
        PATIENTS, {"mrn": "NEW-1", "full_name": "  New Patient ", "date_of_birth": "1980-02-03", "sex": "female"}
    )
    assert response.status_code == expected, response.json()
    if expected == 201:
        body = response.json()
        assert body["full_name"] == "New Patient" and body["clinic"] == staff.clinic.slug
        assert response["Location"] == body["url"]
        patient = Patient.objects.get(pk=body["id"])
        assert patient.created_by == staff.role(role)
        assert AuditEvent.objects.filter(action="patient.create", target_id=str(patient.pk)).exists()
    else:
        assert not Patient.objects.filter(mrn="NEW-1").exists()


def test_a_duplicate_mrn_in_the_clinic_is_a_409_conflict(api, staff):
    response = api("clinician").post(PATIENTS, {"mrn": staff.patient.mrn, "full_name": "Twin"})
    assert response.status_code == 409
    assert response.json()["errors"] == {"mrn": ["A patient with this MRN already exists in the clinic."]}


def test_the_same_mrn_in_another_clinic_is_fine(api, staff):
    PatientFactory(clinic=staff.other_clinic, mrn="SHARED")
    assert api("clinician").post(PATIENTS, {"mrn": "SHARED", "full_name": "Ours"}).status_code == 201


def test_a_member_of_several_clinics_names_the_clinic(staff):
    second = ClinicFactory()
    MembershipFactory(user=staff.clinician, clinic=second, role="clinician")
    client = token_client(staff.clinician)
    response = client.post(PATIENTS, {"mrn": "M-1", "full_name": "Somebody"})
    assert response.status_code == 400 and "clinic" in response.json()["errors"]
    response = client.post(PATIENTS, {"mrn": "M-1", "full_name": "Somebody", "clinic": second.slug})
    assert response.status_code == 201 and response.json()["clinic"] == second.slug
    response = client.post(PATIENTS, {"mrn": "M-2", "full_name": "Somebody", "clinic": staff.other_clinic.slug})
    assert response.status_code == 400
    assert response.json()["errors"] == {"clinic": ["No clinic of yours has this slug."]}


@pytest.mark.parametrize("role,expected", [("clinician", 200), ("admin", 200), ("reviewer", 403)])
def test_correcting_a_patient_is_for_clinicians_and_admins(api, staff, role, expected):
    response = api(role).patch(f"{PATIENTS}/{staff.patient.pk}", {"full_name": "Corrected Name"})
    assert response.status_code == expected
    staff.patient.refresh_from_db()
    assert (staff.patient.full_name == "Corrected Name") == (expected == 200)


def test_changing_the_mrn_to_one_in_use_is_409_and_changes_nothing(api, staff):
    other = PatientFactory(clinic=staff.clinic, created_by=staff.clinician)
    response = api("clinician").patch(f"{PATIENTS}/{staff.patient.pk}", {"mrn": other.mrn, "full_name": "X"})
    assert response.status_code == 409
    staff.patient.refresh_from_db()
    assert staff.patient.full_name != "X"


def test_patients_filter_by_mrn_name_birth_dates_and_creation(api, staff):
    a = PatientFactory(
        clinic=staff.clinic, mrn="A-100", full_name="Alice Able", date_of_birth=datetime.date(1950, 1, 1)
    )
    b = PatientFactory(clinic=staff.clinic, mrn="B-200", full_name="Bob Baker", date_of_birth=datetime.date(1990, 6, 1))
    client = api("clinician")

    def ids(query):
        response = client.get(PATIENTS + query)
        assert response.status_code == 200, response.json()
        return {p["id"] for p in response.json()["results"]}

    assert ids("?mrn=A-100") == {a.pk}
    assert ids("?mrn_contains=200") == {b.pk}
    assert ids("?name=baker") == {b.pk}
    assert ids("?born_after=1960-01-01&born_before=2000-01-01") == {b.pk}
    assert ids("?born_before=1960-01-01") == {a.pk}
    assert ids("?created_after=2000-01-01T00:00:00Z") == {staff.patient.pk, a.pk, b.pk}
    assert ids("?created_before=2000-01-01T00:00:00Z") == set()
    assert ids(f"?clinic={staff.other_clinic.slug}") == set()


def test_patients_order_and_page(api, staff):
    for n in range(4):
        PatientFactory(clinic=staff.clinic, mrn=f"P-{n}", full_name=f"Zed {n}")
    client = api("clinician")
    body = client.get(PATIENTS + "?ordering=-mrn&page_size=2").json()
    assert body["count"] == 5 and len(body["results"]) == 2
    assert [p["mrn"] for p in body["results"]] == sorted(
        (p.mrn for p in Patient.objects.filter(clinic=staff.clinic)), reverse=True
    )[:2]
    assert body["next"].endswith("page=2&page_size=2") or "page=2" in body["next"]
    assert client.get(PATIENTS + "?page=99").status_code == 404
    assert client.get(PATIENTS + "?ordering=not_a_field").status_code == 200  # unknown orderings are ignored


def test_bad_filter_values_are_400_with_the_field(api):
    response = api("clinician").get(PATIENTS + "?born_after=someday")
    assert response.status_code == 400
    assert "born_after" in response.json()["errors"] or "born" in response.json()["errors"]


@pytest.mark.parametrize("role", EVERYONE)
def test_lesions_of_a_patient_by_role(api, staff, role):
    LesionFactory(patient=PatientFactory(clinic=staff.other_clinic))
    response = api(role).get(f"{PATIENTS}/{staff.patient.pk}/lesions")
    if role == "outsider":
        assert response.status_code == 404
        return
    [lesion] = response.json()["results"]
    assert lesion["id"] == staff.lesion.pk and lesion["patient"] == staff.patient.pk and lesion["site"] == "back"
    assert lesion["images_url"].endswith(f"/api/v1/lesions/{staff.lesion.pk}/images")


@pytest.mark.parametrize("role,expected", [("clinician", 201), ("admin", 201), ("reviewer", 403), ("outsider", 404)])
def test_starting_a_lesion(api, staff, role, expected):
    response = api(role).post(f"{PATIENTS}/{staff.patient.pk}/lesions", {"site": "face", "label": "left cheek"})
    assert response.status_code == expected
    assert Lesion.objects.filter(label="left cheek").exists() == (expected == 201)


def test_a_lesion_on_an_unknown_site_is_400(api, staff):
    response = api("clinician").post(f"{PATIENTS}/{staff.patient.pk}/lesions", {"site": "elbow"})
    assert response.status_code == 400 and "site" in response.json()["errors"]


@pytest.mark.parametrize("role,expected", [("clinician", 200), ("reviewer", 403), ("outsider", 404)])
def test_correcting_a_lesion(api, staff, role, expected):
    response = api(role).patch(f"/api/v1/lesions/{staff.lesion.pk}", {"site": "chest", "notes": "grew"})
    assert response.status_code == expected
    staff.lesion.refresh_from_db()
    assert (staff.lesion.site == "chest") == (expected == 200)
    if expected == 200:
        assert AuditEvent.objects.filter(action="lesion.update", target_id=str(staff.lesion.pk)).exists()


def test_lesions_filter_by_site(api, staff):
    LesionFactory(patient=staff.patient, site="face")
    body = api("reviewer").get(f"{PATIENTS}/{staff.patient.pk}/lesions?site=face").json()
    assert [lesion["site"] for lesion in body["results"]] == ["face"]


def test_a_lesion_carries_its_side_body_map_point_and_archive_state_and_the_point_can_be_corrected(api, staff):
    url = f"/api/v1/lesions/{staff.lesion.pk}"
    body = api("clinician").get(url).json()
    assert (body["laterality"], body["body_view"], body["body_x"], body["archived_at"]) == ("", "", None, None)
    response = api("clinician").patch(
        url, {"laterality": "left", "body_view": "back", "body_x": 0.3, "body_y": 0.2}, format="json"
    )
    assert response.status_code == 200 and response.json()["body_view"] == "back"
    half = api("clinician").patch(url, {"body_view": "", "body_x": None}, format="json")  # body_y left alone
    assert half.status_code == 400
    staff.lesion.refresh_from_db()
    assert (staff.lesion.body_view, staff.lesion.body_x, staff.lesion.body_y) == ("back", 0.3, 0.2)


def test_an_archived_lesion_takes_no_new_images(api, staff):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from predictions.services.lesion_updates import lesion_archive
    from tests.predictions.images import jpeg_bytes

    lesion_archive(actor=staff.clinician, lesion=staff.lesion)
    response = api("clinician").post(
        f"/api/v1/lesions/{staff.lesion.pk}/images",
        {"file": SimpleUploadedFile("a.jpg", jpeg_bytes(), content_type="image/jpeg")},
        format="multipart",
    )
    assert response.status_code == 400 and "archived" in str(response.json())
    assert not staff.lesion.images.exists()
