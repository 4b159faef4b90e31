"""Clinic scoping: members of a clinic reach its records, whatever their role; nobody else does."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from predictions import selectors
from predictions.models import Lesion, LesionImage, Patient, Prediction
from predictions.services.audit import audit_record

from .factories import LesionFactory, LesionImageFactory, PatientFactory, PredictionFactory

MEMBERS = ["clinician", "reviewer", "admin"]


@pytest.fixture
def records(staff):
    """One image with a prediction in the staff's clinic, and the same in the other clinic."""
    mine = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    theirs = PredictionFactory(
        image=LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=staff.other_clinic)))
    )
    return mine, theirs


@pytest.mark.parametrize("role", MEMBERS)
def test_members_of_each_role_reach_their_clinics_records(staff, records, role):
    mine, _ = records
    user = staff.role(role)
    assert selectors.object_get_for_user(Patient, user=user, pk=staff.patient.pk) == staff.patient
    assert selectors.object_get_for_user(Lesion, user=user, pk=staff.lesion.pk) == staff.lesion
    assert selectors.object_get_for_user(LesionImage, user=user, pk=mine.image.pk) == mine.image
    assert selectors.object_get_for_user(Prediction, user=user, pk=mine.pk) == mine


@pytest.mark.parametrize("role", MEMBERS + ["outsider"])
def test_nobody_reaches_another_clinics_records(staff, records, role):
    mine, theirs = records
    user = staff.role(role)
    other = theirs if role != "outsider" else mine
    for model, pk in [
        (Patient, other.image.lesion.patient.pk),
        (Lesion, other.image.lesion.pk),
        (LesionImage, other.image.pk),
        (Prediction, other.pk),
    ]:
        with pytest.raises(Http404):
            selectors.object_get_for_user(model, user=user, pk=pk)


def test_an_anonymous_user_or_a_user_without_a_clinic_reaches_nothing(staff, records, user_without_clinic):
    mine, _ = records
    for user in (AnonymousUser(), user_without_clinic):
        with pytest.raises(Http404):
            selectors.object_get_for_user(LesionImage, user=user, pk=mine.image.pk)
        assert not selectors.patient_list(user=user).exists()


def test_a_malformed_id_is_a_404_not_an_error(staff):
    with pytest.raises(Http404):
        selectors.object_get_for_user(Patient, user=staff.clinician, pk="not-a-number")


@pytest.mark.parametrize("role", MEMBERS)
def test_lists_hold_only_the_users_clinic(staff, records, role):
    mine, theirs = records
    user = staff.role(role)
    assert list(selectors.patient_list(user=user)) == [staff.patient]
    assert list(selectors.lesion_image_list(user=user)) == [mine.image]
    assert list(selectors.prediction_list(user=user)) == [mine]
    assert list(selectors.clinic_list(user=user)) == [staff.clinic]


def test_the_outsider_lists_only_their_own_clinic(staff, records):
    _, theirs = records
    assert list(selectors.prediction_list(user=staff.outsider)) == [theirs]


def test_listing_predictions_with_their_clinic_takes_one_query(staff, records, django_assert_num_queries):
    PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    with django_assert_num_queries(1):
        clinics = [p.image.lesion.patient.clinic.name for p in selectors.prediction_list(user=staff.clinician)]
    assert clinics == [staff.clinic.name] * 2


def test_only_the_clinics_reviewers_and_admins_read_its_audit_trail(staff):
    ours = audit_record(actor=staff.clinician, clinic=staff.clinic, action="patient.view", target=staff.patient)
    audit_record(actor=staff.outsider, clinic=staff.other_clinic, action="clinic.view", target=staff.other_clinic)
    for role in ["reviewer", "admin"]:
        assert list(selectors.audit_event_list(user=staff.role(role), clinic=staff.clinic)) == [ours]
    for role in ["clinician", "outsider"]:
        with pytest.raises(PermissionDenied):
            selectors.audit_event_list(user=staff.role(role), clinic=staff.clinic)
