"""Webhooks: a clinic's endpoints, the events delivered to them, and every attempt at delivering one.

Events come from the audit trail: a service that records an auditable action mapped here (a prediction
that finishes, a review) emits its webhook event right there, in the same transaction
(services.webhooks.webhook_events_emit writes the deliveries: an outbox), so an event is sent if and only
if its action committed.
"""

import uuid

from django.conf import settings
from django.db import models

from .audit import AuditAction
from .clinics import Clinic


class WebhookEvent(models.TextChoices):
    PREDICTION_SUCCEEDED = "prediction.succeeded", "A prediction succeeded"
    PREDICTION_FAILED = "prediction.failed", "A prediction failed"
    REVIEW_CREATED = "review.created", "A review was recorded"


# The audit actions that are webhook events, and the event each one is.
AUDIT_ACTION_EVENTS = {
    AuditAction.PREDICTION_SUCCEEDED: WebhookEvent.PREDICTION_SUCCEEDED,
    AuditAction.PREDICTION_FAILED: WebhookEvent.PREDICTION_FAILED,
    AuditAction.REVIEW_CREATE: WebhookEvent.REVIEW_CREATED,
}


class WebhookEndpoint(models.Model):
    """A URL of a clinic's that receives the events it subscribes to, signed with its secret."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="The events sent here (a list of WebhookEvent values).")
    secret = models.CharField(max_length=100, help_text="Key of the HMAC-SHA256 signature of each body.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    CLINIC_PATH = "clinic"

    class Meta:
        ordering = ["clinic_id", "id"]

    def __str__(self) -> str:
        return f"Webhook {self.pk} of {self.clinic}: {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one endpoint: the exact body signed and sent, and where its delivery stands.

    `next_attempt_at` is when the next attempt is due; while an attempt runs it is pushed past the
    attempt's time limit, so the sweep resends only deliveries whose attempt was lost.
    """

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    event_id = models.UUIDField(default=uuid.uuid4)
    body = models.TextField(help_text="The JSON body exactly as signed and sent.")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    CLINIC_PATH = "endpoint__clinic"

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_unique_event"),
            models.CheckConstraint(
                condition=models.Q(status__in=DeliveryStatus.values), name="webhook_delivery_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx")]

    def __str__(self) -> str:
        return f"Delivery {self.pk} of {self.event} to endpoint {self.endpoint_id}: {self.status}"


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    WILL_RETRY = "will_retry", "Failed; will retry"
    GAVE_UP = "gave_up", "Failed; not retried"


class DeliveryError(models.TextChoices):
    """Everything a delivery log says went wrong. A fixed vocabulary: the log is read by clinic administrators,
    and an exception's text would tell them whether a port is open or what a name resolves to (the server
    log keeps the detail for operators)."""

    UNREACHABLE = "unreachable", "The endpoint could not be reached, or did not answer in time."
    TARGET_REFUSED = "target_refused", "The URL is not an allowed webhook target."
    DISABLED = "disabled", "The endpoint was disabled."
    ERROR_STATUS = "error_status", "The endpoint answered with an error status."


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, with what came back."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    response_status = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty when no response came (timeout, refused)."
    )
    error = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices)

    CLINIC_PATH = "delivery__endpoint__clinic"

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_unique_number")]

    def __str__(self) -> str:
        return f"Attempt {self.number} of delivery {self.delivery_id}: {self.response_status or self.error}"
