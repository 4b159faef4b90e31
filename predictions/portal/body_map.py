"""The body map: a front and a back outline drawn in SVG (our own drawing, no image asset), with a point
per lesion. A lesion's point is stored as (view, x, y), x and y in [0, 1] across and down that view's box."""

from __future__ import annotations

from dataclasses import dataclass

from django.template.loader import render_to_string
from django.urls import reverse

from mlcore import MALIGNANT_CLASSES

from ..interpretation import result_summary

FIGURE_WIDTH, FIGURE_HEIGHT = 100, 232  # one view's box, in SVG user units
OFFSETS = {"front": (8, 22), "back": (122, 22)}  # where each view's box sits in the 230 x 262 drawing
VIEWBOX = "0 0 230 262"

# The outline of a standing figure, arms a little away from the body, in a view's box (symmetric about x=50).
OUTLINE = (
    "M44 31 L44 37 L30 41 Q23 44 22 52 L16 92 L12 118 Q10 126 14 128 L19 120 L24 94 L29 62 L31 88 "
    "Q30 100 32 110 L34 150 L36 190 L37 218 Q33 226 42 226 L45 219 L46 190 L48 150 L50 122 L52 150 "
    "L54 190 L55 219 L58 226 Q67 226 63 218 L64 190 L66 150 L68 110 Q70 100 69 88 L71 62 L76 94 "
    "L81 120 L86 128 Q90 126 88 118 L84 92 L78 52 Q77 44 70 41 L56 37 L56 31 Z"
)

STATUS_WORDS = {
    "malignant": "reviewed: malignant",
    "benign": "reviewed: benign",
    "high": "to refer or high risk",
    "intermediate": "intermediate risk or not assessable",
    "low": "routine follow-up or low risk",
    "none": "no result yet",
}


@dataclass(frozen=True)
class Marker:
    x: float  # in the drawing's units
    y: float
    status: str  # a key of STATUS_WORDS: also the CSS modifier
    label: str
    url: str
    current: bool = False

    @property
    def words(self) -> str:
        return STATUS_WORDS[self.status]


def point_to_drawing(view: str, x: float, y: float) -> tuple[float, float]:
    left, top = OFFSETS[view]
    return round(left + x * FIGURE_WIDTH, 2), round(top + y * FIGURE_HEIGHT, 2)


def lesion_map_status(lesion) -> str:
    """A lesion's colour on the map: its reviewed diagnosis when there is one, else its newest result's verdict
    (from `selectors.lesion_summary_list`'s annotations; "none" without them)."""
    diagnosis = getattr(lesion, "standing_diagnosis", None)
    if diagnosis:
        return "malignant" if diagnosis in MALIGNANT_CLASSES else "benign"
    summary = result_summary(
        getattr(lesion, "latest_prediction_risk", None),
        getattr(lesion, "latest_prediction_refer", None),
        getattr(lesion, "latest_prediction_referral_threshold", None),
        getattr(lesion, "latest_prediction_assessable", None),
    )
    return summary.band_key if summary else "none"


def markers_of(lesions, *, current=None) -> list[Marker]:
    markers = []
    for lesion in lesions:
        if not lesion.has_body_point:
            continue
        x, y = point_to_drawing(lesion.body_view, lesion.body_x, lesion.body_y)
        markers.append(
            Marker(
                x=x,
                y=y,
                status=lesion_map_status(lesion),
                label=lesion.label or "Lesion",
                url=reverse("portal:lesion-timeline", args=[lesion.pk]),
                current=current is not None and lesion.pk == current.pk,
            )
        )
    return markers


def body_map_context(lesions=(), *, current=None, editable: bool = False, links: bool = True) -> dict:
    return {
        "viewbox": VIEWBOX,
        "outline": OUTLINE,
        "markers": markers_of(lesions, current=current),
        "front": OFFSETS["front"],
        "back": OFFSETS["back"],
        "editable": editable,
        "links": links,
        "statuses": STATUS_WORDS,
        "figure_width": FIGURE_WIDTH,
        "figure_height": FIGURE_HEIGHT,
    }


def body_map_svg(lesions=(), *, current=None) -> str:
    """The map as a standalone SVG string (for the PDF report: no links)."""
    return render_to_string("portal/_body_map_svg.html", body_map_context(lesions, current=current, links=False))
