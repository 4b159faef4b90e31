"""The consultation report of a lesion as a PDF, rendered on the server with WeasyPrint.

The report is an HTML template printed to PDF. Its images (photographs, heatmaps) are read through the
storage API and embedded as data: URLs, and the renderer fetches nothing else: no file, no network.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import timezone
from PIL import Image

from ..interpretation import Interpretation, prediction_interpret, review_standing
from ..models import Lesion, LesionImage, Prediction, PredictionStatus, Review

PHOTO_MAX_SIDE = 900  # pixels: sharp at the printed size (about 8 cm), small enough to mail


@dataclass(frozen=True)
class ReportImage:
    image: LesionImage
    photo_src: str  # a data: URL
    heatmap_src: str  # a data: URL, or "" when there is no heatmap
    prediction: Prediction | None  # the newest finished result
    reading: Interpretation | None
    reviews: list[Review]
    standing_review: Review | None
    other_predictions: list[Prediction]


def _data_url(field_file, *, max_side: int | None = None) -> str:
    """A stored picture as a data: URL (JPEG for photographs, PNG as is); "" when it cannot be read."""
    if not field_file:
        return ""
    try:
        with field_file.open("rb") as fh:
            raw = fh.read()
    except OSError:
        return ""
    if max_side is None:
        return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")
    with Image.open(io.BytesIO(raw)) as source:
        picture = source.convert("RGB")
        picture.thumbnail((max_side, max_side))
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def report_images(images: list[LesionImage]) -> list[ReportImage]:
    """Each image (predictions newest first and reviews prefetched, as `selectors.lesion_timeline` gives them)
    with its pictures and its newest succeeded result read in words."""
    items = []
    for image in images:
        predictions = list(image.predictions.all())
        shown = next((p for p in predictions if p.status == PredictionStatus.SUCCEEDED), None)
        reviews = list(image.reviews.all())
        items.append(
            ReportImage(
                image=image,
                photo_src=_data_url(image.file, max_side=PHOTO_MAX_SIDE),
                heatmap_src=_data_url(shown.heatmap) if shown is not None else "",
                prediction=shown,
                reading=prediction_interpret(shown, with_operating_point=True) if shown else None,
                reviews=reviews,
                standing_review=review_standing(reviews),
                other_predictions=[p for p in predictions if p is not shown],
            )
        )
    return items


def lesion_report_html(*, lesion: Lesion, images: list[LesionImage], generated_by, body_map_svg: str = "") -> str:
    items = report_images(images)
    return render_to_string(
        "portal/report/lesion.html",
        {
            "lesion": lesion,
            "patient": lesion.patient,
            "clinic": lesion.patient.clinic,
            "items": items,
            "lesion_review": review_standing(review for item in items for review in item.reviews),
            "generated_at": timezone.localtime(),
            "generated_by": generated_by,
            "body_map_svg": body_map_svg,
        },
    )


def _weasyprint():
    """WeasyPrint's HTML and URLFetcher, imported without its side effect: at import it makes Pillow accept
    truncated images process-wide, and the upload checks must go on refusing them."""
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
    return HTML, URLFetcher


def lesion_report_pdf(*, lesion: Lesion, images: list[LesionImage], generated_by, body_map_svg: str = "") -> bytes:
    """The lesion's consultation report as PDF bytes."""
    HTML, URLFetcher = _weasyprint()

    html = lesion_report_html(lesion=lesion, images=images, generated_by=generated_by, body_map_svg=body_map_svg)
    # Only the data: URLs written above; a stray link in a note can make the renderer fetch nothing.
    fetcher = URLFetcher(allowed_protocols=["data"])
    return HTML(string=html, url_fetcher=fetcher).write_pdf()
