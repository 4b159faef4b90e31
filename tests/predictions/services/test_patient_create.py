import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from predictions.models import AuditEvent, Lesion, Patient
from predictions.services import lesion_create, patient_create


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_clinicians_and_admins_register_patients_with_an_audit_record(staff, role):
    patient = patient_create(
        actor=staff.role(role),
        clinic=staff.clinic,
        mrn=" 000-123 ",
        full_name="Ada Lovelace",
        date_of_birth=datetime.date(1955, 12, 10),
        sex="female",
    )
    assert (patient.mrn, patient.clinic, patient.created_by) == ("000-123", staff.clinic, staff.role(role))
    event = AuditEvent.objects.get(action="patient.create", target_id=str(patient.pk))
    assert (event.actor, event.clinic, event.data) == (staff.role(role), staff.clinic, {"mrn": "000-123"})


def test_a_duplicate_medical_record_number_in_the_clinic_is_refused(staff):
    with pytest.raises(ValidationError, match="already exists"):
        patient_create(actor=staff.clinician, clinic=staff.clinic, mrn=staff.patient.mrn, full_name="Someone Else")
    assert Patient.objects.filter(mrn=staff.patient.mrn).count() == 1


def test_the_same_medical_record_number_in_another_clinic_is_another_patient(staff):
    patient = patient_create(actor=staff.outsider, clinic=staff.other_clinic, mrn=staff.patient.mrn, full_name="X Y")
    assert patient.clinic == staff.other_clinic


def test_an_empty_medical_record_number_is_refused(staff):
    with pytest.raises(ValidationError):
        patient_create(actor=staff.clinician, clinic=staff.clinic, mrn="  ", full_name="No Number")


@pytest.mark.parametrize("role", ["reviewer", "outsider"])
def test_reviewers_and_other_clinics_users_cannot_register_patients(staff, role):
    with pytest.raises(PermissionDenied):
        patient_create(actor=staff.role(role), clinic=staff.clinic, mrn="NEW-1", full_name="Not Allowed")
    assert not Patient.objects.filter(mrn="NEW-1").exists()
    assert not AuditEvent.objects.filter(action="patient.create", data__mrn="NEW-1").exists()


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_clinicians_and_admins_start_following_a_lesion(staff, role):
    lesion = lesion_create(actor=staff.role(role), patient=staff.patient, site="upper extremity", label="left arm")
    assert lesion.site == "upper extremity"
    assert AuditEvent.objects.filter(action="lesion.create", target_id=str(lesion.pk)).exists()


def test_a_lesion_site_outside_the_vocabulary_is_refused(staff):
    with pytest.raises(ValidationError):
        lesion_create(actor=staff.clinician, patient=staff.patient, site="elbow")


@pytest.mark.parametrize("role", ["reviewer", "outsider"])
def test_reviewers_and_other_clinics_users_cannot_add_lesions(staff, role):
    with pytest.raises(PermissionDenied):
        lesion_create(actor=staff.role(role), patient=staff.patient, site="back")
    assert Lesion.objects.filter(patient=staff.patient).count() == 1
