import uuid

from django.db import models

from mlcore import CLASS_NAMES, CLASSES, MALIGNANT_CLASSES

from .clinics import Clinic
from .records import LesionImage

DiagnosisClass = models.TextChoices("DiagnosisClass", [(c.upper(), (c, CLASS_NAMES[c])) for c in CLASSES])


class PredictionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class HeatmapStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # to be drawn once the prediction has succeeded
    STORED = "stored", "Stored"
    UNAVAILABLE = "unavailable", "Unavailable"  # attempts ran out, or the model could not explain its result


def heatmap_path(instance: "Prediction", filename: str) -> str:
    return f"heatmaps/{uuid.uuid4().hex}.png"


def heatmap_name(prediction: "Prediction") -> str:
    """The one storage name of a prediction's heatmap, so that a retried write replaces, never adds, a file.

    Derived from the row's id, not from anything about the patient; files are served only through views.
    """
    return f"heatmaps/{uuid.uuid5(uuid.NAMESPACE_OID, f'skinclinic-heatmap-{prediction.pk}').hex}.png"


class WorkerHeartbeat(models.Model):
    """A worker process's sign of life, written every few seconds while it runs (predictions.tasks).

    A running prediction whose worker has not been seen for a while was stranded by a crash: the sweep
    gives it back to the queue without waiting for the longest task time limit to pass.
    """

    worker = models.CharField(max_length=255, unique=True, help_text="The worker's name for this run of it.")
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker}, seen {self.seen_at:%Y-%m-%d %H:%M:%S}"


class Prediction(models.Model):
    """The model's output for one image under one model version; at most one per (image, model version).

    `queued_at` is when the prediction last entered the queue (the sweep re-enqueues by it);
    `claimed_by` is the id of the task run that holds it while running, `claimed_worker` the worker
    that runs it (whose heartbeat tells the sweep whether it is still alive). The heatmap follows a
    success on its own track: `heatmap_status`, its attempts, and when it was last sent to a worker.
    """

    image = models.ForeignKey(LesionImage, on_delete=models.PROTECT, related_name="predictions")
    # The image's patient's clinic, stored so that a clinic's list and its count read one index instead of
    # joining image, lesion and patient; set on save from the image, and on PostgreSQL a trigger refuses a
    # row whose clinic is not its image's (migration 0012). Indexed below with the list's order.
    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        help_text="The clinic of the image's patient (kept equal to it).",
    )
    model_version = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=PredictionStatus.choices, default=PredictionStatus.QUEUED)
    probabilities = models.JSONField(null=True, blank=True, help_text="Calibrated probability per class.")
    top_class = models.CharField(max_length=8, choices=DiagnosisClass.choices, blank=True)
    malignancy_risk = models.FloatField(null=True, blank=True, help_text="P(mel) + P(bcc) + P(akiec).")
    # What the model's gate and operating point said (None: made by a model without them, e.g. 1.x).
    assessable = models.BooleanField(
        null=True, blank=True, help_text="False when the model refused to judge the image (see reasons)."
    )
    assessment_reasons = models.JSONField(
        default=list, blank=True, help_text="Why the image cannot be assessed: [{code, message}]."
    )
    refer = models.BooleanField(
        null=True, blank=True, help_text="Malignancy risk at or above the model's referral threshold."
    )
    referral_threshold = models.FloatField(
        null=True, blank=True, help_text="The model's sensitivity-first referral threshold."
    )
    heatmap = models.FileField(upload_to=heatmap_path, max_length=255, blank=True)
    heatmap_status = models.CharField(max_length=16, choices=HeatmapStatus.choices, default=HeatmapStatus.PENDING)
    heatmap_attempts = models.PositiveSmallIntegerField(default=0)
    heatmap_queued_at = models.DateTimeField(null=True, blank=True)
    heatmap_error = models.TextField(blank=True, help_text="Why there is no heatmap, in words for a clinician.")
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_worker = models.CharField(max_length=255, blank=True)
    queued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    CLINIC_PATH = "clinic"

    class Meta:
        ordering = ["-queued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="prediction_unique_image_model_version"),
            models.CheckConstraint(
                condition=models.Q(status__in=PredictionStatus.values), name="prediction_status_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(status=PredictionStatus.SUCCEEDED)
                | models.Q(probabilities__isnull=False, malignancy_risk__isnull=False, finished_at__isnull=False)
                & ~models.Q(top_class=""),
                name="prediction_succeeded_has_result",
            ),
            models.CheckConstraint(
                condition=models.Q(heatmap_status__in=HeatmapStatus.values), name="prediction_heatmap_status_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(heatmap_status=HeatmapStatus.STORED) | ~models.Q(heatmap=""),
                name="prediction_stored_heatmap_has_file",
            ),
            models.CheckConstraint(
                condition=models.Q(malignancy_risk__isnull=True)
                | models.Q(malignancy_risk__gte=0, malignancy_risk__lte=1.000001),
                name="prediction_malignancy_risk_in_unit_interval",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "-queued_at", "-id"], name="prediction_clinic_queued_idx"),
            models.Index(fields=["status", "queued_at"], name="prediction_status_queued_idx"),
            models.Index(
                fields=["heatmap_status", "heatmap_queued_at"],
                name="prediction_heatmap_queue_idx",
                condition=models.Q(status="succeeded", heatmap_status="pending"),
            ),
        ]

    def save(self, *args, **kwargs):
        if self.clinic_id is None and self.image_id is not None:
            self.clinic_id = (
                LesionImage.objects.filter(pk=self.image_id).values_list("lesion__patient__clinic_id", flat=True).get()
            )
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"Prediction {self.pk} of image {self.image_id} by {self.model_version}: {self.status}"

    @staticmethod
    def retry_fields(now) -> dict:
        """The fields that queue a failed prediction again with a fresh budget of attempts (a clinician's retry,
        an operator's re-run alike)."""
        return {
            "status": PredictionStatus.QUEUED,
            "error": "",
            "attempts": 0,
            "claimed_by": "",
            "queued_at": now,
            "started_at": None,
            "finished_at": None,
        }

    @property
    def concern_class(self) -> str | None:
        """The malignant class with the highest probability when it is not the top class (the evidence a
        clinician asks for beside the top class's); None before a result, or when the top class is it."""
        probabilities = self.probabilities or {}
        malignant = [c for c in MALIGNANT_CLASSES if c in probabilities]
        if not malignant:
            return None
        concern = max(malignant, key=lambda c: probabilities[c])
        return None if concern == self.top_class else concern


def class_heatmap_name(prediction_id: int, class_code: str) -> str:
    """The one storage name of a prediction's heatmap for a class other than its top class (see heatmap_name)."""
    key = f"skinclinic-heatmap-{prediction_id}-{class_code}"
    return f"heatmaps/{uuid.uuid5(uuid.NAMESPACE_OID, key).hex}.png"


class PredictionHeatmap(models.Model):
    """The Grad-CAM evidence of one prediction for a class other than its top class (whose heatmap is the
    prediction's own `heatmap`): the class of concern, drawn with the top class, or one a clinician asked for.

    Drawn by the worker on the same track as the top class's: pending, then stored or unavailable.
    """

    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="class_heatmaps")
    class_code = models.CharField(max_length=8, choices=DiagnosisClass.choices)
    file = models.FileField(upload_to=heatmap_path, max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=HeatmapStatus.choices, default=HeatmapStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why there is no heatmap, in words for a clinician.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prediction", "class_code"]
        constraints = [
            models.UniqueConstraint(fields=["prediction", "class_code"], name="prediction_heatmap_one_per_class"),
            models.CheckConstraint(
                condition=models.Q(status__in=HeatmapStatus.values), name="prediction_heatmap_class_status_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(status=HeatmapStatus.STORED) | ~models.Q(file=""),
                name="prediction_heatmap_class_stored_has_file",
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "queued_at"],
                name="prediction_heatmap_class_queue",
                condition=models.Q(status="pending"),
            )
        ]

    CLINIC_PATH = "prediction__clinic"

    def __str__(self) -> str:
        return f"heatmap of prediction {self.prediction_id} for {self.class_code}"
