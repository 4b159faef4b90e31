"""The audit trail: one hash-chained (keyed), append-only record per action, written in the action's transaction.

Who acted and from where comes from the request (`audit_context`, set by AuditContextMiddleware), so
services record the IP address without passing the request around; tasks run with no context (system).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, models, transaction
from django.utils import timezone

from ..models import AuditEvent, Clinic
from ..models.audit import GENESIS_HASH, audit_chain_keys, chain_mac

_IP_ADDRESS_FIELD = AuditEvent._meta.get_field("ip_address")

_HEAD_SQL = f"SELECT hash FROM {AuditEvent._meta.db_table} ORDER BY id DESC LIMIT 1"
# Migration 0013's function appends records in one statement, one round trip: it takes the chain's advisory
# lock (held to the end of the transaction), reads the head and inserts the records linked to it in order. A
# constant statement with the records as one JSON array, so that no SQL is built per call.
_APPEND_SQL = "SELECT event_id, event_prev_hash, event_hash FROM skinclinic_audit_append(%s::jsonb, %s, %s::inet, %s)"


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


def _chain_head_locked() -> str:
    """The last record's hash, on SQLite inside audit_records' IMMEDIATE transaction, which already holds the
    database's write lock until its end: appends are serialised, so the chain never forks."""
    with connection.cursor() as cursor:
        cursor.execute(_HEAD_SQL)
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
    """Write audit events in order, chained to the last one, all or none; call it inside the action's
    transaction (a read, which has none, calls it in autocommit: its records are committed before it returns).
    On PostgreSQL they are one statement, with no transaction of its own (no BEGIN, no COMMIT, no savepoint);
    on SQLite an IMMEDIATE transaction (or savepoint) reads the head and inserts them."""
    if not entries:
        return []
    context = _context.get()
    now = timezone.now()
    key = audit_chain_keys()[0]
    # As the ORM would store it (an IPv6 address in its short form), so that the MAC is of the stored value.
    ip_address = _IP_ADDRESS_FIELD.get_prep_value(context.ip_address)
    events = []
    for entry in entries:
        actor, target = entry.actor, entry.target
        events.append(
            AuditEvent(
                clinic_id=entry.clinic.pk if entry.clinic is not None else entry.clinic_id,
                actor=actor if actor is not None and actor.is_authenticated else None,
                action=entry.action,
                target_type=target._meta.label_lower if target is not None else (entry.target_type or ""),
                target_id=str(target.pk) if target is not None else str(entry.target_id or ""),
                data=entry.data or {},
                created_at=now,
                ip_address=ip_address,
                user_agent=context.user_agent,
                keyed=True,
                linked=True,
            )
        )
    if connection.vendor == "postgresql":
        _append_postgresql(events, key)
        return events
    with transaction.atomic():
        prev_hash = _chain_head_locked()
        for event in events:
            event.prev_hash = prev_hash
            event.hash = prev_hash = event.compute_hash(key)
        return AuditEvent.objects.append_chained(events)


def _append_postgresql(events: list[AuditEvent], key: bytes) -> None:
    """Append the events with skinclinic_audit_append, each given with its MAC (only the app holds the key): the
    database links them to the head under the chain's lock, in one statement (atomic, so no transaction of its
    own is needed), and returns each one's id, prev_hash and hash."""
    first = events[0]  # one context and one time for all
    entries = [
        {
            "clinic_id": event.clinic_id,
            "actor_id": event.actor_id,
            "action": event.action,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "data": event.data,
            "mac": chain_mac(event, key),
        }
        for event in events
    ]
    with connection.cursor() as cursor:
        cursor.execute(_APPEND_SQL, [json.dumps(entries), first.created_at, first.ip_address, first.user_agent])
        rows = cursor.fetchall()
    for event, (pk, prev_hash, hash_) in zip(events, rows, strict=True):
        event.pk, event.prev_hash, event.hash = pk, prev_hash, hash_
        event._state.adding, event._state.db = False, connection.alias  # a stored row (save() refuses it)


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
    A read has no transaction of its own: on PostgreSQL its record is one statement, committed as it returns.
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
