"""Image upload: refuse anything that is not a sound image, store a clean re-encoding, queue its prediction."""

from __future__ import annotations

import datetime
import hashlib
import io
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image, ImageOps, UnidentifiedImageError

from .. import inference, permissions
from ..faults import TooLarge, UnsupportedMedia
from ..models import Lesion, LesionImage, Prediction, PredictionStatus, Site
from ..models.audit import AuditAction
from ..models.records import age_on
from .audit import audit_record
from .files import file_save
from .predictions import predictions_enqueue_on_commit

# Pillow decoders tried, by the format names Pillow reports.
ACCEPTED_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP")


@dataclass(frozen=True)
class _Encoded:
    data: bytes
    format: str
    extension: str
    width: int
    height: int


def _refuse(message: str, code: str, kind: type[ValidationError] = ValidationError) -> ValidationError:
    return kind({"file": ValidationError(message, code=code)})


def _read_limited(file: File) -> bytes:
    limit = settings.SKINCLINIC_MAX_UPLOAD_BYTES
    too_large = _refuse(f"The file is larger than the {limit // (1024 * 1024)} MB limit.", "too_large", TooLarge)
    if file.size is not None and file.size > limit:
        raise too_large
    file.seek(0)
    data = file.read(limit + 1)  # never trust the declared size alone
    if len(data) > limit:
        raise too_large
    if not data:
        raise _refuse("The file is empty.", "empty")
    return data


def _reencode(data: bytes) -> _Encoded:
    """Decode the upload strictly and write it anew: upright, first frame only, RGB, no EXIF or other metadata.

    JPEG stays JPEG (quality 95, no chroma subsampling) so photographs do not balloon; the other
    formats become lossless PNG.
    """
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as probe:
            # Judge the size from the header, before any pixel is decoded.
            if probe.width * probe.height > settings.SKINCLINIC_MAX_IMAGE_PIXELS:
                raise _refuse(
                    f"The image is {probe.width}x{probe.height}: too many pixels to open safely "
                    f"(the limit is {settings.SKINCLINIC_MAX_IMAGE_PIXELS:,}).",
                    "too_many_pixels",
                    TooLarge,
                )
            _check_shape(probe.width, probe.height)
            probe.verify()
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            source_format = image.format
            image.load()
            upright = ImageOps.exif_transpose(image)
    except ValidationError:
        raise
    except UnidentifiedImageError as exc:
        raise _refuse("The file is not a JPEG, PNG, TIFF or WebP image.", "not_an_image", UnsupportedMedia) from exc
    except Image.DecompressionBombError as exc:
        raise _refuse("The image has too many pixels to open safely.", "too_many_pixels", TooLarge) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _refuse(f"The image is damaged or truncated and cannot be read ({exc}).", "corrupt") from exc

    converted = _to_rgb(upright)
    # A fresh image from the pixels alone: nothing of the original's metadata (EXIF, ICC, text chunks) survives.
    clean = Image.frombytes("RGB", converted.size, converted.tobytes())
    buffer = io.BytesIO()
    if source_format in ("JPEG", "MPO"):  # MPO: multi-picture JPEG from phones
        clean.save(buffer, format="JPEG", quality=95, subsampling=0)
        stored_format, extension = "JPEG", "jpg"
    else:
        clean.save(buffer, format="PNG")
        stored_format, extension = "PNG", "png"
    return _Encoded(buffer.getvalue(), stored_format, extension, clean.width, clean.height)


def _check_shape(width: int, height: int) -> None:
    """Refuse what cannot be a photograph of a lesion: a sliver, or too few pixels to show one."""
    short, long = sorted((width, height))
    minimum = settings.SKINCLINIC_MIN_IMAGE_SIDE
    if short < minimum:
        raise _refuse(
            f"The image is {width}x{height}: too small to show a lesion (each side needs at least {minimum} pixels).",
            "too_small",
        )
    ratio = settings.SKINCLINIC_MAX_IMAGE_ASPECT_RATIO
    if long > short * ratio:
        raise _refuse(
            f"The image is {width}x{height}: too long and narrow to be a photograph of a lesion "
            f"(at most {ratio:g} times longer than it is wide).",
            "bad_shape",
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    """The image as RGB, transparent parts laid over white: what the model sees (mlcore's load_image) and
    what a viewer shows, in the one colour mode every stored upload has."""
    if image.mode in ("RGBA", "LA", "PA", "P") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image.convert("RGB")


@transaction.atomic
def image_upload(
    *,
    actor,
    lesion: Lesion,
    file: File,
    captured_at: datetime.date | None = None,
    age: int | None = None,
    sex: str | None = None,
    site: str | None = None,
) -> tuple[LesionImage, bool]:
    """Store an uploaded photograph of a lesion and queue its prediction; returns (image, created).

    The same bytes uploaded again for the lesion return the existing image with created False.
    A file that is too large, not an accepted image, damaged, a decompression bomb, or of a shape no
    lesion photograph has raises ValidationError and nothing is stored. The stored file is removed if
    the transaction that records it rolls back. Age, sex and site default to the patient's and lesion's.
    """
    patient = lesion.patient
    clinic = patient.clinic
    permissions.require(actor, "record.write", clinic)
    if lesion.archived_at is not None:
        raise ValidationError({"lesion": "The lesion is archived; follow it again before adding images."})
    data = _read_limited(file)
    digest = hashlib.sha256(data).hexdigest()

    existing = LesionImage.objects.filter(lesion=lesion, sha256=digest).first()
    if existing is not None:
        audit_record(
            actor=actor,
            clinic=clinic,
            action=AuditAction.IMAGE_UPLOAD_DUPLICATE,
            target=existing,
            data={"sha256": digest},
        )
        return existing, False

    if captured_at and patient.date_of_birth and captured_at < patient.date_of_birth:
        raise ValidationError(
            {
                "captured_at": ValidationError(
                    "The capture date is before the patient's date of birth.", code="before_birth"
                )
            }
        )
    encoded = _reencode(data)
    if age is None:
        age = age_on(patient.date_of_birth, captured_at or timezone.localdate())
    image = LesionImage(
        lesion=lesion,
        sha256=digest,
        width=encoded.width,
        height=encoded.height,
        format=encoded.format,
        size_bytes=len(encoded.data),
        captured_at=captured_at,
        uploaded_by=actor,
        age=age,
        sex=sex or patient.sex,
        site=site or lesion.site or Site.UNKNOWN,
    )
    # Field checks only: uniqueness was just looked up, and the database enforces the constraints.
    image.full_clean(exclude=["file"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            # The file lives as long as this savepoint and the transactions around it: removed on rollback.
            file_save(image.file, f"upload.{encoded.extension}", encoded.data)
            image.save()
    except IntegrityError:
        # The same bytes committed for this lesion by a concurrent upload since we looked.
        existing = LesionImage.objects.filter(lesion=lesion, sha256=digest).first()
        if existing is None:
            raise
        return existing, False
    prediction = Prediction.objects.create(
        image=image,
        clinic=clinic,
        model_version=inference.model_version(),
        status=PredictionStatus.QUEUED,
        queued_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        clinic=clinic,
        action=AuditAction.IMAGE_UPLOAD,
        target=image,
        data={
            "sha256": digest,
            "lesion_id": lesion.pk,
            "width": image.width,
            "height": image.height,
            "format": image.format,
            "prediction_id": prediction.pk,
            "model_version": prediction.model_version,
        },
    )
    predictions_enqueue_on_commit([prediction.pk])
    return image, True
