from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from .. import permissions
from ..faults import Duplicate
from ..models import Clinic, Lesion, Patient, Sex, Site
from ..models.audit import AuditAction
from .audit import audit_record


def _duplicate_mrn_refuse(exc: ValidationError) -> None:
    """Raise a patient's validation error as a Duplicate (409), with the same messages, when it is the clinic's
    unique MRN; return for any other error (the caller re-raises it as it is)."""
    errors = exc.error_dict.values() if hasattr(exc, "error_dict") else [exc.error_list]
    if any(error.code in ("unique", "unique_together") for error_list in errors for error in error_list):
        raise Duplicate(
            exc.error_dict if hasattr(exc, "error_dict") else exc.error_list,
            field="mrn",
            detail="A patient with this MRN already exists in the clinic.",
        ) from exc


@transaction.atomic
def patient_create(
    *,
    actor,
    clinic: Clinic,
    mrn: str,
    full_name: str,
    date_of_birth: datetime.date | None = None,
    sex: str = Sex.UNKNOWN,
) -> Patient:
    """Register a patient in a clinic. Raises ValidationError for a duplicate MRN or bad fields."""
    permissions.require(actor, "record.write", clinic)
    patient = Patient(
        clinic=clinic,
        mrn=mrn.strip(),
        full_name=full_name.strip(),
        date_of_birth=date_of_birth,
        sex=sex,
        created_by=actor,
    )
    try:
        patient.full_clean()
    except ValidationError as exc:
        _duplicate_mrn_refuse(exc)
        raise
    patient.save()
    audit_record(
        actor=actor, clinic=clinic, action=AuditAction.PATIENT_CREATE, target=patient, data={"mrn": patient.mrn}
    )
    return patient


@transaction.atomic
def lesion_create(
    *,
    actor,
    patient: Patient,
    site: str = Site.UNKNOWN,
    label: str = "",
    notes: str = "",
    laterality: str = "",
    body_view: str = "",
    body_x: float | None = None,
    body_y: float | None = None,
) -> Lesion:
    """Start following a lesion of a patient, optionally with its side and a point on the body map."""
    permissions.require(actor, "record.write", patient.clinic)
    lesion = Lesion(
        patient=patient,
        site=site,
        label=label.strip(),
        notes=notes,
        laterality=laterality,
        body_view=body_view,
        body_x=body_x,
        body_y=body_y,
        created_by=actor,
    )
    lesion.full_clean()
    lesion.save()
    audit_record(
        actor=actor,
        clinic=patient.clinic,
        action=AuditAction.LESION_CREATE,
        target=lesion,
        data={"patient_id": patient.pk, "site": site},
    )
    return lesion


PATIENT_EDITABLE_FIELDS = ("mrn", "full_name", "date_of_birth", "sex")


@transaction.atomic
def patient_update(*, actor, patient: Patient, **changes) -> Patient:
    """Change a patient's demographics (any of PATIENT_EDITABLE_FIELDS); audits the fields that changed.

    Raises ValidationError for a duplicate MRN or bad fields, and leaves the row as it was.
    """
    permissions.require(actor, "record.write", patient.clinic)
    unknown = set(changes) - set(PATIENT_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"patient_update() cannot change {', '.join(sorted(unknown))}")
    for text_field in ("mrn", "full_name"):
        if text_field in changes:
            changes[text_field] = changes[text_field].strip()
    before = {name: getattr(patient, name) for name in changes}
    changed = {name: value for name, value in changes.items() if before[name] != value}
    if not changed:
        return patient
    for name, value in changed.items():
        setattr(patient, name, value)
    try:
        patient.full_clean()
    except ValidationError as exc:
        for name, value in before.items():
            setattr(patient, name, value)
        _duplicate_mrn_refuse(exc)
        raise
    patient.save(update_fields=list(changed))
    audit_record(
        actor=actor,
        clinic=patient.clinic,
        action=AuditAction.PATIENT_UPDATE,
        target=patient,
        data={"changed": {name: [str(before[name]), str(value)] for name, value in changed.items()}},
    )
    return patient
