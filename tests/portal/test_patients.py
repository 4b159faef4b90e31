"""Patients: the searchable list with lesion counts and the highest open risk, and registering and editing one."""

import datetime

import pytest
from django.urls import reverse

from predictions.models import AuditEvent, Patient, Review
from tests.predictions.factories import LesionFactory, LesionImageFactory, PatientFactory
from tests.query_counts import audit_write_queries

from .conftest import PROBABILITIES_CONFIDENT_NEVUS, PROBABILITIES_UNCERTAIN_MELANOMA, succeeded


def test_the_list_shows_mrn_name_birth_date_lesion_count_and_the_open_risk(client, staff, image):
    staff.patient.date_of_birth = datetime.date(1961, 4, 9)
    staff.patient.save()
    LesionFactory(patient=staff.patient)
    older = LesionImageFactory(lesion=staff.lesion, captured_at=datetime.date(2020, 1, 1))
    succeeded(older)  # low risk, but on an older image
    image.captured_at = datetime.date(2024, 5, 1)
    image.save()
    succeeded(image, PROBABILITIES_UNCERTAIN_MELANOMA)  # risk 0.48: the latest
    client.force_login(staff.reviewer)
    response = client.get(reverse("portal:patient-list"))
    row = next(p for p in response.context["page"].object_list if p.pk == staff.patient.pk)
    assert row.lesion_count == 2
    assert row.open_risk == pytest.approx(0.48)
    body = response.content.decode()
    assert staff.patient.mrn in body and staff.patient.full_name in body and "9 Apr 1961" in body
    assert "High" in body and "48.0%" in body


def test_the_list_shows_the_highest_open_risk_among_the_lesions_not_the_newest_images(client, staff, image):
    risky = succeeded(image, PROBABILITIES_UNCERTAIN_MELANOMA)  # 48%, on an older image of one lesion
    image.captured_at = datetime.date(2020, 1, 1)
    image.save()
    other_lesion = LesionFactory(patient=staff.patient)
    succeeded(
        LesionImageFactory(lesion=other_lesion, captured_at=datetime.date(2025, 1, 1)), PROBABILITIES_CONFIDENT_NEVUS
    )  # 6%, the patient's newest image
    client.force_login(staff.clinician)
    row = next(
        p for p in client.get(reverse("portal:patient-list")).context["page"].object_list if p.pk == staff.patient.pk
    )
    assert row.open_risk == pytest.approx(0.48)

    # Once the risky image is reviewed its risk is no longer open; the reviewed malignancy shows instead.
    Review.objects.create(
        image=image,
        prediction=risky,
        verdict="agree",
        diagnosis="mel",
        histopathology_confirmed=True,
        reviewer=staff.reviewer,
    )
    response = client.get(reverse("portal:patient-list"))
    row = next(p for p in response.context["page"].object_list if p.pk == staff.patient.pk)
    assert row.open_risk == pytest.approx(0.06)
    assert (row.reviewed_malignant_diagnosis, row.reviewed_malignant_histopathology) == ("mel", True)
    body = response.content.decode()
    assert "Histopathology:</span> <strong>Melanoma</strong>" in body


def test_a_patient_without_results_says_so(client, staff):
    client.force_login(staff.clinician)
    assert "No open result" in client.get(reverse("portal:patient-list")).content.decode()


def test_search_matches_name_or_mrn_case_insensitively(client, staff):
    PatientFactory(clinic=staff.clinic, full_name="Ada Lovelace", mrn="AL-1815", created_by=staff.clinician)
    PatientFactory(clinic=staff.clinic, full_name="Grace Hopper", mrn="GH-1906", created_by=staff.clinician)
    client.force_login(staff.clinician)
    for query in ("lovelace", "al-18"):
        names = [p.full_name for p in client.get(reverse("portal:patient-list"), {"q": query}).context["page"]]
        assert names == ["Ada Lovelace"]
    assert (
        "No patient’s name or MRN contains"
        in client.get(reverse("portal:patient-list"), {"q": "nobody"}).content.decode()
    )


def test_the_list_is_paginated_and_keeps_the_search(client, staff):
    for n in range(30):
        PatientFactory(clinic=staff.clinic, full_name=f"Smith {n:02d}", created_by=staff.clinician)
    client.force_login(staff.clinician)
    first = client.get(reverse("portal:patient-list"), {"q": "smith"})
    assert len(first.context["page"].object_list) == 25
    assert "q=smith&amp;page=2" in first.content.decode()
    second = client.get(reverse("portal:patient-list"), {"q": "smith", "page": 2})
    assert [p.full_name for p in second.context["page"]] == [f"Smith {n}" for n in range(25, 30)]


def test_the_list_costs_a_fixed_number_of_queries(client, staff, django_assert_max_num_queries):
    for _ in range(20):
        patient = PatientFactory(clinic=staff.clinic, created_by=staff.clinician)
        LesionImageFactory(lesion=LesionFactory(patient=patient))
    client.force_login(staff.clinician)
    with django_assert_max_num_queries(9 + audit_write_queries()):  # the list's clinic and audit record
        client.get(reverse("portal:patient-list"))


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_a_clinician_or_admin_registers_a_patient_in_their_clinic(client, staff, role):
    client.force_login(staff.role(role))
    response = client.post(
        reverse("portal:patient-create"),
        {
            "clinic": staff.clinic.pk,
            "mrn": "  MRN-777 ",
            "full_name": "New Person",
            "date_of_birth": "1980-02-29",
            "sex": "male",
        },
    )
    patient = Patient.objects.get(mrn="MRN-777")
    assert response.status_code == 302 and response["Location"] == reverse("portal:patient-detail", args=[patient.pk])
    assert (patient.clinic, patient.full_name, patient.date_of_birth, patient.sex) == (
        staff.clinic,
        "New Person",
        datetime.date(1980, 2, 29),
        "male",
    )
    assert AuditEvent.objects.filter(action="patient.create", target_id=str(patient.pk)).exists()


def test_the_form_explains_missing_and_impossible_values_and_keeps_what_was_typed(client, staff):
    client.force_login(staff.clinician)
    response = client.post(
        reverse("portal:patient-create"),
        {
            "clinic": staff.clinic.pk,
            "mrn": "  ",
            "full_name": "Kept Name",
            "date_of_birth": "2999-01-01",
            "sex": "female",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Please correct the following" in body
    assert "Enter the medical record number." in body
    assert "The date of birth cannot be in the future." in body
    assert 'value="Kept Name"' in body and 'value="2999-01-01"' in body
    assert not Patient.objects.filter(full_name="Kept Name").exists()


def test_a_duplicate_mrn_is_refused_on_the_mrn_field(client, staff):
    client.force_login(staff.clinician)
    response = client.post(
        reverse("portal:patient-create"),
        {"clinic": staff.clinic.pk, "mrn": staff.patient.mrn, "full_name": "Someone Else", "sex": "unknown"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["mrn"] == [
        "A patient with this medical record number already exists in this clinic."
    ]


def test_a_patient_cannot_be_registered_in_another_clinic(client, staff):
    client.force_login(staff.clinician)
    response = client.post(
        reverse("portal:patient-create"),
        {"clinic": staff.other_clinic.pk, "mrn": "X-1", "full_name": "Smuggled", "sex": "unknown"},
    )
    assert response.status_code == 200 and "clinic" in response.context["form"].errors
    assert not Patient.objects.filter(mrn="X-1").exists()


def test_a_reviewer_cannot_register_a_patient(client, staff):
    client.force_login(staff.reviewer)
    response = client.post(
        reverse("portal:patient-create"),
        {"clinic": staff.clinic.pk, "mrn": "R-1", "full_name": "Nope", "sex": "unknown"},
    )
    assert response.status_code == 403
    assert not Patient.objects.filter(mrn="R-1").exists()


def test_editing_changes_the_demographics_and_audits_what_changed(client, staff):
    client.force_login(staff.clinician)
    url = reverse("portal:patient-edit", args=[staff.patient.pk])
    assert f'value="{staff.patient.mrn}"' in client.get(url).content.decode()
    response = client.post(
        url, {"mrn": staff.patient.mrn, "full_name": "Renamed Person", "date_of_birth": "1950-06-01", "sex": "female"}
    )
    assert response.status_code == 302
    staff.patient.refresh_from_db()
    assert staff.patient.full_name == "Renamed Person" and staff.patient.date_of_birth == datetime.date(1950, 6, 1)
    event = AuditEvent.objects.get(action="patient.update", target_id=str(staff.patient.pk))
    assert set(event.data["changed"]) == {"full_name", "date_of_birth", "sex"}


def test_editing_to_a_taken_mrn_is_refused_and_changes_nothing(client, staff):
    other = PatientFactory(clinic=staff.clinic, created_by=staff.clinician)
    client.force_login(staff.admin)
    response = client.post(
        reverse("portal:patient-edit", args=[staff.patient.pk]),
        {"mrn": other.mrn, "full_name": "Changed", "sex": "unknown"},
    )
    assert response.status_code == 200 and "mrn" in response.context["form"].errors
    staff.patient.refresh_from_db()
    assert staff.patient.full_name != "Changed"


def test_a_reviewer_cannot_edit_a_patient(client, staff):
    client.force_login(staff.reviewer)
    response = client.post(
        reverse("portal:patient-edit", args=[staff.patient.pk]),
        {"mrn": "NEW", "full_name": "Changed", "sex": "unknown"},
    )
    assert response.status_code == 403


def test_the_patient_page_shows_each_lesion_with_thumbnail_site_latest_result_and_timeline_link(client, staff, image):
    prediction = succeeded(image, PROBABILITIES_UNCERTAIN_MELANOMA)
    empty = LesionFactory(patient=staff.patient, label="Untouched", site="face")
    client.force_login(staff.reviewer)
    body = client.get(reverse("portal:patient-detail", args=[staff.patient.pk])).content.decode()
    assert reverse("predictions:lesion-image-file", args=[image.pk]) in body
    assert reverse("portal:lesion-timeline", args=[staff.lesion.pk]) in body
    assert reverse("portal:lesion-timeline", args=[empty.pk]) in body
    assert reverse("portal:prediction-detail", args=[prediction.pk]) in body
    assert "Melanoma" in body and "High" in body and "Back" in body and "Face" in body
    assert "No image yet" in body  # the lesion without images
    assert "Upload images" not in body  # reviewers do not upload


def test_a_member_of_several_clinics_chooses_among_those_where_they_may_register_patients(client, staff):
    from tests.predictions.factories import ClinicFactory, MembershipFactory

    reviewing_only = ClinicFactory(name="Reviewing Only Clinic")
    second = ClinicFactory(name="Second Clinic")
    MembershipFactory(user=staff.clinician, clinic=reviewing_only, role="reviewer")
    MembershipFactory(user=staff.clinician, clinic=second, role="clinician")
    client.force_login(staff.clinician)
    field = client.get(reverse("portal:patient-create")).context["form"]["clinic"]
    assert set(field.field.queryset) == {staff.clinic, second}
    assert 'type="hidden"' not in str(field)  # a real choice, shown as a select
    client.post(
        reverse("portal:patient-create"),
        {"clinic": second.pk, "mrn": "S-1", "full_name": "In Second", "sex": "unknown"},
    )
    assert Patient.objects.get(mrn="S-1").clinic == second
    response = client.post(
        reverse("portal:patient-create"),
        {"clinic": reviewing_only.pk, "mrn": "S-2", "full_name": "Not Here", "sex": "unknown"},
    )
    assert "clinic" in response.context["form"].errors and not Patient.objects.filter(mrn="S-2").exists()
