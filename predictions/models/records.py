import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from mlcore import SEXES, SITES

from ..validators import (
    MAX_AGE_YEARS, NOTES_MAX_LENGTH, capture_date_validate, date_of_birth_validate, notes_max_length,
)
from .clinics import Clinic

Sex = models.TextChoices("Sex", [(s.upper(), s) for s in SEXES])
# The HAM10000 `localization` vocabulary: what the model was trained on.
Site = models.TextChoices("Site", [(s.upper().replace(" ", "_"), s) for s in SITES])


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


class Lesion(models.Model):
    """One lesion of a patient, followed over time through its images."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lesions")
    site = models.CharField("anatomic site", max_length=32, choices=Site.choices, default=Site.UNKNOWN)
    label = models.CharField(max_length=200, blank=True, help_text="How the clinic tells this lesion apart.")
    notes = models.TextField(blank=True, max_length=NOTES_MAX_LENGTH, validators=[notes_max_length])
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    CLINIC_PATH = "patient__clinic"

    class Meta:
        ordering = ["patient_id", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(site__in=Site.values), name="lesion_site_valid")]

    def __str__(self) -> str:
        return f"{self.label or 'Lesion'} on {self.site} of {self.patient}"


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
    age = models.PositiveSmallIntegerField("age at capture", null=True, blank=True,
                                           validators=[MaxValueValidator(MAX_AGE_YEARS)])
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
