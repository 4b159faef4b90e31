import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from predictions.models import AuditEvent, Review
from predictions.services import review_create

from ..factories import LesionImageFactory, PredictionFactory


@pytest.fixture
def prediction(staff):
    return PredictionFactory(
        image=LesionImageFactory(lesion=staff.lesion),
        status="succeeded",
        top_class="mel",
        probabilities={"mel": 0.8, "nv": 0.2},
        malignancy_risk=0.8,
        finished_at=timezone.now(),
    )


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_a_reviewer_agrees_with_a_prediction_and_takes_its_class(staff, prediction, role):
    review = review_create(
        actor=staff.role(role),
        image=prediction.image,
        prediction=prediction,
        verdict="agree",
        histopathology_confirmed=True,
        notes="Excised; confirmed.",
    )
    assert (review.diagnosis, review.reviewer, review.histopathology_confirmed) == ("mel", staff.role(role), True)
    event = AuditEvent.objects.get(action="review.create", target_id=str(review.pk))
    assert event.data["diagnosis"] == "mel" and event.clinic == staff.clinic


def test_a_reviewer_overrides_a_prediction_with_another_class(staff, prediction):
    review = review_create(
        actor=staff.reviewer, image=prediction.image, prediction=prediction, verdict="override", diagnosis="bkl"
    )
    assert review.diagnosis == "bkl"


def test_an_image_can_be_reviewed_without_a_prediction(staff, prediction):
    review = review_create(actor=staff.reviewer, image=prediction.image, verdict="override", diagnosis="nv")
    assert review.prediction is None


def test_agreeing_with_a_prediction_that_has_not_finished_is_refused(staff):
    queued = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    with pytest.raises(ValidationError, match="finished prediction"):
        review_create(actor=staff.reviewer, image=queued.image, prediction=queued, verdict="agree")


def test_agreeing_while_naming_another_class_is_refused(staff, prediction):
    with pytest.raises(ValidationError, match="use override"):
        review_create(
            actor=staff.reviewer, image=prediction.image, prediction=prediction, verdict="agree", diagnosis="nv"
        )


def test_an_override_without_a_diagnosis_or_with_an_unknown_one_is_refused(staff, prediction):
    for diagnosis in (None, "psoriasis"):
        with pytest.raises(ValidationError):
            review_create(actor=staff.reviewer, image=prediction.image, verdict="override", diagnosis=diagnosis)
    assert not Review.objects.exists()


def test_a_prediction_of_another_image_is_refused(staff, prediction):
    other_image = LesionImageFactory(lesion=staff.lesion)
    with pytest.raises(ValidationError, match="another image"):
        review_create(actor=staff.reviewer, image=other_image, prediction=prediction, verdict="agree")


@pytest.mark.parametrize("role", ["clinician", "outsider"])
def test_clinicians_and_other_clinics_users_cannot_review(staff, prediction, role):
    with pytest.raises(PermissionDenied):
        review_create(actor=staff.role(role), image=prediction.image, prediction=prediction, verdict="agree")
    assert not Review.objects.exists() and not AuditEvent.objects.filter(action="review.create").exists()
