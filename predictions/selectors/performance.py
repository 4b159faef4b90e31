"""Real-world performance: how each model version's results agree with a clinic's reviewed diagnoses."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import QuerySet

from mlcore import CLASSES
from mlcore.metrics import label_agreement

from .. import permissions
from ..models import Clinic, Prediction, PredictionStatus, Review
from .clinics import scoped
from .model_versions import model_version_active

MELANOMA = "mel"


AGE_BANDS = (("0-29", 0, 29), ("30-44", 30, 44), ("45-59", 45, 59), ("60-74", 60, 74), ("75+", 75, 200))


def age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    return next((label for label, low, high in AGE_BANDS if low <= age <= high), "unknown")


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class Figures:
    """Agreement of one model version's predictions with reviewed diagnoses, over some set of images."""

    pairs: list[tuple[str, str]] = field(default_factory=list)  # (reviewed diagnosis, predicted top class)

    @property
    def n(self) -> int:
        return len(self.pairs)

    def as_dict(self, *, detail: bool = True) -> dict:
        agreement = label_agreement([truth for truth, _ in self.pairs], [predicted for _, predicted in self.pairs])
        melanoma = agreement["per_class"][MELANOMA]
        figures = {
            "n": self.n,
            "agreed": agreement["agreed"],
            "agreement_rate": _ratio(agreement["agreed"], self.n),
            "melanoma_sensitivity": melanoma["recall"],
            "melanomas": melanoma["support"],
            "melanomas_detected": melanoma["correct"],
        }
        if detail:
            figures["per_class_recall"] = agreement["per_class"]
            figures["confusion_matrix"] = {
                "labels": list(CLASSES),
                "rows": "reviewed diagnosis",
                "columns": "predicted class",
                "matrix": agreement["confusion_matrix"],
            }
        return figures


@dataclass
class PerformanceReport:
    clinic: Clinic
    versions: list[str]
    figures: dict[str, dict]  # version -> Figures.as_dict() plus "subgroups"
    histopathology_only: bool

    def as_dict(self) -> dict:
        return {
            "clinic": {"id": self.clinic.pk, "name": self.clinic.name},
            "histopathology_only": self.histopathology_only,
            "classes": list(CLASSES),
            "model_versions": [{"model_version": v, **self.figures[v]} for v in self.versions],
        }


def _reference_diagnoses(reviews: QuerySet[Review], *, histopathology_only: bool) -> dict[int, str]:
    """Each image's reference diagnosis: its newest histopathology-confirmed review, else its newest review."""
    if histopathology_only:
        reviews = reviews.filter(histopathology_confirmed=True)
    reference: dict[int, tuple] = {}
    for image_id, diagnosis, confirmed, created_at, pk in reviews.values_list(
        "image_id", "diagnosis", "histopathology_confirmed", "created_at", "id"
    ):
        key = (confirmed, created_at, pk)
        if image_id not in reference or key > reference[image_id][0]:
            reference[image_id] = (key, diagnosis)
    return {image_id: diagnosis for image_id, (_, diagnosis) in reference.items()}


def performance_report(
    *,
    user,
    clinic: Clinic,
    model_version: str | None = None,
    histopathology_only: bool = False,
) -> PerformanceReport:
    """How each model version's succeeded predictions compare with the clinic's reviewed diagnoses:
    confusion matrix, per-class recall, melanoma sensitivity and agreement rate, overall and by sex,
    age band and anatomic site (from the image's metadata at capture)."""
    permissions.require(user, "governance.view", clinic)
    reviews = scoped(Review.objects.filter(image__lesion__patient__clinic=clinic), user=user)
    reference = _reference_diagnoses(reviews, histopathology_only=histopathology_only)
    predictions = scoped(
        Prediction.objects.filter(
            image__lesion__patient__clinic=clinic,
            status=PredictionStatus.SUCCEEDED,
            image_id__in=reviews.values("image_id"),
        ),
        user=user,
    )
    if model_version:
        predictions = predictions.filter(model_version=model_version)
    overall: dict[str, Figures] = defaultdict(Figures)
    groups: dict[str, dict[str, dict[str, Figures]]] = defaultdict(
        lambda: {"sex": defaultdict(Figures), "age_band": defaultdict(Figures), "site": defaultdict(Figures)}
    )
    for version, image_id, top_class, sex, age, site in predictions.values_list(
        "model_version", "image_id", "top_class", "image__sex", "image__age", "image__site"
    ).order_by("id"):
        if image_id not in reference:  # reviewed, but not by histopathology when only that counts
            continue
        pair = (reference[image_id], top_class)
        overall[version].pairs.append(pair)
        by = groups[version]
        by["sex"][sex].pairs.append(pair)
        by["age_band"][age_band(age)].pairs.append(pair)
        by["site"][site].pairs.append(pair)
    active = model_version_active()
    # The active version first, then the others by name.
    versions = sorted(overall, key=lambda v: (active is None or v != active.identifier, v))
    figures = {}
    for version in versions:
        figures[version] = overall[version].as_dict()
        figures[version]["subgroups"] = {
            kind: [{"group": group, **members[group].as_dict(detail=False)} for group in _group_order(kind, members)]
            for kind, members in groups[version].items()
        }
    return PerformanceReport(clinic=clinic, versions=versions, figures=figures, histopathology_only=histopathology_only)


def _group_order(kind: str, members: dict) -> list[str]:
    if kind == "age_band":
        order = [label for label, _, _ in AGE_BANDS] + ["unknown"]
        return [g for g in order if g in members]
    return sorted(members, key=lambda g: (g == "unknown", g))
