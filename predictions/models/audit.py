import contextlib
import contextvars
import dataclasses
import datetime
import hashlib
import hmac
import json
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from django.utils import timezone

from .clinics import Clinic

GENESIS_HASH = "0" * 64


class AuditAction(models.TextChoices):
    """Every action the audit trail records, in one place (as Zulip's AuditLogEventType lists its events).

    Services write these, never a free-form string; a webhook event is an audit action mapped to it in
    models/webhooks.py (AUDIT_ACTION_EVENTS), so renaming one here renames it everywhere it is used.
    """

    ADMIN_ADDITION = "admin.addition", "An operator added a record in the admin site"
    ADMIN_CHANGE = "admin.change", "An operator changed a record in the admin site"
    ADMIN_DELETION = "admin.deletion", "An operator deleted a record in the admin site"
    ADMIN_DOWNLOAD = "admin.download", "An operator downloaded a file from the admin site"
    ADMIN_LIST = "admin.list", "An operator listed records in the admin site"
    ADMIN_OTHER = "admin.other", "Another admin site action"
    ADMIN_VIEW = "admin.view", "An operator viewed a record in the admin site"
    API_TOKEN_CREATE = "api_token.create", "An API token was created"
    API_TOKEN_REVOKE = "api_token.revoke", "An API token was revoked"
    AUDIT_VIEW = "audit.view", "The audit trail was viewed"
    CLINIC_CREATE = "clinic.create", "A clinic was created"
    DASHBOARD_VIEW = "dashboard.view", "The dashboard was viewed"
    FHIR_EXPORT = "fhir.export", "A result was exported as FHIR"
    HEATMAP_DOWNLOAD = "heatmap.download", "A heatmap was downloaded"
    HEATMAP_REQUEST = "heatmap.request", "A class's heatmap was asked for"
    IMAGE_COMPARE = "image.compare", "Two images were compared"
    IMAGE_DOWNLOAD = "image.download", "An image was downloaded"
    IMAGE_DUPLICATE_WARNING = "image.duplicate_warning", "An upload was warned of a duplicate photograph"
    IMAGE_LIST = "image.list", "Images were listed"
    IMAGE_UPLOAD = "image.upload", "An image was uploaded"
    IMAGE_UPLOAD_DUPLICATE = "image.upload_duplicate", "The same image was uploaded again"
    IMAGE_VIEW = "image.view", "An image was viewed"
    LESION_ARCHIVE = "lesion.archive", "A lesion was archived"
    LESION_CREATE = "lesion.create", "A lesion was created"
    LESION_LIST = "lesion.list", "Lesions were listed"
    LESION_MERGE = "lesion.merge", "A lesion was merged into another"
    LESION_MERGE_INTO = "lesion.merge_into", "A lesion received another's images"
    LESION_REPORT = "lesion.report", "A lesion's report was downloaded"
    LESION_RESTORE = "lesion.restore", "A lesion was followed again"
    LESION_UPDATE = "lesion.update", "A lesion was corrected"
    LESION_VIEW = "lesion.view", "A lesion was viewed"
    LOGIN_FAILED = "login.failed", "A sign-in failed"
    LOGIN_UNLOCK = "login.unlock", "A sign-in lockout was lifted"
    MEMBERSHIP_CREATE = "membership.create", "A user was given a role in a clinic"
    MODEL_VERSION_ACTIVATE = "model_version.activate", "A model version was activated"
    MODEL_VERSION_REGISTER = "model_version.register", "A model version was registered"
    MODEL_VERSION_RERUN = "model_version.rerun", "Stored images were re-run on a model version"
    PATIENT_CREATE = "patient.create", "A patient was registered"
    PATIENT_LIST = "patient.list", "Patients were listed"
    PATIENT_UPDATE = "patient.update", "A patient's details were corrected"
    PATIENT_VIEW = "patient.view", "A patient was viewed"
    PERFORMANCE_EXPORT = "performance.export", "Performance figures were exported"
    PERFORMANCE_VIEW = "performance.view", "Performance figures were viewed"
    PREDICTION_FAILED = "prediction.failed", "A prediction failed for good"
    PREDICTION_LIST = "prediction.list", "Predictions were listed"
    PREDICTION_RELEASED = "prediction.released", "A prediction went back to the queue after a transient error"
    PREDICTION_REQUEST = "prediction.request", "A prediction was asked for"
    PREDICTION_REQUEUED = "prediction.requeued", "The sweep queued a stuck prediction again"
    PREDICTION_RERUN = "prediction.rerun", "An image was queued on another model version"
    PREDICTION_RETARGETED = "prediction.retargeted", "A queued prediction moved to the active model version"
    PREDICTION_RETRY = "prediction.retry", "A failed prediction was queued again"
    PREDICTION_SUCCEEDED = "prediction.succeeded", "A prediction succeeded"
    PREDICTION_SUPERSEDED = "prediction.superseded", "A queued prediction was superseded"
    PREDICTION_VIEW = "prediction.view", "A prediction was viewed"
    REVIEW_CREATE = "review.create", "A review was recorded"
    REVIEW_LIST = "review.list", "Reviews were listed"
    REVIEW_VIEW = "review.view", "A review was viewed"
    REVIEW_CASE_ASSIGN = "review_case.assign", "A review case was assigned"
    REVIEW_CASE_CLOSE = "review_case.close", "A review case was closed"
    REVIEW_CASE_OPEN = "review_case.open", "A review case was opened"
    REVIEW_CASE_REASON = "review_case.reason", "An open review case got another reason"
    REVIEW_CASE_UNASSIGN = "review_case.unassign", "A review case was taken back"
    REVIEW_QUEUE_VIEW = "review_queue.view", "The review queue was viewed"
    STORAGE_REPAIR = "storage.repair", "Stored files were repaired"
    WEBHOOK_CREATE = "webhook.create", "A webhook endpoint was registered"
    WEBHOOK_DELETE = "webhook.delete", "A webhook endpoint was removed"
    WEBHOOK_UPDATE = "webhook.update", "A webhook endpoint was changed"


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


def _chain_fields(event) -> dict:
    """What a record says, as any database gives it back: every field but the chain's own."""
    return {
        "created_at": event.created_at.astimezone(datetime.UTC).isoformat(timespec="microseconds"),
        "clinic_id": event.clinic_id,
        "actor_id": event.actor_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "data": _canonical(event.data),
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
    }


def _canonical_text(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _chain_text(event) -> bytes:
    return _canonical_text({"prev_hash": event.prev_hash, **_chain_fields(event)})


def chain_hash(event) -> str:
    """The unkeyed SHA-256 of an audit record (any object with AuditEvent's fields, historical models included):
    the format of records written before the chain was keyed.

    The format is permanent: records written with it must verify for as long as they are kept.
    """
    return hashlib.sha256(_chain_text(event)).hexdigest()


def chain_hmac(event, key: bytes) -> str:
    """The keyed hash of an audit record: HMAC-SHA256 of the same text under a key kept outside the database,
    so that someone who can write to the database cannot compute the hash of a record they forge.

    The format of keyed records written before the chain was linked (`linked` false); it is permanent too.
    """
    return hmac.new(key, _chain_text(event), hashlib.sha256).hexdigest()


# Marks the text of a linked record's MAC, so that no other MAC under the chain's key (a keyed record's hash,
# which is stored, or a checkpoint's) is ever a valid one: their texts have other top-level keys.
LINKED_FORMAT = 2


def chain_mac(event, key: bytes) -> str:
    """The MAC of a linked record: HMAC-SHA256, under the chain's key, of its fields without `prev_hash`.

    It binds what the record says to the key and is never stored: the record's hash (`chain_link`) is made
    from it, so a forger who cannot compute it can neither write a record nor link an existing one elsewhere.
    """
    return hmac.new(key, _canonical_text({"chain": LINKED_FORMAT, **_chain_fields(event)}), hashlib.sha256).hexdigest()


def chain_link(prev_hash: str, mac: str) -> str:
    """A linked record's hash: SHA-256 of the hash before it and its MAC, both hex. No key is needed to compute
    it from the MAC, so the database computes it while it holds the chain's lock (migration 0013's
    skinclinic_audit_append, `encode(sha256(convert_to(prev || mac, 'UTF8')), 'hex')`, the same bytes)."""
    return hashlib.sha256((prev_hash + mac).encode("ascii")).hexdigest()


def audit_chain_keys() -> list[bytes]:
    """The chain's keys, the current one first: AUDIT_CHAIN_KEY, else one derived from SECRET_KEY; then the
    fallbacks (AUDIT_CHAIN_KEY_FALLBACKS, or derived from SECRET_KEY_FALLBACKS), which only verify, so that
    rotating a key leaves the records written under the old one verifiable."""

    def derived(secret: str) -> bytes:
        # A key of its own, so that the audit chain never signs with SECRET_KEY itself.
        return hmac.new(secret.encode(), b"skinclinic.audit-chain.v1", hashlib.sha256).digest()

    if settings.SKINCLINIC_AUDIT_CHAIN_KEY:
        keys = [settings.SKINCLINIC_AUDIT_CHAIN_KEY.encode()]
        keys += [key.encode() for key in settings.SKINCLINIC_AUDIT_CHAIN_KEY_FALLBACKS]
    else:
        keys = [derived(settings.SECRET_KEY)] + [derived(secret) for secret in settings.SECRET_KEY_FALLBACKS]
    return keys


class AuditCheckpointError(Exception):
    """A checkpoint file that cannot be trusted (edited, or going backwards), or a chain too broken to pin."""


@dataclass(frozen=True)
class AuditCheckpoint:
    """The chain's head at a moment, kept outside the database: the last record's id and hash, how many records
    there were up to it, and the last record from before keying. One JSON line, with a MAC under the chain key."""

    written_at: str
    last_id: int
    head: str
    count: int
    legacy_until: int

    def _text(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":")).encode("ascii")

    def to_line(self, key: bytes) -> str:
        mac = hmac.new(key, self._text(), hashlib.sha256).hexdigest()
        return json.dumps({**dataclasses.asdict(self), "mac": mac}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_line(cls, line: str, keys: list[bytes]) -> "AuditCheckpoint":
        """Parse one line; ValueError unless its MAC verifies under one of `keys`."""
        fields = json.loads(line)
        mac = fields.pop("mac")
        checkpoint = cls(
            written_at=str(fields["written_at"]),
            last_id=int(fields["last_id"]),
            head=str(fields["head"]),
            count=int(fields["count"]),
            legacy_until=int(fields["legacy_until"]),
        )
        text = checkpoint._text()
        if not any(hmac.compare_digest(hmac.new(key, text, hashlib.sha256).hexdigest(), str(mac)) for key in keys):
            raise ValueError("its MAC does not verify under the chain's key (the checkpoint was altered)")
        return checkpoint


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
        On PostgreSQL services.audit appends with migration 0013's function instead."""
        return super().bulk_create(events)

    def update_or_create(self, *args, **kwargs):
        raise AuditAppendOnlyError("Audit records are append-only: they cannot be updated.")


class AuditEvent(models.Model):
    """An append-only record of a business action, written in the transaction of the action itself.

    Records form one hash chain in id order. A record written now is `linked`: `hash` is the SHA-256 of
    `prev_hash` and a MAC of the record's own fields under a key kept outside the database (`chain_mac`, not
    stored), so changing, deleting, inserting or reordering records breaks the chain, and a forger without the
    key cannot mend it (`manage.py audit_verify`, against the latest checkpoint). Older records keep their
    formats: keyed (`hash` the HMAC of `prev_hash` and the fields) and, before that, a plain SHA-256.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
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
    # False only for records written before the chain was keyed (their hash is a plain SHA-256); verification
    # accepts them only before the first keyed record and up to the checkpoints' `legacy_until`.
    keyed = models.BooleanField(default=False, editable=False)
    # True for records written since migration 0013 (keyed too): `hash` = chain_link(prev_hash, chain_mac(...)).
    # False in the database by default: a process of the version before (during a deploy) inserts keyed records
    # without naming the column.
    linked = models.BooleanField(default=False, db_default=False, editable=False)

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

    def compute_hash(self, key: bytes | None = None) -> str:
        """The hash this record must carry, from `prev_hash` and every field that says what happened, in its
        format: keyed with `key` (by default the current chain key) unless it is a record from before keying."""
        if self.linked:
            return chain_link(self.prev_hash, chain_mac(self, key if key is not None else audit_chain_keys()[0]))
        if not self.keyed:
            return chain_hash(self)
        return chain_hmac(self, key if key is not None else audit_chain_keys()[0])

    def hash_verifies(self, keys: list[bytes]) -> bool:
        """Whether the stored hash is this record's under one of `keys` (or, unkeyed, its SHA-256)."""
        if self.linked:  # always keyed: a linked record marked unkeyed was altered
            return self.keyed and any(
                hmac.compare_digest(chain_link(self.prev_hash, chain_mac(self, key)), self.hash) for key in keys
            )
        if not self.keyed:
            return hmac.compare_digest(chain_hash(self), self.hash)
        return any(hmac.compare_digest(chain_hmac(self, key), self.hash) for key in keys)

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditAppendOnlyError("Audit records are append-only: they cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditAppendOnlyError("Audit records are append-only: they cannot be deleted.")


# --- The database's own guard ------------------------------------------------------------------------------
# Triggers refuse UPDATE and DELETE of audit rows in SQL, past the app (migration 0006). On SQLite they are
# created again after every migrate (SQLite drops a table's triggers when Django rebuilds it), and they step
# aside only while this process empties the whole database (`manage.py flush`: test teardown, an operator's
# reset), which PostgreSQL does with TRUNCATE, a statement that row triggers do not see.
AUDIT_TABLE = "predictions_auditevent"
SQLITE_GUARD_FUNCTION = "skinclinic_audit_guard_suspended"
SQLITE_TRIGGERS_SQL = [
    f"""CREATE TRIGGER IF NOT EXISTS {AUDIT_TABLE}_no_{op.lower()} BEFORE {op} ON {AUDIT_TABLE}
        WHEN NOT {SQLITE_GUARD_FUNCTION}()
        BEGIN SELECT RAISE(ABORT, 'audit records are append-only: {op} on {AUDIT_TABLE} refused'); END;"""
    for op in ("UPDATE", "DELETE")
]
SQLITE_DROP_TRIGGERS_SQL = [f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_no_{op}" for op in ("update", "delete")]

_guard_suspended: contextvars.ContextVar[bool] = contextvars.ContextVar("skinclinic_audit_guard", default=False)


@contextlib.contextmanager
def audit_guard_suspended():
    """Within the block, this thread's SQLite connection may delete audit rows: for emptying the whole database
    only (the flush command). A program without this function registered (the sqlite3 shell) never may."""
    token = _guard_suspended.set(True)
    try:
        yield
    finally:
        _guard_suspended.reset(token)


@receiver(connection_created, dispatch_uid="predictions.audit.sqlite_guard_function")
def _register_sqlite_guard_function(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_GUARD_FUNCTION, 0, lambda: int(_guard_suspended.get()))


def audit_triggers_ensure(using_connection) -> None:
    """Create the SQLite triggers if a table rebuild dropped them (PostgreSQL's survive rebuilds)."""
    if using_connection.vendor == "sqlite":
        with using_connection.cursor() as cursor:
            for sql in SQLITE_TRIGGERS_SQL:
                cursor.execute(sql)
