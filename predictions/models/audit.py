import datetime
import hashlib
import json

from django.conf import settings
from django.db import models
from django.dispatch import Signal
from django.utils import timezone

from .clinics import Clinic

GENESIS_HASH = "0" * 64

# Sent with `events` (a list of saved AuditEvent) each time records are appended: what the app derives
# from its trail (webhook events) follows the records, batch by batch.
audit_events_written = Signal()


class AuditAppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit record through the app."""


def _canonical(value):
    """JSON as any database gives it back: PostgreSQL's jsonb keeps numbers as decimals (1e+20 returns as
    the integer 100000000000000000000), so integral floats hash as integers; sort_keys fixes key order."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def chain_hash(event) -> str:
    """The hash of an audit record (any object with AuditEvent's fields, historical models included).

    The format is permanent: records written with it must verify for as long as they are kept.
    """
    created_at = event.created_at.astimezone(datetime.timezone.utc).isoformat(timespec="microseconds")
    body = {
        "prev_hash": event.prev_hash, "created_at": created_at, "clinic_id": event.clinic_id,
        "actor_id": event.actor_id, "action": event.action, "target_type": event.target_type,
        "target_id": event.target_id, "data": _canonical(event.data), "ip_address": event.ip_address,
        "user_agent": event.user_agent,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class AuditEventQuerySet(models.QuerySet):
    # Records are written only by services.audit.audit_record (which chains them); nothing rewrites them.
    def update(self, **kwargs):
        raise AuditAppendOnlyError("Audit records are append-only: they cannot be updated.")

    def delete(self):
        raise AuditAppendOnlyError("Audit records are append-only: they cannot be deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditAppendOnlyError("Audit records are append-only: they cannot be updated.")

    def bulk_create(self, objs, *args, **kwargs):
        raise AuditAppendOnlyError("Audit records are written only by audit_record() and audit_records(), chained.")

    def append_chained(self, events: list) -> list:
        """Insert records already chained by services.audit (which holds the chain's lock); nothing else calls it.

        Sends `audit_events_written` with the saved records (a bulk insert sends no post_save).
        """
        events = super().bulk_create(events)
        audit_events_written.send(sender=self.model, events=events)
        return events

    def update_or_create(self, *args, **kwargs):
        raise AuditAppendOnlyError("Audit records are append-only: they cannot be updated.")


class AuditEvent(models.Model):
    """An append-only record of a business action, written in the transaction of the action itself.

    Records form one hash chain in id order: `hash` is the SHA-256 of `prev_hash` and the record's own
    fields, so changing, deleting or inserting a record breaks the chain (`manage.py audit_verify`).
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="Empty for the system (the inference worker).",
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    # Set by audit_record before hashing (auto_now_add would overwrite the hashed value on save).
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    ip_address = models.GenericIPAddressField("from IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    prev_hash = models.CharField(max_length=64, unique=True, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    CLINIC_PATH = "clinic"

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "created_at"], name="audit_clinic_created_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_type}:{self.target_id}"

    def compute_hash(self) -> str:
        """The SHA-256 this record must carry, from `prev_hash` and every field that says what happened."""
        return chain_hash(self)

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditAppendOnlyError("Audit records are append-only: they cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditAppendOnlyError("Audit records are append-only: they cannot be deleted.")
