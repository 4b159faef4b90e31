"""Views that stream stored files. Images are patient data: only members of the image's clinic get them."""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from .models import LesionImage, Prediction
from .models.audit import AuditAction
from .selectors import object_get_for_user
from .services.audit import audit_access_record

_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}


def private_file_response(field_file, content_type: str) -> FileResponse:
    """Stream a stored file that must never be cached by a shared cache; 404 when there is none."""
    if not field_file:
        raise Http404("No file.")
    response = FileResponse(field_file.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = "inline"
    return response


@require_GET
@login_required
def lesion_image_file(request: HttpRequest, image_id: int) -> FileResponse:
    image = object_get_for_user(
        LesionImage.objects.select_related("lesion__patient__clinic"), user=request.user, pk=image_id
    )
    response = private_file_response(image.file, _CONTENT_TYPES.get(image.format, "application/octet-stream"))
    audit_access_record(
        actor=request.user,
        clinic=image.lesion.patient.clinic,
        action=AuditAction.IMAGE_DOWNLOAD,
        target=image,
        via="portal",
    )
    return response


@require_GET
@login_required
def prediction_heatmap(request: HttpRequest, prediction_id: int) -> FileResponse:
    prediction = object_get_for_user(
        Prediction.objects.select_related("image__lesion__patient__clinic"), user=request.user, pk=prediction_id
    )
    response = private_file_response(prediction.heatmap, "image/png")  # no heatmap: 404, and no record
    audit_access_record(
        actor=request.user,
        clinic=prediction.image.lesion.patient.clinic,
        action=AuditAction.HEATMAP_DOWNLOAD,
        target=prediction,
        via="portal",
    )
    return response


@require_GET
@login_required
def prediction_class_heatmap(request: HttpRequest, prediction_id: int, class_code: str) -> FileResponse:
    """The prediction's evidence for a class other than its top one, once the worker has drawn it."""
    prediction = object_get_for_user(
        Prediction.objects.select_related("image__lesion__patient__clinic"), user=request.user, pk=prediction_id
    )
    heatmap = prediction.class_heatmaps.filter(class_code=class_code).first()
    response = private_file_response(heatmap.file if heatmap else None, "image/png")  # none yet: 404, no record
    audit_access_record(
        actor=request.user,
        clinic=prediction.image.lesion.patient.clinic,
        action=AuditAction.HEATMAP_DOWNLOAD,
        target=prediction,
        via="portal",
        data={"class": class_code},
    )
    return response


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
