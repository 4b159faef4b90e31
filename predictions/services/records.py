from __future__ import annotations

import datetime

from django.db import transaction

from ..models import Clinic, Lesion, Patient, Role, Sex, Site
from ..selectors import clinic_role_require
from .audit import audit_record

WRITERS = (Role.CLINICIAN, Role.ADMIN)


@transaction.atomic
def patient_create(
    *, actor, clinic: Clinic, mrn: str, full_name: str, date_of_birth: datetime.date | None = None,
    sex: str = Sex.UNKNOWN,
) -> Patient:
    """Register a patient in a clinic. Raises ValidationError for a duplicate MRN or bad fields."""
    clinic_role_require(user=actor, clinic=clinic, roles=WRITERS)
    patient = Patient(clinic=clinic, mrn=mrn.strip(), full_name=full_name.strip(), date_of_birth=date_of_birth,
                      sex=sex, created_by=actor)
    patient.full_clean()
    patient.save()
    audit_record(actor=actor, clinic=clinic, action="patient.create", target=patient, data={"mrn": patient.mrn})
    return patient


@transaction.atomic
def lesion_create(*, actor, patient: Patient, site: str = Site.UNKNOWN, label: str = "", notes: str = "") -> Lesion:
    """Start following a lesion of a patient."""
    clinic_role_require(user=actor, clinic=patient.clinic, roles=WRITERS)
    lesion = Lesion(patient=patient, site=site, label=label.strip(), notes=notes, created_by=actor)
    lesion.full_clean()
    lesion.save()
    audit_record(actor=actor, clinic=patient.clinic, action="lesion.create", target=lesion,
                 data={"patient_id": patient.pk, "site": site})
    return lesion
