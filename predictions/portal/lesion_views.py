"""The portal's lesion pages beyond the timeline: the printable consultation report (and, with the body map,
creating, editing, archiving and merging lesions). Same rules as views.py: every object through
`object_get_for_user`, every write through a service, every view of patient data audited."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from .. import selectors
from ..models import Lesion
from .reports import lesion_report_pdf
from .views import _record_view, portal_view


def _lesion_get(request: HttpRequest, lesion_id: int) -> Lesion:
    return selectors.object_get_for_user(Lesion.objects.select_related("patient__clinic"), user=request.user,
                                         pk=lesion_id)


@portal_view
def lesion_report(request: HttpRequest, lesion_id: int) -> HttpResponse:
    """The lesion's consultation report as a PDF: clinic, patient, lesion and site, each image with its heatmap,
    the model's result with its version and operating point, the reviews, and the disclaimer."""
    lesion = _lesion_get(request, lesion_id)
    images = selectors.lesion_timeline(user=request.user, lesion=lesion)
    pdf = lesion_report_pdf(lesion=lesion, images=images, generated_by=request.user)
    _record_view(request, clinic=lesion.patient.clinic, action="lesion.report", target=lesion,
                 data={"images": [image.pk for image in images]})
    response = HttpResponse(pdf, content_type="application/pdf")
    # No patient identifier in the file name: it shows in download lists and mail attachments.
    response["Content-Disposition"] = f'inline; filename="lesion-{lesion.pk}-report.pdf"'
    return response
