"""On PostgreSQL the database itself refuses a prediction whose stored clinic is not its image's (migration 0012's
trigger): the clinic-scoped list trusts that column."""

import pytest
from django.db import IntegrityError, connection, transaction

from predictions.models import Prediction
from tests.predictions.factories import LesionFactory, LesionImageFactory, PatientFactory, PredictionFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the guard is a PostgreSQL trigger")


def test_a_prediction_cannot_be_stored_with_another_clinic(staff):
    image = LesionImageFactory(lesion=staff.lesion)
    with pytest.raises(IntegrityError, match="of another clinic"), transaction.atomic():
        Prediction.objects.bulk_create(
            [Prediction(image=image, clinic=staff.other_clinic, model_version="x", queued_at=staff.lesion.created_at)]
        )
    prediction = PredictionFactory(image=image)
    with pytest.raises(IntegrityError, match="of another clinic"), transaction.atomic():
        Prediction.objects.filter(pk=prediction.pk).update(clinic=staff.other_clinic)
    elsewhere = LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=staff.other_clinic)))
    with pytest.raises(IntegrityError, match="of another clinic"), transaction.atomic():
        Prediction.objects.filter(pk=prediction.pk).update(image=elsewhere)
    # Moving it with its clinic is what the trigger lets through.
    Prediction.objects.filter(pk=prediction.pk).update(image=elsewhere, clinic=staff.other_clinic)
    assert Prediction.objects.get(pk=prediction.pk).clinic_id == staff.other_clinic.pk
