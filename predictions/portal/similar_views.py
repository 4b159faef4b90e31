"""The thumbnails of a prediction's similar reference cases (the panel itself is part of the result page)."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest
from django.views.decorators.http import require_GET

from .. import selectors
from ..selectors import similar_case_thumbnail
from .views import portal_view


@require_GET
@portal_view
def similar_case_thumbnail_file(request: HttpRequest, prediction_id: int, rank: int) -> FileResponse:
    # Only through a prediction the user may see: the page it sits on is clinic-scoped, so is its picture.
    prediction = selectors.prediction_get(user=request.user, pk=prediction_id)
    response = FileResponse(
        similar_case_thumbnail(prediction=prediction, rank=rank).open("rb"), content_type="image/jpeg"
    )
    response["Content-Disposition"] = "inline"
    return response
