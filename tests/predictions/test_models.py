"""Invariants the database itself enforces, whatever code writes to it."""

import contextlib

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from predictions.models import Patient, PredictionStatus, Review

from .factories import (
    ClinicFactory,
    LesionFactory,
    LesionImageFactory,
    MembershipFactory,
    PatientFactory,
    PredictionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def refused():
    """The write must be refused by the database, leaving the test's transaction usable."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield


def test_a_medical_record_number_is_unique_within_a_clinic_only():
    patient = PatientFactory(mrn="A-1")
    PatientFactory(mrn="A-1")  # another clinic
    with refused():
        PatientFactory(mrn="A-1", clinic=patient.clinic)


def test_a_user_has_one_membership_per_clinic():
    membership = MembershipFactory()
    with refused():
        MembershipFactory(user=membership.user, clinic=membership.clinic, role="reviewer")


def test_an_unknown_role_is_refused():
    with refused():
        MembershipFactory(role="superhero")


def test_a_lesion_site_must_be_from_the_ham10000_vocabulary():
    LesionFactory(site="lower extremity")
    with refused():
        LesionFactory(site="elbow")


def test_the_same_image_digest_is_stored_once_per_lesion():
    image = LesionImageFactory()
    LesionImageFactory(sha256=image.sha256)  # another lesion may hold the same file
    with refused():
        LesionImageFactory(lesion=image.lesion, sha256=image.sha256)


def test_an_image_digest_must_be_a_sha256_hex_string():
    with refused():
        LesionImageFactory(sha256="not-a-digest")


def test_an_image_has_one_prediction_per_model_version():
    prediction = PredictionFactory()
    PredictionFactory(image=prediction.image, model_version="another-model:2")
    with refused():
        PredictionFactory(image=prediction.image, model_version=prediction.model_version)


def test_a_succeeded_prediction_must_carry_its_result():
    with refused():
        PredictionFactory(status=PredictionStatus.SUCCEEDED)
    PredictionFactory(
        status=PredictionStatus.SUCCEEDED,
        probabilities={"nv": 1.0},
        top_class="nv",
        malignancy_risk=0.0,
        finished_at=timezone.now(),
    )


def test_malignancy_risk_is_a_probability():
    with refused():
        PredictionFactory(malignancy_risk=1.5)


def test_an_agreeing_review_needs_a_prediction():
    image = LesionImageFactory()
    with refused():
        Review.objects.create(image=image, verdict="agree", diagnosis="nv", reviewer=UserFactory())


def test_records_with_clinical_history_cannot_be_deleted_from_under_it():
    image = LesionImageFactory()
    with pytest.raises(ProtectedError):
        Patient.objects.filter(pk=image.lesion.patient_id).delete()


def test_str_of_each_record_names_it():
    prediction = PredictionFactory()
    image = prediction.image
    assert "MRN" in str(image.lesion.patient)
    assert "back" in str(image.lesion)
    assert f"Image {image.pk}" in str(image)
    assert "queued" in str(prediction)
    assert str(ClinicFactory(name="North")) == "North"
    assert "Clinician" in str(MembershipFactory())
