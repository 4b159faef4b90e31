"""A clinic's audit trail, for its reviewers and administrators."""

from __future__ import annotations

from django.db.models import QuerySet

from .. import permissions
from ..models import AuditEvent, Clinic


def audit_event_list(*, user, clinic: Clinic) -> QuerySet[AuditEvent]:
    """A clinic's audit trail, for its reviewers and administrators (PermissionDenied for anyone else)."""
    permissions.require(user, "governance.view", clinic)
    return AuditEvent.objects.filter(clinic=clinic).select_related("actor")


def audit_event_browse(*, user, clinic: Clinic) -> QuerySet[AuditEvent]:
    """A clinic's audit trail, newest first, for its reviewers and administrators; the audit page filters it (by
    action, actor, object, days) with governance.filters.AuditEventFilter."""
    return audit_event_list(user=user, clinic=clinic).order_by("-id")
