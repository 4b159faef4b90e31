from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models


class ModelVersionQuerySet(models.QuerySet["ModelVersion"]):
    def active(self) -> ModelVersionQuerySet:
        """The version the workers run (at most one row): the one definition every read of it uses."""
        return self.filter(is_active=True)


class ModelVersion(models.Model):
    """A model the clinic may run: where its files are, what they hash to, and how well it did on val.

    At most one row is active (a partial unique constraint); the services keep it exactly one once the
    registry holds any version. `identifier` ("name:version") is what Prediction.model_version stores.
    """

    name = models.CharField(max_length=80)
    version = models.CharField(max_length=40)
    identifier = models.CharField(
        max_length=100, unique=True, editable=False, help_text="name:version, as stored on every prediction it makes."
    )
    checksum = models.CharField("weights SHA-256", max_length=64)
    # Empty means the model shipped inside mlcore, so moving the checkout does not break the registry.
    model_dir = models.CharField("model directory", max_length=500, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Val metrics from the model card (metrics.json).")
    model_card = models.TextField(blank=True)
    config = models.JSONField(default=dict, blank=True)
    registered_at = models.DateTimeField(auto_now_add=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    is_active = models.BooleanField(default=False, editable=False)
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-registered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="model_version_one_active"
            ),
            models.UniqueConstraint(fields=["name", "version"], name="model_version_unique_name_version"),
            models.CheckConstraint(
                condition=models.Q(checksum__regex=r"^[0-9a-f]{64}$"), name="model_version_checksum_hex"
            ),
            models.CheckConstraint(
                condition=models.Q(is_active=False) | models.Q(activated_at__isnull=False),
                name="model_version_active_has_activation_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.identifier}{' (active)' if self.is_active else ''}"

    def save(self, *args, **kwargs):
        self.identifier = f"{self.name}:{self.version}"
        super().save(*args, **kwargs)

    @property
    def files_dir(self) -> Path:
        """Where the version's files are: `model_dir`, or the model shipped in mlcore when that is empty."""
        from mlcore.modeldir import SHIPPED_MODEL_DIR

        return Path(self.model_dir) if self.model_dir else SHIPPED_MODEL_DIR

    def metric(self, key: str):
        """One headline val metric (balanced_accuracy, melanoma_auc, ...) or None."""
        value = self.metrics.get(key)
        return value if isinstance(value, (int, float)) else None
