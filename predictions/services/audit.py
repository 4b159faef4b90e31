from __future__ import annotations

from django.db import models

from ..models import AuditEvent, Clinic


def audit_record(*, actor, clinic: Clinic | None, action: str, target: models.Model, data: dict | None = None) -> AuditEvent:
    """Write one audit event; call it inside the transaction of the action it records."""
    return AuditEvent.objects.create(
        clinic=clinic,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=data or {},
    )
