"""Reads for the similar reference cases of a prediction: the stored cases, or why there are none."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from django.http import Http404

from ..models import Prediction, PredictionStatus, SimilarCase
from ..references import IndexStatus, reference_index_state, reference_thumbnail_path


class PanelStatus(enum.StrEnum):
    SHOWN = "shown"  # the cases are stored with the result
    NOT_READY = "not_ready"  # no result yet
    NOT_ASSESSABLE = "not_assessable"  # the model refused the image: nothing to compare it with
    NO_INDEX = "no_index"  # no usable index for the prediction's model (missing, mismatched, unreadable)
    BEFORE_INDEX = "before_index"  # the index exists, but the result was computed without it


@dataclass(frozen=True)
class SimilarCasesPanel:
    status: PanelStatus
    message: str  # why there are no cases, in words; empty when they are shown
    build_command: str = ""  # how to build the index, when that is what is missing
    cases: list[SimilarCase] = field(default_factory=list)

    @property
    def for_comparison_note(self) -> str:
        return (
            "Published cases whose images look most alike to the model, shown for comparison only: their "
            "diagnoses are not this lesion's, and a reviewer's diagnosis outranks them and the model."
        )


def similar_cases_panel(*, prediction: Prediction) -> SimilarCasesPanel:
    """The similar cases stored with a prediction, or the reason it has none and how to get them."""
    if prediction.status != PredictionStatus.SUCCEEDED:
        return SimilarCasesPanel(PanelStatus.NOT_READY, "Similar reference cases come with the result.")
    cases = list(prediction.similar_cases.order_by("rank"))
    if cases:
        return SimilarCasesPanel(PanelStatus.SHOWN, "", cases=cases)
    if prediction.assessable is False:
        return SimilarCasesPanel(
            PanelStatus.NOT_ASSESSABLE,
            "The model cannot assess this image, so it is not compared with reference cases.",
        )
    state = reference_index_state(prediction.model_version)
    if state.status != IndexStatus.READY:
        return SimilarCasesPanel(
            PanelStatus.NO_INDEX,
            f"{state.message} An administrator builds it once on the worker's host with:",
            build_command=state.build_command,
        )
    return SimilarCasesPanel(
        PanelStatus.BEFORE_INDEX,
        "This result was computed before the reference index was "
        f"built ({state.built_at}); results computed since have similar cases.",
    )


def similar_case_thumbnail(*, prediction: Prediction, rank: int) -> Path:
    """The thumbnail file of a prediction's similar case, or 404."""
    case = prediction.similar_cases.filter(rank=rank).first()
    path = reference_thumbnail_path(prediction.model_version, case.reference_id) if case else None
    if path is None:
        raise Http404("No such reference case, or its index was removed.")
    return path
