"""Checkpoints of the audit chain's head, written outside the database (SKINCLINIC_AUDIT_CHECKPOINT_PATH).

Someone who can write to the database can cut records off the end of the chain, or (without the key)
at least try to rebuild it; a head kept where they cannot write shows both. Beat writes one every
AUDIT_CHECKPOINT_INTERVAL_SECONDS (`audit_checkpoint_task`), `manage.py audit_checkpoint` on demand.
"""
from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ..models.audit import AuditCheckpoint, AuditCheckpointError, audit_chain_keys
from ..selectors_governance import audit_chain_verify, audit_checkpoint_latest


def audit_checkpoint_write() -> AuditCheckpoint:
    """Verify the records added since the latest checkpoint and append a checkpoint of the head.

    Raises AuditCheckpointError, writing nothing, when the chain is broken: a checkpoint must never pin
    a tampered chain as the truth.
    """
    latest = audit_checkpoint_latest()
    report = audit_chain_verify(checkpoint=latest, since_checkpoint=latest is not None)
    if not report.intact:
        first = report.breaks[0]
        raise AuditCheckpointError(f"not written: the audit chain is broken ({len(report.breaks)} problem(s); "
                                   f"record {first.event_id}: {first.problem})")
    checkpoint = AuditCheckpoint(written_at=timezone.now().isoformat(timespec="seconds"), last_id=report.last_id,
                                 head=report.last_hash, count=report.count, legacy_until=report.legacy_until)
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
