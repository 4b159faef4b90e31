from django.conf import settings
from django.db import models

from .clinics import Clinic


class AuditEvent(models.Model):
    """An append-only record of a business action, written in the transaction of the action itself."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="Empty for the system (the inference worker).",
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    CLINIC_PATH = "clinic"

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "created_at"], name="audit_clinic_created_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_type}:{self.target_id}"
