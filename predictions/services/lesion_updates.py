"""Changes to a lesion: corrections of its site, label, notes, side and body-map point (audited with the
fields that changed), archiving and restoring it, and merging two records of one lesion."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .. import permissions
from ..models import Lesion, LesionImage
from ..models.audit import AuditAction
from .audit import audit_record

LESION_EDITABLE_FIELDS = ("site", "label", "notes", "laterality", "body_view", "body_x", "body_y")


@transaction.atomic
def lesion_update(*, actor, lesion: Lesion, **changes) -> Lesion:
    """Change any of LESION_EDITABLE_FIELDS; raises ValidationError for bad values and leaves the row as it was."""
    permissions.require(actor, "record.write", lesion.patient.clinic)
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
    audit_record(
        actor=actor,
        clinic=lesion.patient.clinic,
        action=AuditAction.LESION_UPDATE,
        target=lesion,
        data={"changed": sorted(changed)},
    )
    return lesion


def _locked(lesion: Lesion) -> Lesion:
    return Lesion.objects.select_for_update(of=("self",)).select_related("patient__clinic").get(pk=lesion.pk)


@transaction.atomic
def lesion_archive(*, actor, lesion: Lesion) -> Lesion:
    """Stop following a lesion (excised, resolved, recorded twice): it leaves the patient's lists and map, and
    keeps its images, results and reviews."""
    lesion = _locked(lesion)
    permissions.require(actor, "record.write", lesion.patient.clinic)
    if lesion.archived_at is not None:
        raise ValidationError("The lesion is already archived.")
    lesion.archived_at, lesion.archived_by = timezone.now(), actor
    lesion.save(update_fields=["archived_at", "archived_by"])
    audit_record(actor=actor, clinic=lesion.patient.clinic, action=AuditAction.LESION_ARCHIVE, target=lesion, data={})
    return lesion


@transaction.atomic
def lesion_restore(*, actor, lesion: Lesion) -> Lesion:
    """Follow an archived lesion again (not one merged into another: its images have moved)."""
    lesion = _locked(lesion)
    permissions.require(actor, "record.write", lesion.patient.clinic)
    if lesion.merged_into_id is not None:
        raise ValidationError("The lesion was merged into another; its images are there now.")
    if lesion.archived_at is None:
        raise ValidationError("The lesion is not archived.")
    lesion.archived_at, lesion.archived_by = None, None
    lesion.save(update_fields=["archived_at", "archived_by"])
    audit_record(actor=actor, clinic=lesion.patient.clinic, action=AuditAction.LESION_RESTORE, target=lesion, data={})
    return lesion


@transaction.atomic
def lesion_merge(*, actor, source: Lesion, target: Lesion) -> Lesion:
    """Merge two records of the same lesion: `source`'s images (with their results and reviews) move to
    `target`, and `source` is archived as merged into it. Returns `target`.

    Both must be lesions of the same patient, followed (not archived). Refused when the same photograph is
    stored in both (one image per file per lesion): remove the doubt first.
    """
    if source.pk == target.pk:
        raise ValidationError({"target": "Choose another lesion to merge into."})
    # Lock both rows in id order so that two merges of the same pair cannot interleave.
    locked = {
        lesion.pk: lesion
        for lesion in Lesion.objects.select_for_update(of=("self",))
        .select_related("patient__clinic")
        .filter(pk__in=[source.pk, target.pk])
        .order_by("pk")
    }
    source, target = locked[source.pk], locked[target.pk]
    permissions.require(actor, "record.write", source.patient.clinic)
    if source.patient_id != target.patient_id:
        raise ValidationError({"target": "Only two lesions of the same patient can be merged."})
    if source.archived_at is not None or target.archived_at is not None:
        raise ValidationError({"target": "Restore an archived lesion before merging it."})
    images = LesionImage.objects.filter(lesion=source)
    shared = set(images.values_list("sha256", flat=True)) & set(
        LesionImage.objects.filter(lesion=target).values_list("sha256", flat=True)
    )
    if shared:
        raise ValidationError(
            {
                "target": f"{len(shared)} photograph{'s are' if len(shared) != 1 else ' is'} stored "
                f"in both lesions; the merge would hold it twice."
            }
        )
    moved = list(images.order_by("id").values_list("id", flat=True))
    images.update(lesion=target)
    source.archived_at, source.archived_by, source.merged_into = timezone.now(), actor, target
    source.save(update_fields=["archived_at", "archived_by", "merged_into"])
    clinic = source.patient.clinic
    audit_record(
        actor=actor,
        clinic=clinic,
        action=AuditAction.LESION_MERGE,
        target=source,
        data={"into": target.pk, "images": moved},
    )
    audit_record(
        actor=actor,
        clinic=clinic,
        action=AuditAction.LESION_MERGE_INTO,
        target=target,
        data={"from": source.pk, "images": moved},
    )
    return target
