"""The clinician portal's pages. Each view checks input, calls one service or selector, and renders.

Every object comes through `object_get_for_user` (404 for another clinic's), every write through a
service that checks the user's role again, and no page is cached (it shows patient data).
"""

from __future__ import annotations

import functools
import hashlib
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from mlcore import CLASS_NAMES, CLASSES

from .. import permissions, selectors, services
from ..interpretation import prediction_interpret, review_standing
from ..models import HeatmapStatus, Lesion, Patient, PredictionStatus
from ..models.audit import AuditAction
from ..selectors import similar_cases_panel
from ..services.audit import audit_access_record, audit_list_access_record
from .forms import (
    NEW_LESION,
    ImageUploadForm,
    PatientForm,
    PatientSearchForm,
    ReviewForm,
    form_add_service_errors,
)

PATIENTS_PER_PAGE = 25
FINAL_STATUSES = (PredictionStatus.SUCCEEDED, PredictionStatus.FAILED)


def portal_view(view):
    """Signed-in users only, and never cached: every page shows patient data.

    A part of a page that htmx asks for after the session has ended would otherwise get the sign-in
    page swapped into it; instead the whole page goes to sign in, and comes back afterwards.
    """
    protected = login_required(never_cache(view))

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.headers.get("HX-Request") and not request.user.is_authenticated:
            current = urlsplit(request.headers.get("HX-Current-URL", ""))
            page = current.path + (f"?{current.query}" if current.query else "") if current.path else "/"
            response = HttpResponse(status=204)
            response["HX-Redirect"] = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': page})}"
            return response
        return protected(request, *args, **kwargs)

    return wrapper


def _record_view(request: HttpRequest, *, clinic, action: str, target, data: dict | None = None) -> None:
    audit_access_record(actor=request.user, clinic=clinic, action=action, target=target, via="portal", data=data)


def _record_list(request: HttpRequest, *, action: str, target_type: str, shown) -> None:
    audit_list_access_record(actor=request.user, action=action, target_type=target_type, shown=shown, via="portal")


# --- Dashboard -----------------------------------------------------------------------------------------------


@portal_view
def dashboard(request: HttpRequest) -> HttpResponse:
    board = selectors.dashboard_get(user=request.user)
    writable = set(permissions.clinics_where(request.user, "record.write").values_list("id", flat=True))
    predictions = board.in_progress + board.failed + board.high_risk_unreviewed
    _record_list(
        request,
        action=AuditAction.DASHBOARD_VIEW,
        target_type="dashboard",
        shown=[(image.lesion.patient.clinic_id, image) for image in board.recent_images]
        + [(p.image.lesion.patient.clinic_id, p) for p in predictions],
    )
    return render(request, "portal/dashboard.html", {"board": board, "writable_clinic_ids": writable})


# --- Patients ------------------------------------------------------------------------------------------------


@portal_view
def patient_list(request: HttpRequest) -> HttpResponse:
    search = PatientSearchForm(request.GET)
    query = search.cleaned_data["q"] if search.is_valid() else ""
    page = Paginator(selectors.patient_summary_list(user=request.user, query=query), PATIENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    # Iterating the page fetches its rows once; the template shows the same list.
    _record_list(
        request,
        action=AuditAction.PATIENT_LIST,
        target_type="predictions.patient",
        shown=[(patient.clinic_id, patient) for patient in page],
    )
    can_create = permissions.can(request.user, "record.write")
    return render(
        request, "portal/patients/list.html", {"search": search, "query": query, "page": page, "can_create": can_create}
    )


@portal_view
@require_http_methods(["GET", "POST"])
def patient_create(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "record.write")
    clinics = permissions.clinics_where(request.user, "record.write")
    form = PatientForm(request.POST or None, clinics=clinics)
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.patient_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, f"{patient.full_name} is registered.")
            return redirect("portal:patient-detail", patient_id=patient.pk)
    return render(request, "portal/patients/form.html", {"form": form, "patient": None})


def _patient_get(request: HttpRequest, patient_id: int) -> Patient:
    return selectors.object_get_for_user(Patient.objects.select_related("clinic"), user=request.user, pk=patient_id)


@portal_view
def patient_detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = _patient_get(request, patient_id)
    lesions = selectors.lesion_summary_list(user=request.user, patient=patient)
    archived = selectors.lesion_summary_list(user=request.user, patient=patient, archived=True)
    _record_view(request, clinic=patient.clinic, action=AuditAction.PATIENT_VIEW, target=patient)
    return render(
        request,
        "portal/patients/detail.html",
        {
            "patient": patient,
            "lesions": lesions,
            "archived_lesions": archived,
            "can_write": permissions.can(request.user, "record.write", patient.clinic),
        },
    )


@portal_view
@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = _patient_get(request, patient_id)
    permissions.require(request.user, "record.write", patient.clinic)
    initial = {name: getattr(patient, name) for name in ("mrn", "full_name", "date_of_birth", "sex")}
    form = PatientForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.patient_update(actor=request.user, patient=patient, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, "The patient's details are saved.")
            return redirect("portal:patient-detail", patient_id=patient.pk)
    # The form shows the patient's details: a read like the detail page's (a saved edit is audited as one).
    _record_view(request, clinic=patient.clinic, action=AuditAction.PATIENT_VIEW, target=patient, data={"page": "edit"})
    return render(request, "portal/patients/form.html", {"form": form, "patient": patient})


# --- Upload --------------------------------------------------------------------------------------------------


@portal_view
@require_http_methods(["GET", "POST"])
def image_upload(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = _patient_get(request, patient_id)
    permissions.require(request.user, "record.write", patient.clinic)
    # An archived lesion takes no new images: follow it again first.
    lesions = list(
        selectors.lesion_list(user=request.user, patient=patient).filter(archived_at__isnull=True).order_by("id")
    )
    preselected = request.GET.get("lesion")
    known = preselected and any(str(lesion.pk) == preselected for lesion in lesions)
    initial = {"lesion": preselected} if known else {}
    form = ImageUploadForm(request.POST or None, request.FILES or None, lesions=lesions, initial=initial)
    result, duplicates = None, []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if not data["confirm_duplicates"]:
            duplicates = _duplicates_in_clinic(request, patient=patient, files=data["files"], lesion=form.chosen_lesion)
        if duplicates:
            # Nothing is stored until the clinician confirms; the same photograph in another lesion or patient is
            # more often a slip (wrong patient chosen) than a new picture.
            form = ImageUploadForm(
                lesions=lesions,
                initial={
                    name: data[name]
                    for name in ("lesion", "new_lesion_site", "new_lesion_label", "captured_at", "age", "site")
                },
            )
        else:
            try:
                result = services.image_batch_upload(
                    actor=request.user,
                    patient=patient,
                    files=data["files"],
                    lesion=form.chosen_lesion,
                    new_lesion_site=data["new_lesion_site"],
                    new_lesion_label=data["new_lesion_label"],
                    captured_at=data["captured_at"],
                    age=data["age"],
                    site=data["site"] or None,
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                if not result.refused:
                    return _after_upload(request, result)
                # Show what was stored and what was refused, keeping everything typed; a lesion started by
                # this batch is now chosen, so sending the fixed files again does not start a second one.
                lesions = list(
                    selectors.lesion_list(user=request.user, patient=patient)
                    .filter(archived_at__isnull=True)
                    .order_by("id")
                )
                kept = {
                    name: data[name] for name in ("new_lesion_site", "new_lesion_label", "captured_at", "age", "site")
                }
                kept["lesion"] = str(result.lesion.pk) if result.lesion else data["lesion"]
                form = ImageUploadForm(lesions=lesions, initial=kept)
    # The page shows the patient and their lesions: a read (what a batch stored is audited by the upload).
    _record_view(
        request,
        clinic=patient.clinic,
        action=AuditAction.PATIENT_VIEW,
        target=patient,
        data={"page": "upload", "shown": {"lesion": [lesion.pk for lesion in lesions]}},
    )
    return render(
        request,
        "portal/upload.html",
        {
            "patient": patient,
            "form": form,
            "result": result,
            "duplicates": duplicates,
            "new_lesion": NEW_LESION,
            "max_upload_bytes": settings.SKINCLINIC_MAX_UPLOAD_BYTES,
        },
    )


def _duplicates_in_clinic(request: HttpRequest, *, patient, files, lesion) -> list[tuple[str, object]]:
    """(file name, stored image) for each chosen file whose bytes are already stored for another lesion or patient
    of the clinic (the same lesion keeps one image per file: that is no duplicate, the upload returns it)."""
    names: dict[str, str] = {}
    for upload in files:
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
        names.setdefault(digest.hexdigest(), upload.name)
    found = selectors.lesion_image_duplicate_list(
        user=request.user, clinic=patient.clinic, digests=list(names), lesion=lesion
    )
    if found:
        _record_list(
            request,
            action=AuditAction.IMAGE_DUPLICATE_WARNING,
            target_type="predictions.lesionimage",
            shown=[(patient.clinic_id, image) for image in found],
        )
    return [(names[image.sha256], image) for image in found]


def _after_upload(request: HttpRequest, result) -> HttpResponse:
    stored = result.stored
    fresh = sum(1 for item in stored if item.created)
    again = len(stored) - fresh
    parts = []
    if fresh:
        parts.append(
            f"{fresh} image{'s' if fresh != 1 else ''} uploaded; the model is looking at "
            f"{'them' if fresh != 1 else 'it'} now."
        )
    if again:
        parts.append(f"{again} file{'s were' if again != 1 else ' was'} already stored for this lesion.")
    # "Looking at it now" stops being true when the result arrives: the result page drops a message so tagged.
    messages.success(request, " ".join(parts), extra_tags="until-result" if fresh else "")
    if len(stored) == 1:
        prediction = selectors.prediction_list(user=request.user, image=stored[0].image).order_by("-queued_at").first()
        if prediction is not None:
            return redirect("portal:prediction-detail", prediction_id=prediction.pk)
    return redirect("portal:lesion-timeline", lesion_id=result.lesion.pk)


# --- Lesion timeline -----------------------------------------------------------------------------------------


@portal_view
def lesion_timeline(request: HttpRequest, lesion_id: int) -> HttpResponse:
    lesion = selectors.object_get_for_user(
        Lesion.objects.select_related("patient__clinic"), user=request.user, pk=lesion_id
    )
    images = selectors.lesion_timeline(user=request.user, lesion=lesion)
    chosen = request.GET.getlist("compare")
    comparison, comparison_error = None, ""
    if chosen:
        by_id = {str(image.pk): image for image in images}
        picked = [by_id[i] for i in dict.fromkeys(chosen) if i in by_id]
        if len(picked) != 2 or len(set(chosen)) != 2:
            comparison_error = "Choose exactly two images of this lesion to compare."
        else:
            comparison = sorted(picked, key=lambda image: images.index(image))  # earlier on the left
    if comparison:
        _record_view(
            request,
            clinic=lesion.patient.clinic,
            action=AuditAction.IMAGE_COMPARE,
            target=lesion,
            data={"images": [image.pk for image in comparison]},
        )
    else:
        _record_view(request, clinic=lesion.patient.clinic, action=AuditAction.LESION_VIEW, target=lesion)
    return render(
        request,
        "portal/lesion_timeline.html",
        {
            "lesion": lesion,
            "patient": lesion.patient,
            "images": images,
            "comparison": comparison,
            "lesion_review": review_standing(review for image in images for review in image.reviews.all()),
            "comparison_error": comparison_error,
            "chosen": set(chosen),
            "can_write": permissions.can(request.user, "record.write", lesion.patient.clinic),
        },
    )


# --- Prediction ----------------------------------------------------------------------------------------------


def _heatmap_state(prediction) -> str:
    """ready (drawn), pending (a worker will draw it), none (there will be none), or waiting (no result)."""
    if prediction.heatmap:
        return "ready"
    if prediction.status != PredictionStatus.SUCCEEDED:
        return "none" if prediction.status == PredictionStatus.FAILED else "waiting"
    # The database tracks the heatmap's attempts: pending until drawn or given up (then "unavailable").
    return "pending" if prediction.heatmap_status == HeatmapStatus.PENDING else "none"


def _class_heatmap_url(prediction, heatmap) -> str:
    if heatmap.is_top:
        return reverse("predictions:prediction-heatmap", args=[prediction.pk])
    return reverse("predictions:prediction-class-heatmap", args=[prediction.pk, heatmap.class_code])


def _viewer_context(prediction) -> dict:
    heatmaps = selectors.prediction_class_heatmaps(prediction=prediction)
    shown = [(h, _class_heatmap_url(prediction, h)) for h in heatmaps if h.status == HeatmapStatus.STORED]
    asked = {h.class_code for h in heatmaps}
    state = _heatmap_state(prediction)
    computing = [h for h in heatmaps if h.status == HeatmapStatus.PENDING and not h.is_top]
    return {
        "prediction": prediction,
        "image": prediction.image,
        "heatmap_state": state,
        # The viewer asks again while any heatmap, the top class's or another's, is being drawn.
        "heatmap_poll": state == "pending" or bool(computing),
        "heatmaps_shown": shown,
        "heatmaps_computing": computing,
        "heatmaps_unavailable": [h for h in heatmaps if h.status == HeatmapStatus.UNAVAILABLE and not h.is_top],
        "heatmap_requestable": [(c, CLASS_NAMES[c]) for c in CLASSES if c not in asked]
        if prediction.status == PredictionStatus.SUCCEEDED
        else [],
        "poll_seconds": settings.SKINCLINIC_STATUS_POLL_SECONDS,
    }


def _prediction_context(request: HttpRequest, prediction, review_form: ReviewForm | None = None) -> dict:
    rights = permissions.rights(request.user, prediction.image.lesion.patient.clinic)
    can_review = "review.create" in rights
    if can_review and review_form is None:
        review_form = ReviewForm(prediction=prediction)
    reviews = list(selectors.review_list(user=request.user, image=prediction.image).order_by("created_at", "id"))
    return {
        **_viewer_context(prediction),
        "lesion": prediction.image.lesion,
        "patient": prediction.image.lesion.patient,
        "reading": prediction_interpret(prediction, with_operating_point=True),
        "is_final": prediction.status in FINAL_STATUSES,
        "reviews": reviews,
        "standing_review": review_standing(reviews),
        "similar": similar_cases_panel(prediction=prediction),
        "other_predictions": selectors.prediction_list(user=request.user, image=prediction.image)
        .exclude(pk=prediction.pk)
        .order_by("-queued_at"),
        "can_review": can_review,
        "can_retry": "record.write" in rights,
        "review_form": review_form,
    }


@portal_view
def prediction_detail(request: HttpRequest, prediction_id: int) -> HttpResponse:
    prediction = selectors.prediction_get(user=request.user, pk=prediction_id)
    _record_view(
        request, clinic=prediction.image.lesion.patient.clinic, action=AuditAction.PREDICTION_VIEW, target=prediction
    )
    return render(request, "portal/prediction.html", _prediction_context(request, prediction))


@portal_view
def prediction_result(request: HttpRequest, prediction_id: int) -> HttpResponse:
    """The result panel alone, which the prediction page polls until the prediction is final."""
    # Not audited: the full page's view was, and a record per poll would flood the trail.
    prediction = selectors.prediction_get(user=request.user, pk=prediction_id)
    return render(request, "portal/predictions/_result.html", _prediction_context(request, prediction))


@portal_view
def prediction_viewer(request: HttpRequest, prediction_id: int) -> HttpResponse:
    """The image and heatmap section alone, which a finished result polls until its heatmap is drawn."""
    # Not audited either: it is polled (the image files it shows are recorded as downloads).
    prediction = selectors.prediction_get(user=request.user, pk=prediction_id)
    return render(request, "portal/predictions/_viewer.html", _viewer_context(prediction))


@portal_view
def prediction_badge(request: HttpRequest, prediction_id: int) -> HttpResponse:
    """A prediction's status as a small badge, which lists poll until it is final."""
    # Not audited either: it is polled, and shows no more than the list it sits in.
    prediction = selectors.prediction_get(user=request.user, pk=prediction_id)
    return render(request, "portal/predictions/_badge.html", {"prediction": prediction})


def _next_or(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


@portal_view
@require_POST
def prediction_retry(request: HttpRequest, prediction_id: int) -> HttpResponse:
    prediction = selectors.prediction_get(user=request.user, pk=prediction_id)
    try:
        services.prediction_retry(actor=request.user, prediction=prediction)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "The prediction is queued again.")
    return redirect(_next_or(request, reverse("portal:prediction-detail", args=[prediction.pk])))


@portal_view
@require_POST
def prediction_heatmap_request(request: HttpRequest, prediction_id: int) -> HttpResponse:
    """Ask the worker for the evidence for another class; the viewer shows it being drawn, then the class."""
    prediction = selectors.prediction_get(user=request.user, pk=prediction_id)
    class_code = request.POST.get("class_code", "")
    try:
        services.prediction_class_heatmap_request(
            actor=request.user, prediction=prediction, class_code=class_code, via="portal"
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"The heatmap for {CLASS_NAMES[class_code]} is being computed; it appears here when it is ready."
        )
    return redirect(reverse("portal:prediction-detail", args=[prediction.pk]) + "#prediction-viewer")


@portal_view
@require_POST
def prediction_review(request: HttpRequest, prediction_id: int) -> HttpResponse:
    prediction = selectors.prediction_get(user=request.user, pk=prediction_id)
    permissions.require(request.user, "review.create", prediction.image.lesion.patient.clinic)
    form = ReviewForm(request.POST, prediction=prediction)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.review_create(
                actor=request.user,
                image=prediction.image,
                prediction=prediction,
                verdict=data["verdict"],
                diagnosis=data["diagnosis"] or None,
                histopathology_confirmed=data["histopathology_confirmed"],
                notes=data["notes"],
            )
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, "Your review is saved; it shows on the lesion's timeline.")
            return redirect("portal:prediction-detail", prediction_id=prediction.pk)
    return render(request, "portal/prediction.html", _prediction_context(request, prediction, review_form=form))
