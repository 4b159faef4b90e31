"""The export of a clinic's real-world performance figures: the same JSON for the governance pages and the API."""

from __future__ import annotations

from django.db import transaction

from ..models import Clinic
from ..models.audit import AuditAction
from ..selectors import performance_report
from .audit import audit_record


@transaction.atomic
def performance_export(
    *, actor, clinic: Clinic, model_version: str | None = None, histopathology_only: bool = False, via: str
) -> dict:
    """The clinic's figures as served (`PerformanceReport.as_dict`), with the export's audit record; `via` is
    "json" (the governance page's download) or "api". The caller found the clinic through governance_clinic_get."""
    report = performance_report(
        user=actor, clinic=clinic, model_version=model_version, histopathology_only=histopathology_only
    )
    audit_record(
        actor=actor,
        clinic=clinic,
        action=AuditAction.PERFORMANCE_EXPORT,
        target=clinic,
        data={"format": via, "version": model_version, "histopathology_only": histopathology_only},
    )
    return report.as_dict()
