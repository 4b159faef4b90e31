"""Reads for case review and governance: the review queue, the audit trail and its chain, the model registry,
version-to-version differences, and real-world performance against reviewed diagnoses.

Clinic data is scoped through selectors.scoped / object_get_for_user like every other read; the queue,
the audit trail and the performance figures are for a clinic's reviewers and administrators.
"""
from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet

from mlcore import CLASSES

from . import permissions
from .interpretation import VersionDiff, VersionDiffRow, prediction_pair_diff
from .models import (
    AuditEvent,
    Clinic,
    LesionImage,
    ModelVersion,
    Prediction,
    PredictionStatus,
    Review,
    ReviewCase,
    ReviewCaseReason,
)
from .selectors import audit_event_list, object_get_for_user, scoped

MELANOMA = "mel"
AGE_BANDS = (("0-29", 0, 29), ("30-44", 30, 44), ("45-59", 45, 59), ("60-74", 60, 74), ("75+", 75, 200))


def governance_clinic_get(*, user, pk) -> Clinic:
    """A clinic the user reviews or administers: 404 for another clinic's, 403 for a clinician of it."""
    clinic = object_get_for_user(Clinic, user=user, pk=pk)
    permissions.require(user, "governance.view", clinic)
    return clinic


# --- Review queue -----------------------------------------------------------------------------------------------
def review_case_list(
    *, user, clinic: Clinic | None = None, state: str | None = None, reason: str | None = None,
    assignee=None, open_only: bool = False,
) -> QuerySet[ReviewCase]:
    """Cases in the clinics the user reviews, most urgent first (priority, then oldest), reasons prefetched."""
    reviewed = permissions.clinics_where(user, "governance.view")
    cases = (ReviewCase.objects.filter(image__lesion__patient__clinic__in=reviewed)
             .select_related("image__lesion__patient__clinic", "prediction", "assignee")
             .prefetch_related(Prefetch("reasons", queryset=ReviewCaseReason.objects.order_by("-priority", "id")))
             .order_by("-priority", "opened_at", "id"))
    if clinic is not None:
        cases = cases.filter(image__lesion__patient__clinic=clinic)
    if state:
        cases = cases.filter(state=state)
    elif open_only:
        cases = cases.exclude(state="done")
    if reason:
        cases = cases.filter(reasons__code=reason)
    if assignee is not None:
        cases = cases.filter(assignee=assignee)
    return cases


def review_case_get(*, user, pk) -> ReviewCase:
    """One case: 404 outside the user's clinics, 403 for a clinician of its clinic."""
    case = object_get_for_user(
        ReviewCase.objects.select_related("image__lesion__patient__clinic", "prediction", "assignee", "review"),
        user=user, pk=pk)
    permissions.require(user, "governance.view", case.image.lesion.patient.clinic)
    return case


def reviewer_list(*, clinic: Clinic):
    """The users who may be assigned a case of the clinic (its reviewers and administrators)."""
    from django.contrib.auth import get_user_model

    user_ids = permissions.members_with("review_case.assignee", clinic).values("user_id")
    return get_user_model().objects.filter(id__in=user_ids).order_by("username")


# --- Audit trail ------------------------------------------------------------------------------------------------
def audit_event_browse(
    *, user, clinic: Clinic, action: str = "", actor_id: int | None = None, target_type: str = "",
    target_id: str = "", since: datetime.date | None = None, until: datetime.date | None = None,
) -> QuerySet[AuditEvent]:
    """A clinic's audit trail, newest first, filtered; for its reviewers and administrators."""
    events = audit_event_list(user=user, clinic=clinic).order_by("-id")
    if action:
        events = events.filter(action__startswith=action)
    if actor_id:
        events = events.filter(actor_id=actor_id)
    if target_type:
        events = events.filter(target_type=target_type)
    if target_id:
        events = events.filter(target_id=target_id)
    if since:
        events = events.filter(created_at__date__gte=since)
    if until:
        events = events.filter(created_at__date__lte=until)
    return events


# --- Model registry ---------------------------------------------------------------------------------------------
def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("registered_by", "activated_by").order_by("-is_active", "-registered_at")


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def model_version_get(*, identifier: str) -> ModelVersion:
    """A registered version by "name:version" (ModelVersion.DoesNotExist otherwise)."""
    return ModelVersion.objects.get(identifier=identifier)


# --- Version differences ----------------------------------------------------------------------------------------
def prediction_version_diff(
    *, to_version: str, images: QuerySet[LesionImage] | None = None, from_version: str | None = None,
) -> VersionDiff:
    """For each image with a succeeded `to_version` result, compare it with the `from_version` result, or by
    default with the newest succeeded result of any other version. Images without both are left out."""
    succeeded = Prediction.objects.filter(status=PredictionStatus.SUCCEEDED)
    if images is not None:
        succeeded = succeeded.filter(image__in=images.values("id"))
    rows = succeeded.values_list("id", "image_id", "model_version", "top_class", "malignancy_risk", "finished_at")
    target: dict[int, tuple] = {}
    baseline: dict[int, tuple] = {}
    for row in rows.order_by("image_id", "finished_at", "id"):
        image_id, version = row[1], row[2]
        if version == to_version:
            target[image_id] = row
        elif from_version is None or version == from_version:
            baseline[image_id] = row  # ordered by finished_at: the newest wins
    diff_rows = []
    for image_id in sorted(target.keys() & baseline.keys()):
        new, old = target[image_id], baseline[image_id]
        diff_rows.append(VersionDiffRow(image_id=image_id, from_version=old[2], from_prediction_id=old[0],
                                        to_prediction_id=new[0], diff=prediction_pair_diff(
                                            old_top=old[3], old_risk=old[4], new_top=new[3], new_risk=new[4])))
    return VersionDiff(to_version=to_version, rows=diff_rows)


# --- Real-world performance -------------------------------------------------------------------------------------
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

    def confusion(self) -> list[list[int]]:
        """Rows: reviewed diagnosis; columns: predicted class; both in CLASSES order."""
        index = {c: i for i, c in enumerate(CLASSES)}
        matrix = [[0] * len(CLASSES) for _ in CLASSES]
        for truth, predicted in self.pairs:
            matrix[index[truth]][index[predicted]] += 1
        return matrix

    def recall(self, cls: str) -> dict:
        support = sum(truth == cls for truth, _ in self.pairs)
        correct = sum(truth == cls and predicted == cls for truth, predicted in self.pairs)
        return {"support": support, "correct": correct, "recall": _ratio(correct, support)}

    def as_dict(self, *, detail: bool = True) -> dict:
        agreed = sum(truth == predicted for truth, predicted in self.pairs)
        melanoma = self.recall(MELANOMA)
        figures = {
            "n": self.n, "agreed": agreed, "agreement_rate": _ratio(agreed, self.n),
            "melanoma_sensitivity": melanoma["recall"], "melanomas": melanoma["support"],
            "melanomas_detected": melanoma["correct"],
        }
        if detail:
            figures["per_class_recall"] = {c: self.recall(c) for c in CLASSES}
            figures["confusion_matrix"] = {"labels": list(CLASSES), "rows": "reviewed diagnosis",
                                           "columns": "predicted class", "matrix": self.confusion()}
        return figures


@dataclass
class PerformanceReport:
    clinic: Clinic
    versions: list[str]
    figures: dict[str, dict]  # version -> Figures.as_dict() plus "subgroups"
    histopathology_only: bool

    def as_dict(self) -> dict:
        return {"clinic": {"id": self.clinic.pk, "name": self.clinic.name},
                "histopathology_only": self.histopathology_only, "classes": list(CLASSES),
                "model_versions": [{"model_version": v, **self.figures[v]} for v in self.versions]}


def _reference_diagnoses(reviews: QuerySet[Review], *, histopathology_only: bool) -> dict[int, str]:
    """Each image's reference diagnosis: its newest histopathology-confirmed review, else its newest review."""
    if histopathology_only:
        reviews = reviews.filter(histopathology_confirmed=True)
    reference: dict[int, tuple] = {}
    for image_id, diagnosis, confirmed, created_at, pk in reviews.values_list(
            "image_id", "diagnosis", "histopathology_confirmed", "created_at", "id"):
        key = (confirmed, created_at, pk)
        if image_id not in reference or key > reference[image_id][0]:
            reference[image_id] = (key, diagnosis)
    return {image_id: diagnosis for image_id, (_, diagnosis) in reference.items()}


def performance_report(
    *, user, clinic: Clinic, model_version: str | None = None, histopathology_only: bool = False,
) -> PerformanceReport:
    """How each model version's succeeded predictions compare with the clinic's reviewed diagnoses:
    confusion matrix, per-class recall, melanoma sensitivity and agreement rate, overall and by sex,
    age band and anatomic site (from the image's metadata at capture)."""
    permissions.require(user, "governance.view", clinic)
    reviews = scoped(Review.objects.filter(image__lesion__patient__clinic=clinic), user=user)
    reference = _reference_diagnoses(reviews, histopathology_only=histopathology_only)
    predictions = scoped(Prediction.objects.filter(image__lesion__patient__clinic=clinic,
                                                   status=PredictionStatus.SUCCEEDED,
                                                   image_id__in=reviews.values("image_id")), user=user)
    if model_version:
        predictions = predictions.filter(model_version=model_version)
    overall: dict[str, Figures] = defaultdict(Figures)
    groups: dict[str, dict[str, dict[str, Figures]]] = defaultdict(
        lambda: {"sex": defaultdict(Figures), "age_band": defaultdict(Figures), "site": defaultdict(Figures)})
    for version, image_id, top_class, sex, age, site in predictions.values_list(
            "model_version", "image_id", "top_class", "image__sex", "image__age", "image__site").order_by("id"):
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
