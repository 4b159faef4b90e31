import uuid

from django.db import models
from mlcore import CLASS_NAMES, CLASSES

from .records import LesionImage

DiagnosisClass = models.TextChoices("DiagnosisClass", [(c.upper(), (c, CLASS_NAMES[c])) for c in CLASSES])


class PredictionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


def heatmap_path(instance: "Prediction", filename: str) -> str:
    return f"heatmaps/{uuid.uuid4().hex}.png"


class Prediction(models.Model):
    """The model's output for one image under one model version; at most one per (image, model version).

    `queued_at` is when the prediction last entered the queue (the sweep re-enqueues by it);
    `claimed_by` is the id of the task run that holds it while running.
    """

    image = models.ForeignKey(LesionImage, on_delete=models.PROTECT, related_name="predictions")
    model_version = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=PredictionStatus.choices, default=PredictionStatus.QUEUED)
    probabilities = models.JSONField(null=True, blank=True, help_text="Calibrated probability per class.")
    top_class = models.CharField(max_length=8, choices=DiagnosisClass.choices, blank=True)
    malignancy_risk = models.FloatField(null=True, blank=True, help_text="P(mel) + P(bcc) + P(akiec).")
    # What the model's gate and operating point said (None: made by a model without them, e.g. 1.x).
    assessable = models.BooleanField(null=True, blank=True,
                                     help_text="False when the model refused to judge the image (see reasons).")
    assessment_reasons = models.JSONField(default=list, blank=True,
                                          help_text="Why the image cannot be assessed: [{code, message}].")
    refer = models.BooleanField(null=True, blank=True,
                                help_text="Malignancy risk at or above the model's referral threshold.")
    referral_threshold = models.FloatField(null=True, blank=True,
                                           help_text="The model's sensitivity-first referral threshold.")
    heatmap = models.FileField(upload_to=heatmap_path, max_length=255, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=64, blank=True)
    queued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    CLINIC_PATH = "image__lesion__patient__clinic"

    class Meta:
        ordering = ["-queued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="prediction_unique_image_model_version"),
            models.CheckConstraint(condition=models.Q(status__in=PredictionStatus.values), name="prediction_status_valid"),
            models.CheckConstraint(
                condition=~models.Q(status=PredictionStatus.SUCCEEDED)
                | models.Q(probabilities__isnull=False, malignancy_risk__isnull=False, finished_at__isnull=False)
                & ~models.Q(top_class=""),
                name="prediction_succeeded_has_result",
            ),
            models.CheckConstraint(
                condition=models.Q(malignancy_risk__isnull=True)
                | models.Q(malignancy_risk__gte=0, malignancy_risk__lte=1.000001),
                name="prediction_malignancy_risk_in_unit_interval",
            ),
        ]
        indexes = [models.Index(fields=["status", "queued_at"], name="prediction_status_queued_idx")]

    def __str__(self) -> str:
        return f"Prediction {self.pk} of image {self.image_id} by {self.model_version}: {self.status}"
