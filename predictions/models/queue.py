from django.conf import settings
from django.db import models

from ..validators import NOTES_MAX_LENGTH, notes_max_length
from .predictions import Prediction
from .records import LesionImage
from .reviews import Review


class ReviewReason(models.TextChoices):
    HIGH_RISK = "high_risk", "High malignancy risk"
    VERSION_DISAGREEMENT = "version_disagreement", "A newer model version disagrees"
    UNCERTAIN = "uncertain", "Uncertain prediction"
    FAILED = "failed", "Prediction failed"


class ReviewCaseState(models.TextChoices):
    NEW = "new", "New"
    IN_REVIEW = "in_review", "In review"
    DONE = "done", "Done"


class ReviewCase(models.Model):
    """An image waiting for a human: why (its reasons), how urgent (priority, higher first), and who has it.

    An image has at most one open (not done) case; new reasons join it. A case is done when a review of
    the image is recorded or a reviewer closes it.
    """

    image = models.ForeignKey(LesionImage, on_delete=models.PROTECT, related_name="review_cases")
    prediction = models.ForeignKey(
        Prediction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The prediction that last added a reason.",
    )
    state = models.CharField(max_length=16, choices=ReviewCaseState.choices, default=ReviewCaseState.NEW)
    priority = models.PositiveSmallIntegerField(default=0, help_text="Higher is more urgent.")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="review_cases"
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review = models.ForeignKey(
        Review,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The review that resolved the case.",
    )
    resolution = models.TextField(blank=True, max_length=NOTES_MAX_LENGTH, validators=[notes_max_length])

    CLINIC_PATH = "image__lesion__patient__clinic"

    class Meta:
        ordering = ["-priority", "opened_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["image"], condition=~models.Q(state="done"), name="review_case_one_open_per_image"
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=ReviewCaseState.values), name="review_case_state_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(state="done") | models.Q(closed_at__isnull=False),
                name="review_case_done_has_closed_at",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="in_review") | models.Q(assignee__isnull=False),
                name="review_case_in_review_has_assignee",
            ),
        ]
        indexes = [models.Index(fields=["state", "-priority", "opened_at"], name="review_case_queue_idx")]

    def __str__(self) -> str:
        return f"Review case {self.pk} of image {self.image_id}: {self.state}, priority {self.priority}"


class ReviewCaseReason(models.Model):
    """One reason a case is in the queue, with what triggered it (risk, probabilities, the two versions)."""

    case = models.ForeignKey(ReviewCase, on_delete=models.CASCADE, related_name="reasons")
    code = models.CharField(max_length=32, choices=ReviewReason.choices)
    prediction = models.ForeignKey(Prediction, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    priority = models.PositiveSmallIntegerField()
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    CLINIC_PATH = "case__image__lesion__patient__clinic"

    class Meta:
        ordering = ["-priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "code"], name="review_case_reason_unique_code"),
            models.CheckConstraint(
                condition=models.Q(code__in=ReviewReason.values), name="review_case_reason_code_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_code_display()} (priority {self.priority})"
