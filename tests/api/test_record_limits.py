"""Impossible values are refused at the door with a 400 naming the field, the same over the API, in the
portal and in the services, instead of being stored and failing later."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from predictions.models import LesionImage, Patient
from predictions.services import patient_create
from predictions.validators import NOTES_MAX_LENGTH
from tests.predictions.images import jpeg_bytes

pytestmark = pytest.mark.django_db

PATIENTS = "/api/v1/patients"
TOMORROW = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()


def field_errors(response, status=400) -> dict:
    assert response.status_code == status, response.content[:400]
    return response.json()["errors"]


@pytest.mark.parametrize("date_of_birth", ["0001-01-01", "1850-06-01", "2999-01-01", TOMORROW])
def test_an_impossible_date_of_birth_is_refused_on_create_and_on_edit(api, staff, date_of_birth):
    client = api("clinician")
    created = client.post(PATIENTS, {"mrn": "DOB-1", "full_name": "A B", "date_of_birth": date_of_birth})
    assert "date_of_birth" in field_errors(created)
    assert not Patient.objects.filter(mrn="DOB-1").exists()
    edited = client.patch(f"{PATIENTS}/{staff.patient.pk}", {"date_of_birth": date_of_birth})
    assert "date_of_birth" in field_errors(edited)
    staff.patient.refresh_from_db()
    assert staff.patient.date_of_birth != datetime.date.fromisoformat(date_of_birth)


def test_the_portal_and_the_services_refuse_the_same_date_of_birth(client, staff):
    with pytest.raises(ValidationError) as refused:
        patient_create(
            actor=staff.clinician,
            clinic=staff.clinic,
            mrn="DOB-2",
            full_name="A B",
            date_of_birth=datetime.date(1, 1, 1),
        )
    message = refused.value.message_dict["date_of_birth"][0]
    client.force_login(staff.clinician)
    response = client.post(
        reverse("portal:patient-create"),
        {
            "clinic": staff.clinic.pk,
            "mrn": "DOB-2",
            "full_name": "A B",
            "date_of_birth": "0001-01-01",
            "sex": "unknown",
        },
    )
    assert response.status_code == 200 and message in response.content.decode()
    assert not Patient.objects.filter(mrn="DOB-2").exists()


def test_the_oldest_plausible_date_of_birth_is_accepted_and_the_patients_uploads_work(api, staff):
    oldest = timezone.localdate().replace(year=timezone.localdate().year - 129).isoformat()
    patient = api("clinician").post(PATIENTS, {"mrn": "DOB-3", "full_name": "A B", "date_of_birth": oldest})
    assert patient.status_code == 201
    lesion = api("clinician").post(f"{PATIENTS}/{patient.json()['id']}/lesions", {"site": "back"}).json()
    upload = api("clinician").post(
        f"/api/v1/lesions/{lesion['id']}/images",
        {"file": SimpleUploadedFile("a.jpg", jpeg_bytes())},
        format="multipart",
    )
    assert upload.status_code == 202 and upload.json()["image"]["age"] in (128, 129)


@pytest.mark.parametrize(
    "captured_at,field", [(TOMORROW, "captured_at"), ("2999-12-31", "captured_at"), ("0001-01-01", "captured_at")]
)
def test_an_impossible_capture_date_is_refused_with_400_naming_it(api, staff, captured_at, field):
    response = api("clinician").post(
        f"/api/v1/lesions/{staff.lesion.pk}/images",
        {"file": SimpleUploadedFile("a.jpg", jpeg_bytes()), "captured_at": captured_at},
        format="multipart",
    )
    assert field in field_errors(response)
    assert not LesionImage.objects.exists()


def test_a_capture_date_before_the_patients_birth_is_refused(api, staff):
    staff.patient.date_of_birth = datetime.date(2000, 5, 1)
    staff.patient.save()
    response = api("clinician").post(
        f"/api/v1/lesions/{staff.lesion.pk}/images",
        {"file": SimpleUploadedFile("a.jpg", jpeg_bytes()), "captured_at": "1999-01-01"},
        format="multipart",
    )
    assert "date of birth" in field_errors(response)["captured_at"][0]


def test_an_age_no_one_reaches_is_refused_with_400_not_a_database_error(api, staff):
    response = api("clinician").post(
        f"/api/v1/lesions/{staff.lesion.pk}/images",
        {"file": SimpleUploadedFile("a.jpg", jpeg_bytes()), "age": 400},
        format="multipart",
    )
    assert "age" in field_errors(response)


def test_notes_longer_than_the_documented_limit_are_refused(api, staff, prediction):
    too_long = "x" * (NOTES_MAX_LENGTH + 1)
    lesion = api("clinician").post(f"{PATIENTS}/{staff.patient.pk}/lesions", {"site": "back", "notes": too_long})
    assert "notes" in field_errors(lesion)
    edit = api("clinician").patch(f"/api/v1/lesions/{staff.lesion.pk}", {"notes": "y" * 1_000_000})
    assert "notes" in field_errors(edit)
    review = api("reviewer").post(
        "/api/v1/reviews",
        {"image": prediction.image_id, "prediction": prediction.pk, "verdict": "agree", "notes": too_long},
    )
    assert "notes" in field_errors(review)
    at_limit = api("clinician").patch(f"/api/v1/lesions/{staff.lesion.pk}", {"notes": "z" * NOTES_MAX_LENGTH})
    assert at_limit.status_code == 200
