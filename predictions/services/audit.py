"""The audit trail: one hash-chained (keyed), append-only record per action, written in the action's transaction.

Who acted and from where comes from the request (`audit_context`, set by AuditContextMiddleware), so
services record the IP address without passing the request around; tasks run with no context (system).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, models, transaction
from django.utils import timezone

from ..models import AuditEvent, Clinic
from ..models.audit import GENESIS_HASH, audit_chain_keys

# A fixed key for PostgreSQL's advisory lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 0x5C1A0D17


@dataclass(frozen=True)
class AuditContext:
    ip_address: str | None = None
    user_agent: str = ""


_context: contextvars.ContextVar[AuditContext] = contextvars.ContextVar("skinclinic_audit", default=AuditContext())


@contextlib.contextmanager
def audit_context(*, ip_address: str | None, user_agent: str = ""):
    """Within the block, audit records say they came from this address (the middleware wraps each request)."""
    token = _context.set(AuditContext(ip_address=ip_address or None, user_agent=(user_agent or "")[:300]))
    try:
        yield
    finally:
        _context.reset(token)


def _lock_chain_head() -> str:
    """Take the chain's lock until the end of the transaction and return the last record's hash.

    Plain SQL: every audited read runs this, and building the same two statements with the ORM costs
    more than running them.
    """
    with connection.cursor() as cursor:
        # On SQLite the IMMEDIATE transaction already holds the database's write lock.
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        # A statement of its own, after the lock: its snapshot sees every record committed before.
        cursor.execute(
            f"SELECT hash FROM {connection.ops.quote_name(AuditEvent._meta.db_table)} ORDER BY id DESC LIMIT 1"
        )
        row = cursor.fetchone()
    return row[0] if row else GENESIS_HASH


@dataclass(frozen=True)
class AuditEntry:
    """What one audit record says; `target` is the object acted on, or for something that is not one row
    (a list page, an export of many) `target_type` and `target_id`. `clinic_id` may stand for `clinic`."""

    actor: object
    clinic: Clinic | None
    action: str
    target: models.Model | None = None
    data: dict | None = None
    target_type: str | None = None
    target_id: str | None = None
    clinic_id: int | None = None


def audit_records(entries: Sequence[AuditEntry]) -> list[AuditEvent]:
    """Write audit events in order, chained to the last one, in one insert; call it inside the action's
    transaction. A worker storing a batch of results records them all at the cost of one."""
    if not entries:
        return []
    context = _context.get()
    now = timezone.now()
    key = audit_chain_keys()[0]
    with transaction.atomic():
        # Held to the end of the outer transaction: appends are serialised, so the chain never forks.
        prev_hash = _lock_chain_head()
        events = []
        for entry in entries:
            actor, target = entry.actor, entry.target
            event = AuditEvent(
                clinic_id=entry.clinic.pk if entry.clinic is not None else entry.clinic_id,
                actor=actor if actor is not None and actor.is_authenticated else None,
                action=entry.action,
                target_type=target._meta.label_lower if target is not None else (entry.target_type or ""),
                target_id=str(target.pk) if target is not None else str(entry.target_id or ""),
                data=entry.data or {},
                created_at=now,
                ip_address=context.ip_address,
                user_agent=context.user_agent,
                prev_hash=prev_hash,
                keyed=True,
                linked=True,
            )
            event.hash = prev_hash = event.compute_hash(key)
            events.append(event)
        return AuditEvent.objects.append_chained(events)


def audit_record(
    *,
    actor,
    clinic: Clinic | None,
    action: str,
    target: models.Model | None = None,
    data: dict | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
) -> AuditEvent:
    """Write one audit event, chained to the previous one; call it inside the transaction of the action.

    `target` is the object acted on; for something that is not one row (a list page, an export of many)
    pass `target_type` and `target_id` instead.
    """
    [event] = audit_records(
        [
            AuditEntry(
                actor=actor,
                clinic=clinic,
                action=action,
                target=target,
                data=data,
                target_type=target_type,
                target_id=target_id,
            )
        ]
    )
    return event


def audit_access_record(
    *,
    actor,
    clinic: Clinic | None = None,
    action: str,
    target: models.Model,
    via: str,
    data: dict | None = None,
    clinic_id: int | None = None,
) -> AuditEvent:
    """Record that `actor` saw or took patient data: a page, an API read, a download or an export.
    The clinic is `clinic`, or `clinic_id` (a read that did not load the clinic's row).

    Call it once the object was found in the actor's clinics (so another clinic's id, a 404, leaves no
    record) and before the response goes out. `via` says which door it came through ("portal", "api").
    A read has no transaction of its own: audit_record's is the record's.
    """
    [event] = audit_records(
        [
            AuditEntry(
                actor=actor,
                clinic=clinic,
                clinic_id=clinic_id,
                action=action,
                target=target,
                data={"via": via, **(data or {})},
            )
        ]
    )
    return event


def audit_list_access_record(
    *,
    actor,
    action: str,
    target_type: str,
    shown: Iterable[tuple[int, models.Model]],
    via: str,
) -> list[AuditEvent]:
    """Record that `actor` saw a list of patient data: `shown` pairs each row on the page with its clinic's id;
    `target_type` names what was listed (a model's label, or a page such as "dashboard").

    A list can span the actor's clinics, and each clinic's trail must show what of it was seen: one record
    per clinic, naming its rows by kind (`data.shown`, e.g. {"patient": [3, 5]}). An empty page records nothing.
    """
    by_clinic: dict[int, dict[str, list]] = {}
    for clinic_id, row in shown:
        ids = by_clinic.setdefault(clinic_id, {}).setdefault(row._meta.model_name, [])
        if row.pk not in ids:  # a row shown twice on one page (the dashboard's lists) is named once
            ids.append(row.pk)
    if not by_clinic:
        return []
    # One insert: a page across clinics is recorded whole or not at all.
    return audit_records(
        [
            AuditEntry(
                actor=actor,
                clinic=None,
                clinic_id=clinic_id,
                action=action,
                target_type=target_type,
                target_id="",
                data={"via": via, "shown": rows},
            )
            for clinic_id, rows in sorted(by_clinic.items())
        ]
    )
