"""Corrections to a lesion's anatomic site, label or notes, audited with the fields that changed."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Lesion
from ..selectors import clinic_role_require
from .audit import audit_record
from .records import WRITERS

LESION_EDITABLE_FIELDS = ("site", "label", "notes")


@transaction.atomic
def lesion_update(*, actor, lesion: Lesion, **changes) -> Lesion:
    """Change any of LESION_EDITABLE_FIELDS; raises ValidationError for bad values and leaves the row as it was."""
    clinic_role_require(user=actor, clinic=lesion.patient.clinic, roles=WRITERS)
    unknown = set(changes) - set(LESION_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"lesion_update() cannot change {', '.join(sorted(unknown))}")
    if "label" in changes:
        changes["label"] = changes["label"].strip()
    before = {name: getattr(lesion, name) for name in changes}
    changed = {name: value for name, value in changes.items() if before[name] != value}
    if not changed:
        return lesion
    for name, value in changed.items():
        setattr(lesion, name, value)
    try:
        lesion.full_clean()
    except ValidationError:
        for name, value in before.items():
            setattr(lesion, name, value)
        raise
    lesion.save(update_fields=list(changed))
    audit_record(actor=actor, clinic=lesion.patient.clinic, action="lesion.update", target=lesion,
                 data={"changed": sorted(changed)})
    return lesion
