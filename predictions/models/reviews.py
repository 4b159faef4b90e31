from django.conf import settings
from django.db import models

from ..validators import NOTES_MAX_LENGTH, notes_max_length
from .predictions import DiagnosisClass, Prediction
from .records import LesionImage


class Verdict(models.TextChoices):
    AGREE = "agree", "Agrees with the prediction"
    OVERRIDE = "override", "Overrides with another diagnosis"


class Review(models.Model):
    """A reviewer's diagnosis of an image, agreeing with a prediction or overriding it."""

    image = models.ForeignKey(LesionImage, on_delete=models.PROTECT, related_name="reviews")
    prediction = models.ForeignKey(Prediction, on_delete=models.PROTECT, null=True, blank=True, related_name="reviews")
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    diagnosis = models.CharField(max_length=8, choices=DiagnosisClass.choices)
    histopathology_confirmed = models.BooleanField(default=False)
    notes = models.TextField(blank=True, max_length=NOTES_MAX_LENGTH, validators=[notes_max_length])
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    CLINIC_PATH = "image__lesion__patient__clinic"

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(verdict__in=Verdict.values), name="review_verdict_valid"),
            models.CheckConstraint(
                condition=models.Q(diagnosis__in=DiagnosisClass.values), name="review_diagnosis_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(verdict=Verdict.AGREE) | models.Q(prediction__isnull=False),
                name="review_agree_needs_prediction",
            ),
        ]
        indexes = [models.Index(fields=["image", "created_at"], name="review_image_created_idx")]

    def __str__(self) -> str:
        return f"Review {self.pk} of image {self.image_id}: {self.verdict} {self.diagnosis}"
