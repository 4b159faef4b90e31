"""A clinic's audit trail, for its reviewers and administrators."""
from __future__ import annotations

import datetime

from django.db.models import QuerySet

from .. import permissions
from ..models import AuditEvent, Clinic


def audit_event_list(*, user, clinic: Clinic) -> QuerySet[AuditEvent]:
    """A clinic's audit trail, for its reviewers and administrators (PermissionDenied for anyone else)."""
    permissions.require(user, "governance.view", clinic)
    return AuditEvent.objects.filter(clinic=clinic).select_related("actor")


def audit_event_browse(
    *, user, clinic: Clinic, action: str = "", actor_id: int | None = None, target_type: str = "",
    target_id: str = "", since: datetime.date | None = None, until: datetime.date | None = None,
) -> QuerySet[AuditEvent]:
    """A clinic's audit trail, newest first, filtered; for its reviewers and administrators."""
    events = audit_event_list(user=user, clinic=clinic).order_by("-id")
    if action:
        events = events.filter(action__startswith=action)
    if actor_id:
        events = events.filter(actor_id=actor_id)
    if target_type:
        events = events.filter(target_type=target_type)
    if target_id:
        events = events.filter(target_id=target_id)
    if since:
        events = events.filter(created_at__date__gte=since)
    if until:
        events = events.filter(created_at__date__lte=until)
    return events
