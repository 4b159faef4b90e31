"""The review queue: which results open a case, in what order cases come, and how a case moves
new -> in review -> done; each step audited, each clinic's cases out of the others' reach."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.test import RequestFactory

from predictions import selectors
from predictions.governance.filters import ReviewCaseFilter
from predictions.models import AuditEvent, ReviewCase, ReviewCaseState, ReviewReason
from predictions.services import review_create
from predictions.services.review_cases import review_case_assign, review_case_close
from tests.predictions.factories import LesionFactory, LesionImageFactory

from .helpers import finished_prediction, stored_prediction

pytestmark = pytest.mark.django_db

HIGH = {"mel": 0.80, "nv": 0.15}  # risk >= 0.8: high band
CONFIDENT_BENIGN = {"nv": 0.95}  # risk ~0.01, top probability 0.95
UNCERTAIN_BENIGN = {"nv": 0.34, "bkl": 0.33, "df": 0.30}  # spread over classes, little risk


def queue(user, **query):
    """The user's cases as the queue page filters them, with `query` as its query string."""
    request = RequestFactory().get("/", query)
    request.user = user
    return ReviewCaseFilter(request.GET, queryset=selectors.review_case_list(user=user), request=request).qs


def reasons(case):
    return sorted(case.reasons.values_list("code", flat=True))


def test_a_high_risk_result_opens_a_case_in_the_transaction_that_stores_it(staff):
    prediction = finished_prediction(lesion=staff.lesion, probabilities=HIGH)
    case = ReviewCase.objects.get(image=prediction.image)
    assert case.state == ReviewCaseState.NEW and case.prediction == prediction
    assert reasons(case) == [ReviewReason.HIGH_RISK]
    assert case.reasons.get().detail["malignancy_risk"] == pytest.approx(prediction.malignancy_risk)
    event = AuditEvent.objects.get(action="review_case.open", target_id=str(case.pk))
    assert event.clinic == staff.clinic and event.actor is None and event.data["reasons"] == ["high_risk"]


def test_a_confident_low_risk_result_opens_no_case(staff):
    finished_prediction(lesion=staff.lesion, probabilities=CONFIDENT_BENIGN)
    assert not ReviewCase.objects.exists()


def test_an_uncertain_result_and_a_failed_prediction_each_open_a_case(staff):
    uncertain = finished_prediction(lesion=staff.lesion, probabilities=UNCERTAIN_BENIGN)
    failed = finished_prediction(lesion=staff.lesion, fail="The stored image could not be read by the model")
    assert reasons(ReviewCase.objects.get(image=uncertain.image)) == [ReviewReason.UNCERTAIN]
    failed_case = ReviewCase.objects.get(image=failed.image)
    assert reasons(failed_case) == [ReviewReason.FAILED]
    assert "could not be read" in failed_case.reasons.get().detail["error"]


def test_cases_come_most_urgent_first_then_oldest_first(staff):
    failed = finished_prediction(lesion=staff.lesion, fail="unreadable")
    uncertain = finished_prediction(lesion=staff.lesion, probabilities=UNCERTAIN_BENIGN)
    risky = finished_prediction(lesion=staff.lesion, probabilities={"mel": 0.6, "nv": 0.4})
    riskier = finished_prediction(lesion=staff.lesion, probabilities={"mel": 0.9, "nv": 0.1})
    second_uncertain = finished_prediction(lesion=staff.lesion, probabilities=UNCERTAIN_BENIGN)

    queue = list(selectors.review_case_list(user=staff.reviewer, clinic=staff.clinic))
    assert [case.image_id for case in queue] == [
        riskier.image_id,
        risky.image_id,
        uncertain.image_id,
        second_uncertain.image_id,
        failed.image_id,
    ]
    priorities = [case.priority for case in queue]
    assert priorities == sorted(priorities, reverse=True)


def test_a_second_reason_joins_the_open_case_and_raises_its_priority(staff):
    image = LesionImageFactory(lesion=staff.lesion)
    finished_prediction(image=image, probabilities=UNCERTAIN_BENIGN, version="model-a:1")
    case = ReviewCase.objects.get(image=image)
    before = case.priority
    finished_prediction(image=image, probabilities=HIGH, version="model-b:1")
    case.refresh_from_db()
    assert ReviewCase.objects.filter(image=image).count() == 1
    assert reasons(case) == sorted([ReviewReason.UNCERTAIN, ReviewReason.HIGH_RISK, ReviewReason.VERSION_DISAGREEMENT])
    assert case.priority > before
    disagreement = case.reasons.get(code=ReviewReason.VERSION_DISAGREEMENT).detail
    assert (disagreement["from_version"], disagreement["to_version"]) == ("model-a:1", "model-b:1")
    assert (disagreement["from_top_class"], disagreement["to_top_class"]) == ("nv", "mel")
    assert (disagreement["from_band"], disagreement["to_band"]) == ("low", "high")


def test_the_database_allows_one_open_case_per_image(staff):
    prediction = finished_prediction(lesion=staff.lesion, probabilities=HIGH)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewCase.objects.create(image=prediction.image)


def test_assigning_moves_a_case_to_in_review_and_unassigning_back_to_new(staff):
    case = ReviewCase.objects.get(image=finished_prediction(lesion=staff.lesion, probabilities=HIGH).image)
    review_case_assign(actor=staff.admin, case=case, assignee=staff.reviewer)
    case.refresh_from_db()
    assert (case.state, case.assignee) == (ReviewCaseState.IN_REVIEW, staff.reviewer)
    assert case.assigned_at is not None
    assert list(queue(staff.reviewer, mine="on")) == [case]

    review_case_assign(actor=staff.reviewer, case=case, assignee=None)
    case.refresh_from_db()
    assert (case.state, case.assignee) == (ReviewCaseState.NEW, None)
    actions = list(
        AuditEvent.objects.filter(target_id=str(case.pk), target_type="predictions.reviewcase")
        .order_by("id")
        .values_list("action", "actor")
    )
    assert actions == [
        ("review_case.open", None),
        ("review_case.assign", staff.admin.pk),
        ("review_case.unassign", staff.reviewer.pk),
    ]


def test_recording_a_review_of_the_image_closes_its_case(staff):
    prediction = finished_prediction(lesion=staff.lesion, probabilities=HIGH)
    case = ReviewCase.objects.get(image=prediction.image)
    review_case_assign(actor=staff.reviewer, case=case, assignee=staff.reviewer)
    review = review_create(actor=staff.reviewer, image=prediction.image, verdict="agree", prediction=prediction)
    case.refresh_from_db()
    assert (case.state, case.review, case.closed_by) == (ReviewCaseState.DONE, review, staff.reviewer)
    assert AuditEvent.objects.filter(action="review_case.close", target_id=str(case.pk)).count() == 1
    assert list(queue(staff.reviewer)) == []
    assert list(queue(staff.reviewer, state=ReviewCaseState.DONE)) == [case]


def test_a_reviewed_image_comes_back_only_when_a_model_version_disagrees(staff):
    image = LesionImageFactory(lesion=staff.lesion)
    first = finished_prediction(image=image, probabilities=HIGH, version="model-a:1")
    review_create(actor=staff.reviewer, image=image, verdict="agree", prediction=first)

    finished_prediction(image=image, probabilities={"mel": 0.85, "nv": 0.15}, version="model-b:1")  # agrees
    assert not ReviewCase.objects.filter(image=image, state__in=["new", "in_review"]).exists()

    finished_prediction(image=image, probabilities=CONFIDENT_BENIGN, version="model-c:1")  # disagrees
    reopened = ReviewCase.objects.get(image=image, state=ReviewCaseState.NEW)
    assert reasons(reopened) == [ReviewReason.VERSION_DISAGREEMENT]


def test_closing_without_a_review_needs_a_reason_and_a_done_case_stays_done(staff):
    case = ReviewCase.objects.get(image=finished_prediction(lesion=staff.lesion, fail="unreadable").image)
    with pytest.raises(ValidationError):
        review_case_close(actor=staff.reviewer, case=case, resolution="  ")
    review_case_close(actor=staff.reviewer, case=case, resolution="Re-photographed; new image uploaded.")
    case.refresh_from_db()
    assert case.state == ReviewCaseState.DONE and case.closed_at is not None
    with pytest.raises(ValidationError):
        review_case_assign(actor=staff.admin, case=case, assignee=staff.reviewer)
    with pytest.raises(ValidationError):
        review_case_close(actor=staff.admin, case=case, resolution="again")


def test_only_reviewers_and_admins_of_the_clinic_work_the_queue(staff):
    case = ReviewCase.objects.get(image=finished_prediction(lesion=staff.lesion, probabilities=HIGH).image)
    with pytest.raises(PermissionDenied):
        review_case_assign(actor=staff.clinician, case=case, assignee=staff.clinician)
    with pytest.raises(PermissionDenied):
        review_case_assign(actor=staff.outsider, case=case, assignee=staff.outsider)
    with pytest.raises(ValidationError):  # a case goes only to a reviewer or admin of its clinic
        review_case_assign(actor=staff.admin, case=case, assignee=staff.clinician)
    with pytest.raises(ValidationError):
        review_case_assign(actor=staff.admin, case=case, assignee=staff.outsider)
    case.refresh_from_db()
    assert case.state == ReviewCaseState.NEW and not AuditEvent.objects.filter(action="review_case.assign").exists()


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_reviewers_and_admins_see_their_clinics_cases(staff, role):
    case = ReviewCase.objects.get(image=finished_prediction(lesion=staff.lesion, probabilities=HIGH).image)
    assert list(selectors.review_case_list(user=staff.role(role))) == [case]
    assert selectors.review_case_get(user=staff.role(role), pk=case.pk) == case


def test_a_clinician_is_refused_and_another_clinics_user_finds_nothing(staff):
    case = ReviewCase.objects.get(image=finished_prediction(lesion=staff.lesion, probabilities=HIGH).image)
    other_lesion = LesionFactory(patient__clinic=staff.other_clinic)
    finished_prediction(lesion=other_lesion, probabilities=HIGH)
    assert list(selectors.review_case_list(user=staff.clinician)) == []
    with pytest.raises(PermissionDenied):
        selectors.review_case_get(user=staff.clinician, pk=case.pk)
    assert [c.image.lesion for c in selectors.review_case_list(user=staff.outsider)] == [other_lesion]
    with pytest.raises(Http404):
        selectors.review_case_get(user=staff.outsider, pk=case.pk)


def test_queue_filters_by_reason(staff):
    risky = finished_prediction(lesion=staff.lesion, probabilities=HIGH)
    finished_prediction(lesion=staff.lesion, fail="unreadable")
    found = queue(staff.reviewer, reason=ReviewReason.HIGH_RISK)
    assert [case.image_id for case in found] == [risky.image_id]


def test_listing_the_queue_takes_a_fixed_number_of_queries(staff, django_assert_max_num_queries):
    for _ in range(3):
        stored = stored_prediction(image=LesionImageFactory(lesion=staff.lesion), version="m:1", probabilities=HIGH)
        from predictions.services.review_cases import review_cases_triage

        review_cases_triage(predictions=[stored])
    with django_assert_max_num_queries(3):
        cases = list(selectors.review_case_list(user=staff.reviewer))
        for case in cases:
            _ = [reason.code for reason in case.reasons.all()], case.image.lesion.patient.full_name
    assert len(cases) == 3


def _finished_with(staff, *, probabilities, **gate):
    """A prediction run by a worker whose model has a gate and an operating point (model 2.0's fields)."""
    from predictions import services
    from tests.predictions.factories import PredictionFactory

    from .conftest import ScriptedClassifier, result

    prediction = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion), model_version="test-colour:1.0")
    [held] = services.prediction_claim(
        prediction_id=prediction.pk, claimant="run", model_version="test-colour:1.0", limit=1
    )
    scripted = result(probabilities)
    for name, value in gate.items():
        setattr(scripted, name, value)
    services.prediction_run(predictions=[held], classifier=ScriptedClassifier([scripted]), claimant="run")
    prediction.refresh_from_db()
    return prediction


def test_a_result_at_the_models_referral_threshold_is_queued_for_review_even_when_its_risk_is_modest(staff):
    prediction = _finished_with(
        staff,
        probabilities={"nv": 0.78, "mel": 0.14, "bkl": 0.02},
        refer=True,
        referral_threshold=0.12,
        assessable=True,
    )
    assert prediction.refer is True and prediction.malignancy_risk < 0.40  # "intermediate" by the clinic's bands
    case = ReviewCase.objects.get(image=prediction.image)
    assert reasons(case) == [ReviewReason.HIGH_RISK]
    assert case.reasons.get().detail["referral_threshold"] == pytest.approx(0.12)


def test_a_result_below_the_models_threshold_opens_no_case_even_when_the_clinics_band_is_high(staff):
    prediction = _finished_with(
        staff, probabilities={"nv": 0.5, "mel": 0.45}, refer=False, referral_threshold=0.6, assessable=True
    )
    assert not ReviewCase.objects.filter(image=prediction.image).exists()


def test_an_image_the_model_refused_is_queued_with_the_models_reasons(staff):
    prediction = _finished_with(
        staff,
        probabilities={"nv": 0.9},
        refer=False,
        referral_threshold=0.12,
        assessable=False,
        reasons=[{"code": "blur", "message": "The image is out of focus."}],
    )
    case = ReviewCase.objects.get(image=prediction.image)
    assert reasons(case) == [ReviewReason.UNCERTAIN]
    assert case.reasons.get().detail["why"] == ["The image is out of focus."]


def test_the_queue_lists_every_state_for_all_and_a_query_with_an_error_filters_by_nothing_but_open(staff):
    closed = ReviewCase.objects.get(image=finished_prediction(lesion=staff.lesion, probabilities=HIGH).image)
    review_case_close(actor=staff.reviewer, case=closed, resolution="Seen in clinic.")
    open_case = ReviewCase.objects.get(image=finished_prediction(lesion=staff.lesion, probabilities=HIGH).image)
    assert {case.pk for case in queue(staff.reviewer, state="all")} == {closed.pk, open_case.pk}
    assert list(queue(staff.reviewer, state="no-such-state", reason=ReviewReason.UNCERTAIN)) == [open_case]
