"""Several photographs of one lesion uploaded at once, as the portal's upload page sends them."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction

from ..models import Lesion, LesionImage, Patient, Site
from .records import lesion_create
from .uploads import image_upload


@dataclass(frozen=True)
class StoredFile:
    name: str
    image: LesionImage
    created: bool  # False: the same bytes were already stored for this lesion


@dataclass(frozen=True)
class RefusedFile:
    name: str
    messages: list[str]


@dataclass
class ImageBatchResult:
    lesion: Lesion | None  # None when a new lesion was asked for and no file could be stored
    stored: list[StoredFile] = field(default_factory=list)
    refused: list[RefusedFile] = field(default_factory=list)


def _messages(error: ValidationError) -> list[str]:
    return (
        [message for messages in error.message_dict.values() for message in messages]
        if hasattr(error, "error_dict")
        else list(error.messages)
    )


@transaction.atomic
def image_batch_upload(
    *,
    actor,
    patient: Patient,
    files: Sequence[File],
    lesion: Lesion | None = None,
    new_lesion_site: str = Site.UNKNOWN,
    new_lesion_label: str = "",
    captured_at: datetime.date | None = None,
    age: int | None = None,
    site: str | None = None,
) -> ImageBatchResult:
    """Store each file as an image of `lesion` (or of a new lesion of the patient when `lesion` is None).

    Each file stands alone: one that is refused (too large, not an image, damaged) is reported with its
    reasons and the others are still stored and queued. A new lesion is kept only if at least one file
    was stored, so a batch of bad files leaves nothing behind.
    """
    if lesion is not None and lesion.patient_id != patient.pk:
        raise ValidationError({"lesion": "The lesion belongs to another patient."})
    if not files:
        raise ValidationError({"files": "Choose at least one image file."})
    is_new = lesion is None
    target = (
        lesion_create(actor=actor, patient=patient, site=new_lesion_site, label=new_lesion_label)
        if lesion is None
        else lesion
    )
    result = ImageBatchResult(lesion=target)
    # Any other error rolls the whole batch back, and with it the files stored so far (services.files).
    for upload in files:
        name = getattr(upload, "name", "") or "file"
        try:
            image, created = image_upload(
                actor=actor, lesion=target, file=upload, captured_at=captured_at, age=age, site=site
            )
        except ValidationError as exc:
            result.refused.append(RefusedFile(name=name, messages=_messages(exc)))
        else:
            result.stored.append(StoredFile(name=name, image=image, created=created))
    if is_new and not result.stored:
        transaction.set_rollback(True)
        result.lesion = None
    return result
