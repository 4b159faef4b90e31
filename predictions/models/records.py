import datetime
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from mlcore import SEXES, SITES

from ..validators import (
    MAX_AGE_YEARS,
    NOTES_MAX_LENGTH,
    capture_date_validate,
    date_of_birth_validate,
    notes_max_length,
)
from .clinics import Clinic

# Built with the enum functional API from mlcore's vocabularies, so the model's words are defined once;
# django-stubs types only the TextChoices(value[, label]) member call, hence the ignores.
Sex = models.TextChoices("Sex", [(s.upper(), s) for s in SEXES])  # type: ignore[call-overload]
# The HAM10000 `localization` vocabulary: what the model was trained on.
Site = models.TextChoices("Site", [(s.upper().replace(" ", "_"), s) for s in SITES])  # type: ignore[call-overload]


def age_on(date_of_birth: datetime.date | None, on: datetime.date) -> int | None:
    """Whole years from a date of birth to `on` (None without a date of birth)."""
    if date_of_birth is None:
        return None
    return on.year - date_of_birth.year - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))


class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("medical record number", max_length=64)
    full_name = models.CharField(max_length=200)
    date_of_birth = models.DateField(null=True, blank=True, validators=[date_of_birth_validate])
    sex = models.CharField(max_length=8, choices=Sex.choices, default=Sex.UNKNOWN)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    CLINIC_PATH = "clinic"

    class Meta:
        ordering = ["full_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "mrn"], name="patient_unique_mrn_per_clinic"),
            models.CheckConstraint(condition=~models.Q(mrn=""), name="patient_mrn_not_empty"),
            models.CheckConstraint(condition=models.Q(sex__in=Sex.values), name="patient_sex_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} (MRN {self.mrn})"


class Laterality(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    MIDLINE = "midline", "Midline"


class BodyView(models.TextChoices):
    FRONT = "front", "Front"
    BACK = "back", "Back"


class Lesion(models.Model):
    """One lesion of a patient, followed over time through its images.

    Where it is: `site` (the 15 coarse HAM10000 sites the model was trained on), the patient's side
    (`laterality`), and a point on the portal's body map (`body_view`, with `body_x`, `body_y` in [0, 1]
    across and down that view's outline). An archived lesion is no longer followed; a merged one was archived
    into `merged_into`, which now holds its images.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lesions")
    site = models.CharField("anatomic site", max_length=32, choices=Site.choices, default=Site.UNKNOWN)
    label = models.CharField(max_length=200, blank=True, help_text="How the clinic tells this lesion apart.")
    notes = models.TextField(blank=True, max_length=NOTES_MAX_LENGTH, validators=[notes_max_length])
    laterality = models.CharField(
        max_length=8, choices=Laterality.choices, blank=True, help_text="The patient's side; empty when not recorded."
    )
    body_view = models.CharField("body map view", max_length=8, choices=BodyView.choices, blank=True)
    body_x = models.FloatField(
        "body map point across", null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    body_y = models.FloatField(
        "body map point down", null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    merged_into = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    CLINIC_PATH = "patient__clinic"

    class Meta:
        ordering = ["patient_id", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(site__in=Site.values), name="lesion_site_valid"),
            models.CheckConstraint(
                condition=models.Q(laterality__in=["", *Laterality.values]), name="lesion_laterality_valid"
            ),
            # A point is on one view, inside its outline's box; or there is none.
            models.CheckConstraint(
                condition=models.Q(body_view="", body_x__isnull=True, body_y__isnull=True)
                | models.Q(body_view__in=BodyView.values, body_x__gte=0, body_x__lte=1, body_y__gte=0, body_y__lte=1),
                name="lesion_body_point_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(merged_into__isnull=True) | models.Q(archived_at__isnull=False),
                name="lesion_merged_is_archived",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label or 'Lesion'} on {self.site} of {self.patient}"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def has_body_point(self) -> bool:
        return bool(self.body_view) and self.body_x is not None and self.body_y is not None

    @property
    def laterality_text(self) -> str:
        return (
            f"{self.get_laterality_display().lower()} side"
            if self.laterality in ("left", "right")
            else ("midline" if self.laterality == "midline" else "")
        )


def lesion_image_path(instance: "LesionImage", filename: str) -> str:
    # A random name: storage paths must not carry patient identifiers.
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"lesion-images/{uuid.uuid4().hex}.{extension}"


class LesionImage(models.Model):
    """A stored photograph of a lesion: a file the app wrote itself (re-encoded, metadata stripped).

    `sha256` is the digest of the bytes as uploaded, so the same file uploaded twice for a lesion is
    recognised before any decoding and stays one image; the stored file is a re-encoding of it.
    """

    lesion = models.ForeignKey(Lesion, on_delete=models.PROTECT, related_name="images")
    file = models.FileField(upload_to=lesion_image_path, max_length=255)
    sha256 = models.CharField("SHA-256 of the uploaded bytes", max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField("stored format", max_length=8)
    size_bytes = models.PositiveIntegerField("stored size in bytes")
    captured_at = models.DateField(null=True, blank=True, validators=[capture_date_validate])
    uploaded_at = models.DateTimeField(auto_now_add=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # What the model may use, as of the capture (defaults from the patient and lesion at upload).
    age = models.PositiveSmallIntegerField(
        "age at capture", null=True, blank=True, validators=[MaxValueValidator(MAX_AGE_YEARS)]
    )
    sex = models.CharField(max_length=8, choices=Sex.choices, default=Sex.UNKNOWN)
    site = models.CharField("anatomic site", max_length=32, choices=Site.choices, default=Site.UNKNOWN)

    CLINIC_PATH = "lesion__patient__clinic"

    class Meta:
        ordering = ["lesion_id", "-uploaded_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lesion", "sha256"], name="lesion_image_unique_sha256_per_lesion"),
            models.CheckConstraint(condition=models.Q(sha256__regex=r"^[0-9a-f]{64}$"), name="lesion_image_sha256_hex"),
            models.CheckConstraint(condition=models.Q(width__gt=0, height__gt=0), name="lesion_image_has_pixels"),
            models.CheckConstraint(condition=models.Q(age__lte=MAX_AGE_YEARS), name="lesion_image_age_plausible"),
            models.CheckConstraint(condition=models.Q(sex__in=Sex.values), name="lesion_image_sex_valid"),
            models.CheckConstraint(condition=models.Q(site__in=Site.values), name="lesion_image_site_valid"),
        ]

    def __str__(self) -> str:
        return f"Image {self.pk} of {self.lesion} ({self.width}x{self.height} {self.format})"

    @property
    def clinic(self) -> Clinic:
        """The clinic the image belongs to (its patient's): whose rights cover it and whose trail records it.
        Reads the lesion and patient unless the query selected them (`select_related(CLINIC_PATH)`)."""
        return self.lesion.patient.clinic
