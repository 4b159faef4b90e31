"""The case-review queue: cases open themselves (triage), reviewers take and close them.

Cases open themselves: `review_cases_triage` runs in the transaction that finishes a prediction and queues
the image for a human when the result is high-risk, uncertain, failed, or disagrees with another model
version's result for the same image. Recording a review of the image closes its open case.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import permissions
from ..interpretation import prediction_pair_diff
from ..models import (
    Prediction,
    PredictionStatus,
    Review,
    ReviewCase,
    ReviewCaseReason,
    ReviewCaseState,
    ReviewReason,
)
from ..models.audit import AuditAction
from ..validators import notes_max_length
from .audit import AuditEntry, audit_record, audit_records

OPEN_STATES = (ReviewCaseState.NEW, ReviewCaseState.IN_REVIEW)


# --- Triage -----------------------------------------------------------------------------------------------------
def _reason_priority(code: str, detail: dict) -> int:
    """Higher first. A likely malignancy outranks disagreement, which outranks doubt and failure."""
    if code == ReviewReason.HIGH_RISK:
        return 70 + round(30 * detail["malignancy_risk"])
    if code == ReviewReason.VERSION_DISAGREEMENT:
        from mlcore import MALIGNANT_CLASSES

        involves_malignancy = (
            detail["to_band"] == "high"
            or detail["from_band"] == "high"
            or {detail["from_top_class"], detail["to_top_class"]} & set(MALIGNANT_CLASSES)
        )
        return 80 if involves_malignancy else 60
    if code == ReviewReason.UNCERTAIN:
        return 40
    return 30  # FAILED: the image needs looking at (or a new photograph), not a diagnosis urgently


def _case_priority(reason_priorities: Iterable[int]) -> int:
    priorities = sorted(reason_priorities, reverse=True)
    return priorities[0] + 5 * (len(priorities) - 1) if priorities else 0


def _triage_reasons(prediction: Prediction, *, other: Prediction | None) -> list[tuple[str, dict]]:
    """Why a finished prediction needs a human; `other` is the image's latest result of another model version."""
    from ..interpretation import prediction_interpret

    if prediction.status == PredictionStatus.FAILED:
        return [(ReviewReason.FAILED, {"error": prediction.error[:500]})]
    reading = prediction_interpret(prediction)
    if reading is None:
        return []
    reasons = []
    if reading.needs_review:  # at or above the model's referral threshold (or, without one, the clinic's high band)
        reasons.append(
            (
                ReviewReason.HIGH_RISK,
                {
                    "malignancy_risk": reading.risk,
                    "top_class": reading.top.code,
                    "referral_threshold": reading.referral_threshold,
                },
            )
        )
    if not reading.assessable:  # the model refused the image: a human decides what it shows, or asks for another
        reasons.append(
            (
                ReviewReason.UNCERTAIN,
                {
                    "top_class": reading.top.code,
                    "top_probability": reading.top.probability,
                    "entropy": reading.entropy,
                    "why": [r.message for r in reading.assessment_reasons]
                    or ["The model could not assess this image."],
                },
            )
        )
    elif reading.uncertain:
        reasons.append(
            (
                ReviewReason.UNCERTAIN,
                {
                    "top_class": reading.top.code,
                    "top_probability": reading.top.probability,
                    "entropy": reading.entropy,
                    "why": reading.uncertain_reasons,
                },
            )
        )
    if other is not None:
        diff = prediction_pair_diff(
            old_top=other.top_class, old_risk=other.malignancy_risk, new_top=prediction.top_class, new_risk=reading.risk
        )
        if diff["top_class_changed"] or diff["band_changed"]:
            reasons.append(
                (
                    ReviewReason.VERSION_DISAGREEMENT,
                    {
                        "from_version": other.model_version,
                        "from_prediction_id": other.pk,
                        "to_version": prediction.model_version,
                        "to_prediction_id": prediction.pk,
                        **diff,
                    },
                )
            )
    return reasons


def _latest_other_versions(predictions: Sequence[Prediction]) -> dict[int, Prediction]:
    """For each succeeded prediction (by id), its image's latest succeeded result of another model version."""
    succeeded = [p for p in predictions if p.status == PredictionStatus.SUCCEEDED]
    if not succeeded:
        return {}
    results: dict[int, list[Prediction]] = {}
    for other in (
        Prediction.objects.filter(image_id__in={p.image_id for p in succeeded}, status=PredictionStatus.SUCCEEDED)
        .only("id", "image_id", "model_version", "top_class", "malignancy_risk", "finished_at")
        .order_by("-finished_at", "-id")
    ):
        results.setdefault(other.image_id, []).append(other)
    latest = {}
    for prediction in succeeded:
        latest[prediction.pk] = next(
            (
                o
                for o in results.get(prediction.image_id, [])
                if o.model_version != prediction.model_version and o.pk != prediction.pk
            ),
            None,
        )
    return latest


def review_cases_triage(*, predictions: Sequence[Prediction]) -> dict[int, ReviewCase]:
    """Queue each finished prediction's image for review if its result calls for a human; returns the open
    case of each prediction that gave a reason, by prediction id.

    Call it in the transaction that finishes the predictions: a worker's batch is triaged in a fixed
    number of queries. An image someone already reviewed comes back only when a model version disagrees
    with another; its other reasons were settled by the review.
    """
    if not predictions:
        return {}
    others = _latest_other_versions(predictions)
    reviewed = set(
        Review.objects.filter(image_id__in={p.image_id for p in predictions}).values_list("image_id", flat=True)
    )
    triaged = []
    for prediction in predictions:
        reasons = _triage_reasons(prediction, other=others.get(prediction.pk))
        if prediction.image_id in reviewed:
            reasons = [(code, detail) for code, detail in reasons if code == ReviewReason.VERSION_DISAGREEMENT]
        if reasons:
            triaged.append((prediction, reasons))
    if not triaged:
        return {}
    with transaction.atomic():
        cases, opened = _open_cases_locked({p.image_id: p for p, _ in triaged})
        reasons_of: dict[tuple[int, str], ReviewCaseReason] = {}
        for prediction, reasons in triaged:  # a later prediction of the same image replaces an earlier one's reason
            case = cases[prediction.image_id]
            case.prediction = prediction
            for code, detail in reasons:
                reasons_of[case.pk, code] = ReviewCaseReason(
                    case=case, code=code, prediction=prediction, detail=detail, priority=_reason_priority(code, detail)
                )
        ReviewCaseReason.objects.bulk_create(
            list(reasons_of.values()),
            update_conflicts=True,
            unique_fields=["case", "code"],
            update_fields=["prediction", "detail", "priority"],
        )
        priorities: dict[int, list[int]] = {}
        for case_id, priority in ReviewCaseReason.objects.filter(
            case_id__in=[c.pk for c in cases.values()]
        ).values_list("case_id", "priority"):
            priorities.setdefault(case_id, []).append(priority)
        now = timezone.now()
        for case in cases.values():
            case.priority, case.updated_at = _case_priority(priorities[case.pk]), now
        ReviewCase.objects.bulk_update(list(cases.values()), ["prediction", "priority", "updated_at"])
        entries = []
        for prediction, reasons in triaged:
            case = cases[prediction.image_id]
            action = AuditAction.REVIEW_CASE_OPEN if case.pk in opened else AuditAction.REVIEW_CASE_REASON
            opened.discard(case.pk)  # a second prediction of the image in the batch adds its reasons
            entries.append(
                AuditEntry(
                    actor=None,
                    clinic=prediction.image.clinic,
                    action=action,
                    target=case,
                    data={
                        "image_id": prediction.image_id,
                        "prediction_id": prediction.pk,
                        "reasons": [code for code, _ in reasons],
                        "priority": case.priority,
                    },
                )
            )
        audit_records(entries)
    return {prediction.pk: cases[prediction.image_id] for prediction, _ in triaged}


def _open_cases_locked(first_prediction_of: dict[int, Prediction]) -> tuple[dict[int, ReviewCase], set[int]]:
    """The open case of each image (by image id), locked, opening those that have none; and the ids opened."""
    image_ids = list(first_prediction_of)
    open_cases = ReviewCase.objects.select_for_update().filter(image_id__in=image_ids, state__in=OPEN_STATES)
    cases = {case.image_id: case for case in open_cases}
    missing = [
        ReviewCase(image_id=image_id, prediction=prediction)
        for image_id, prediction in first_prediction_of.items()
        if image_id not in cases
    ]
    try:
        with transaction.atomic():
            opened = ReviewCase.objects.bulk_create(missing)
    except IntegrityError:  # a concurrent finish opened one of them first: its case is ours to join
        opened = []
        for case in missing:
            try:
                with transaction.atomic():
                    case.save(force_insert=True)
                opened.append(case)
            except IntegrityError:
                cases[case.image_id] = ReviewCase.objects.select_for_update().get(
                    image_id=case.image_id, state__in=OPEN_STATES
                )
    cases.update((case.image_id, case) for case in opened)
    return cases, {case.pk for case in opened}


# --- Working the queue ------------------------------------------------------------------------------------------
def _locked(case: ReviewCase) -> ReviewCase:
    return (
        ReviewCase.objects.select_for_update(of=("self",))
        .select_related("image__lesion__patient__clinic")
        .get(pk=case.pk)
    )


@transaction.atomic
def review_case_assign(*, actor, case: ReviewCase, assignee) -> ReviewCase:
    """Give an open case to a reviewer or administrator of its clinic (state: in review), or take it back
    from its assignee with `assignee` None (state: new)."""
    case = _locked(case)
    clinic = case.image.clinic
    permissions.require(actor, "review_case.work", clinic)
    if case.state == ReviewCaseState.DONE:
        raise ValidationError({"state": "The case is done; it cannot be assigned."})
    if assignee is not None and not permissions.can(assignee, "review_case.assignee", clinic):
        raise ValidationError({"assignee": f"{assignee} is not a reviewer or administrator of {clinic}."})
    previous = case.assignee
    case.assignee = assignee
    case.state = ReviewCaseState.IN_REVIEW if assignee is not None else ReviewCaseState.NEW
    case.assigned_at = timezone.now() if assignee is not None else None
    case.full_clean()
    case.save()
    action = AuditAction.REVIEW_CASE_ASSIGN if assignee else AuditAction.REVIEW_CASE_UNASSIGN
    audit_record(
        actor=actor,
        clinic=clinic,
        action=action,
        target=case,
        data={"assignee_id": getattr(assignee, "pk", None), "previous_assignee_id": getattr(previous, "pk", None)},
    )
    return case


@transaction.atomic
def review_case_close(*, actor, case: ReviewCase, resolution: str = "", review: Review | None = None) -> ReviewCase:
    """Mark an open case done: by a review of its image (`review`), or with a written resolution
    (a failed image re-photographed, a duplicate)."""
    case = _locked(case)
    clinic = case.image.clinic
    permissions.require(actor, "review_case.work", clinic)
    if case.state == ReviewCaseState.DONE:
        raise ValidationError({"state": "The case is already done."})
    if review is not None and review.image_id != case.image_id:
        raise ValidationError({"review": "The review is of another image."})
    if review is None and not resolution.strip():
        raise ValidationError({"resolution": "Say why the case is closed without a review."})
    try:
        notes_max_length(resolution)
    except ValidationError as exc:
        raise ValidationError({"resolution": exc.messages}) from exc
    _close(case, actor=actor, review=review, resolution=resolution.strip())
    return case


def _close(case: ReviewCase, *, actor, review: Review | None, resolution: str) -> None:
    case.state = ReviewCaseState.DONE
    case.closed_at = timezone.now()
    case.closed_by = actor if actor is not None and actor.is_authenticated else None
    case.review = review
    case.resolution = resolution
    if case.assignee is None and case.closed_by is not None:
        case.assignee = case.closed_by
    case.save()
    audit_record(
        actor=actor,
        clinic=case.image.clinic,
        action=AuditAction.REVIEW_CASE_CLOSE,
        target=case,
        data={"review_id": getattr(review, "pk", None), "resolution": resolution},
    )


def review_cases_resolve(*, review: Review) -> list[ReviewCase]:
    """Close the image's open case with the review just recorded; call it in the review's transaction."""
    closed = []
    cases = (
        ReviewCase.objects.select_for_update(of=("self",))
        .select_related("image__lesion__patient__clinic")
        .filter(image_id=review.image_id, state__in=OPEN_STATES)
    )
    for case in cases:
        _close(case, actor=review.reviewer, review=review, resolution="")
        closed.append(case)
    return closed
