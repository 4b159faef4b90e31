"""Verifying the audit chain, and checkpoints of its head written outside the database
(SKINCLINIC_AUDIT_CHECKPOINT_PATH).

Someone who can write to the database can cut records off the end of the chain, or (without the key)
at least try to rebuild it; a head kept where they cannot write shows both. Beat writes one every
AUDIT_CHECKPOINT_INTERVAL_SECONDS (`audit_checkpoint_task`), `manage.py audit_checkpoint` on demand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ..models import AuditEvent
from ..models.audit import GENESIS_HASH, AuditCheckpoint, AuditCheckpointError, audit_chain_keys


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    problem: str


@dataclass
class ChainReport:
    checked: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)
    last_hash: str = GENESIS_HASH
    last_id: int = 0
    count: int = 0  # records up to last_id (those before a starting checkpoint included)
    legacy_until: int = 0  # id of the last record from before the chain was keyed (0: none)
    checkpoint: AuditCheckpoint | None = None

    @property
    def intact(self) -> bool:
        return not self.breaks


def audit_checkpoint_latest() -> AuditCheckpoint | None:
    """The newest checkpoint in SKINCLINIC_AUDIT_CHECKPOINT_PATH, or None when none was written yet.

    Raises AuditCheckpointError when a line does not carry a valid MAC under the chain's keys (the file was
    edited) or the checkpoints go backwards (a later one names fewer records).
    """
    path = Path(settings.SKINCLINIC_AUDIT_CHECKPOINT_PATH)
    if not path.exists():
        return None
    keys, latest = audit_chain_keys(), None
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            checkpoint = AuditCheckpoint.from_line(line, keys)
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditCheckpointError(f"{path}, line {number}: {exc}") from None
        if latest is not None and (checkpoint.last_id, checkpoint.count) < (latest.last_id, latest.count):
            raise AuditCheckpointError(f"{path}, line {number}: names fewer records than the checkpoint before it")
        latest = checkpoint
    return latest


def audit_chain_verify(
    *, checkpoint: AuditCheckpoint | None = None, since_checkpoint: bool = False, chunk_size: int = 2000
) -> ChainReport:
    """Recompute the chain in id order: each record's keyed hash from its fields, and its link to the last.

    A changed field shows as a hash mismatch on that record (a forger without the chain's key cannot make a
    matching one); a deleted or inserted record as a broken link on the record after it, which a forger cannot
    relink: a linked record's hash needs the MAC of its fields (never stored), a keyed one's is that MAC.
    Given a `checkpoint` (a head written outside the database), the record it names must still carry its hash
    with as many records up to it, which catches a cut-off tail and a chain rebuilt from the start; and no
    record after its `legacy_until` may be unkeyed. With `since_checkpoint`, only the records after it are
    recomputed.
    """
    keys = audit_chain_keys()
    report = ChainReport(checkpoint=checkpoint)
    previous, seen_keyed = GENESIS_HASH, False
    events = AuditEvent.objects.order_by("id")
    if checkpoint is not None:
        anchor = AuditEvent.objects.filter(pk=checkpoint.last_id).values_list("hash", flat=True).first()
        if checkpoint.last_id and anchor != checkpoint.head:
            report.breaks.append(
                ChainBreak(
                    checkpoint.last_id,
                    ("the checkpointed record is gone" if anchor is None else "the checkpointed record's hash differs")
                    + f" from the checkpoint of {checkpoint.written_at} (records were cut off, removed or rewritten)",
                )
            )
        counted = AuditEvent.objects.filter(pk__lte=checkpoint.last_id).count()
        if counted != checkpoint.count:
            report.breaks.append(
                ChainBreak(
                    checkpoint.last_id,
                    f"{counted} records up to it, but the checkpoint counted {checkpoint.count} (records were removed)",
                )
            )
        report.legacy_until = checkpoint.legacy_until
        if since_checkpoint:
            previous, seen_keyed = checkpoint.head, checkpoint.legacy_until < checkpoint.last_id
            report.last_id, report.count = checkpoint.last_id, checkpoint.count
            events = events.filter(pk__gt=checkpoint.last_id)
    for event in events.iterator(chunk_size=chunk_size):
        report.checked += 1
        report.count += 1
        if event.prev_hash != previous:
            report.breaks.append(
                ChainBreak(
                    event.pk,
                    f"links to {event.prev_hash[:12]}…, but the record before it "
                    f"hashes to {previous[:12]}… (a record was removed or inserted)",
                )
            )
        if event.keyed or event.linked:  # a linked record is keyed: its hash needs the MAC of its fields
            seen_keyed = True
        elif seen_keyed or (checkpoint is not None and event.pk > checkpoint.legacy_until):
            report.breaks.append(
                ChainBreak(
                    event.pk,
                    "it is unkeyed but newer than the keyed chain's start (it was rewritten without the chain's key)",
                )
            )
        else:
            report.legacy_until = event.pk
        if not event.hash_verifies(keys):
            report.breaks.append(
                ChainBreak(event.pk, "its fields do not hash to its stored hash under the chain's key (it was changed)")
            )
        previous, report.last_id = event.hash, event.pk
    report.last_hash = previous
    return report


def audit_checkpoint_write() -> AuditCheckpoint:
    """Verify the records added since the latest checkpoint and append a checkpoint of the head.

    Raises AuditCheckpointError, writing nothing, when the chain is broken: a checkpoint must never pin
    a tampered chain as the truth.
    """
    latest = audit_checkpoint_latest()
    report = audit_chain_verify(checkpoint=latest, since_checkpoint=latest is not None)
    if not report.intact:
        first = report.breaks[0]
        raise AuditCheckpointError(
            f"not written: the audit chain is broken ({len(report.breaks)} problem(s); "
            f"record {first.event_id}: {first.problem})"
        )
    checkpoint = AuditCheckpoint(
        written_at=timezone.now().isoformat(timespec="seconds"),
        last_id=report.last_id,
        head=report.last_hash,
        count=report.count,
        legacy_until=report.legacy_until,
    )
    path = Path(settings.SKINCLINIC_AUDIT_CHECKPOINT_PATH)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Appended, never rewritten, and on disk before we return.
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, (checkpoint.to_line(audit_chain_keys()[0]) + "\n").encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return checkpoint
