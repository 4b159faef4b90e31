"""Governance pages. Each view checks input, calls one selector or service, records the access, renders.

Clinics and cases come through object_get_for_user (404 for another clinic's); a clinician of the clinic
gets 403: the queue, the audit trail and the performance figures are for reviewers and administrators.
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from .. import permissions, selectors
from ..models import ReviewCaseState
from ..models.audit import AuditAction
from ..selectors import model_served_get
from ..services.audit import audit_record
from ..services.performance import performance_export
from ..services.review_cases import review_case_assign, review_case_close
from . import charts
from .filters import AuditEventFilter, ReviewCaseFilter
from .forms import AssignForm, CloseForm, PerformanceFilterForm

PER_PAGE = 50


def governance_view(view):
    """Signed-in users only, never cached (patient data)."""
    return functools.wraps(view)(login_required(never_cache(view)))


def _record_access(request: HttpRequest, *, clinic, action: str, data: dict) -> None:
    with transaction.atomic():
        audit_record(actor=request.user, clinic=clinic, action=action, target=clinic, data=data)


@require_GET
@governance_view
def index(request: HttpRequest) -> HttpResponse:
    clinics = list(permissions.clinics_where(request.user, "governance.view"))
    if len(clinics) == 1:
        return redirect("governance:queue", clinic_id=clinics[0].pk)
    return render(request, "governance/index.html", {"clinics": clinics})


@require_GET
@governance_view
def queue(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = selectors.governance_clinic_get(user=request.user, pk=clinic_id)
    found = ReviewCaseFilter(
        request.GET, queryset=selectors.review_case_list(user=request.user, clinic=clinic), request=request
    )
    cases = found.qs
    page = Paginator(cases, PER_PAGE).get_page(request.GET.get("page"))
    _record_access(
        request,
        clinic=clinic,
        action=AuditAction.REVIEW_QUEUE_VIEW,
        data={"filters": found.applied, "page": page.number},
    )
    return render(
        request,
        "governance/queue.html",
        {
            "clinic": clinic,
            "form": found.form,
            "page": page,
            "reviewers": selectors.reviewer_list(clinic=clinic),
            "close_form": CloseForm(),
            "done": ReviewCaseState.DONE,
        },
    )


def _back_to_queue(request: HttpRequest, case):
    return redirect("governance:queue", clinic_id=case.image.lesion.patient.clinic_id)


@require_POST
@governance_view
def case_assign(request: HttpRequest, case_id: int) -> HttpResponse:
    case = selectors.review_case_get(user=request.user, pk=case_id)
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a reviewer.")
        return _back_to_queue(request, case)
    assignee_id = form.cleaned_data["assignee"]
    assignee = get_user_model().objects.filter(pk=assignee_id).first() if assignee_id else None
    if assignee_id and assignee is None:
        messages.error(request, "No such reviewer.")
        return _back_to_queue(request, case)
    try:
        review_case_assign(actor=request.user, case=case, assignee=assignee)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Case {case.pk} assigned to {assignee}." if assignee else f"Case {case.pk} is back in the queue."
        )
    return _back_to_queue(request, case)


@require_POST
@governance_view
def case_close(request: HttpRequest, case_id: int) -> HttpResponse:
    case = selectors.review_case_get(user=request.user, pk=case_id)
    form = CloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the case is closed without a review.")
        return _back_to_queue(request, case)
    try:
        review_case_close(actor=request.user, case=case, resolution=form.cleaned_data["resolution"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Case {case.pk} closed.")
    return _back_to_queue(request, case)


@require_GET
@governance_view
def audit_trail(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = selectors.governance_clinic_get(user=request.user, pk=clinic_id)
    found = AuditEventFilter(request.GET, queryset=selectors.audit_event_browse(user=request.user, clinic=clinic))
    events = found.qs
    page = Paginator(events, PER_PAGE).get_page(request.GET.get("page"))
    _record_access(
        request,
        clinic=clinic,
        action=AuditAction.AUDIT_VIEW,
        data={"filters": {k: str(v) for k, v in found.applied.items()}, "page": page.number},
    )
    return render(request, "governance/audit.html", {"clinic": clinic, "form": found.form, "page": page})


def _performance(request: HttpRequest, clinic):
    form = PerformanceFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    report = selectors.performance_report(
        user=request.user,
        clinic=clinic,
        model_version=filters.get("version") or None,
        histopathology_only=bool(filters.get("histopathology")),
    )
    return form, filters, report


@require_GET
@governance_view
def performance(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = selectors.governance_clinic_get(user=request.user, pk=clinic_id)
    form, filters, report = _performance(request, clinic)
    sections = []
    for version in report.versions:
        figures = report.figures[version]
        sections.append(
            {
                "version": version,
                "figures": figures,
                "confusion_svg": charts.confusion_matrix_svg(
                    figures["confusion_matrix"]["matrix"],
                    figures["confusion_matrix"]["labels"],
                    title=f"Confusion matrix, {version}",
                ),
                "recall_svg": charts.recall_bars_svg(figures["per_class_recall"], title="Recall per reviewed class"),
                "subgroup_svgs": [
                    (kind, charts.subgroup_bars_svg(rows, title=f"Agreement by {kind.replace('_', ' ')}"))
                    for kind, rows in figures["subgroups"].items()
                    if rows
                ],
            }
        )
    _record_access(
        request,
        clinic=clinic,
        action=AuditAction.PERFORMANCE_VIEW,
        data={"filters": {k: v for k, v in filters.items() if v}},
    )
    return render(
        request,
        "governance/performance.html",
        {
            "clinic": clinic,
            "form": form,
            "report": report,
            "sections": sections,
            "model_versions": selectors.model_version_list(),
        },
    )


@require_GET
@governance_view
def performance_json(request: HttpRequest, clinic_id: int) -> JsonResponse:
    clinic = selectors.governance_clinic_get(user=request.user, pk=clinic_id)
    form = PerformanceFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    return JsonResponse(
        performance_export(
            actor=request.user,
            clinic=clinic,
            via="json",
            model_version=filters.get("version") or None,
            histopathology_only=bool(filters.get("histopathology")),
        )
    )


@require_GET
@governance_view
def model_versions(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "model_registry.view")
    return render(
        request, "governance/models.html", {"versions": selectors.model_version_list(), "served": model_served_get()}
    )
