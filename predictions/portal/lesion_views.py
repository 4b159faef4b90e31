"""The portal's lesion pages beyond the timeline: the printable consultation report (and, with the body map,
creating, editing, archiving and merging lesions). Same rules as views.py: every object through
`object_get_for_user`, every write through a service, every view of patient data audited."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .. import permissions, selectors, services
from ..models import Lesion
from ..models.audit import AuditAction
from ..services.lesion_updates import lesion_archive, lesion_merge, lesion_restore, lesion_update
from .body_map import body_map_svg
from .forms import form_add_service_errors
from .lesion_forms import LesionForm, LesionMergeForm
from .reports import lesion_report_pdf
from .views import _patient_get, _record_view, portal_view


def _lesion_get(request: HttpRequest, lesion_id: int) -> Lesion:
    return selectors.object_get_for_user(
        Lesion.objects.select_related("patient__clinic"), user=request.user, pk=lesion_id
    )


@portal_view
def lesion_report(request: HttpRequest, lesion_id: int) -> HttpResponse:
    """The lesion's consultation report as a PDF: clinic, patient, lesion and site, each image with its heatmap,
    the model's result with its version and operating point, the reviews, and the disclaimer."""
    lesion = _lesion_get(request, lesion_id)
    images = selectors.lesion_timeline(user=request.user, lesion=lesion)
    pdf = lesion_report_pdf(
        lesion=lesion,
        images=images,
        generated_by=request.user,
        body_map_svg=body_map_svg([lesion], current=lesion) if lesion.has_body_point else "",
    )
    _record_view(
        request,
        clinic=lesion.patient.clinic,
        action=AuditAction.LESION_REPORT,
        target=lesion,
        data={"images": [image.pk for image in images]},
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    # No patient identifier in the file name: it shows in download lists and mail attachments.
    response["Content-Disposition"] = f'inline; filename="lesion-{lesion.pk}-report.pdf"'
    return response


def _lesion_name(lesion: Lesion) -> str:
    return lesion.label or f"Lesion {lesion.pk}"


@portal_view
@require_http_methods(["GET", "POST"])
def lesion_create(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Start following a lesion: its label, site, side and a point on the body map (clicked, or typed)."""
    patient = _patient_get(request, patient_id)
    permissions.require(request.user, "record.write", patient.clinic)
    form = LesionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            lesion = services.lesion_create(actor=request.user, patient=patient, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, f"{_lesion_name(lesion)} is now followed.")
            return redirect("portal:lesion-timeline", lesion_id=lesion.pk)
    return render(request, "portal/lesions/form.html", {"form": form, "patient": patient, "lesion": None})


@portal_view
@require_http_methods(["GET", "POST"])
def lesion_edit(request: HttpRequest, lesion_id: int) -> HttpResponse:
    lesion = _lesion_get(request, lesion_id)
    permissions.require(request.user, "record.write", lesion.patient.clinic)
    initial = {name: getattr(lesion, name) for name in LesionForm.base_fields}
    form = LesionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            lesion_update(actor=request.user, lesion=lesion, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, "The lesion's details are saved.")
            return redirect("portal:lesion-timeline", lesion_id=lesion.pk)
    return render(request, "portal/lesions/form.html", {"form": form, "patient": lesion.patient, "lesion": lesion})


@portal_view
@require_POST
def lesion_archive_view(request: HttpRequest, lesion_id: int) -> HttpResponse:
    lesion = _lesion_get(request, lesion_id)
    permissions.require(request.user, "record.write", lesion.patient.clinic)
    try:
        lesion_archive(actor=request.user, lesion=lesion)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"{_lesion_name(lesion)} is archived: it keeps its images, results and reviews, "
            f"and leaves the patient's map and open risk.",
        )
    return redirect("portal:lesion-timeline", lesion_id=lesion.pk)


@portal_view
@require_POST
def lesion_restore_view(request: HttpRequest, lesion_id: int) -> HttpResponse:
    lesion = _lesion_get(request, lesion_id)
    permissions.require(request.user, "record.write", lesion.patient.clinic)
    try:
        lesion_restore(actor=request.user, lesion=lesion)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{_lesion_name(lesion)} is followed again.")
    return redirect("portal:lesion-timeline", lesion_id=lesion.pk)


@portal_view
@require_http_methods(["GET", "POST"])
def lesion_merge_view(request: HttpRequest, lesion_id: int) -> HttpResponse:
    """Merge two records of the same lesion (one photographed twice as "new"): this one into another."""
    lesion = _lesion_get(request, lesion_id)
    permissions.require(request.user, "record.write", lesion.patient.clinic)
    others = (
        selectors.lesion_list(user=request.user, patient=lesion.patient)
        .filter(archived_at__isnull=True)
        .exclude(pk=lesion.pk)
        .order_by("id")
    )
    form = LesionMergeForm(request.POST or None, lesions=others)
    if request.method == "POST" and form.is_valid():
        try:
            target = lesion_merge(actor=request.user, source=lesion, target=form.cleaned_data["target"])
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, f"{_lesion_name(lesion)} is merged into {_lesion_name(target)}.")
            return redirect("portal:lesion-timeline", lesion_id=target.pk)
    return render(
        request,
        "portal/lesions/merge.html",
        {"form": form, "lesion": lesion, "patient": lesion.patient, "has_others": others.exists()},
    )
