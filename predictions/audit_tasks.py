"""Celery tasks of the audit trail: beat writes a checkpoint of the chain's head every few minutes."""

from __future__ import annotations

import logging

from celery import shared_task

from .models.audit import AuditCheckpointError
from .services.audit_checkpoints import audit_checkpoint_write

logger = logging.getLogger(__name__)


@shared_task
def audit_checkpoint_task() -> int | None:
    """Write a checkpoint; returns the number of records it covers, or None when the chain is broken."""
    try:
        return audit_checkpoint_write().count
    except AuditCheckpointError as exc:
        # Loud, and nothing pinned: an operator runs audit_verify to see what was changed.
        logger.error("audit checkpoint %s", exc)
        return None
