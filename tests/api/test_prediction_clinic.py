"""A prediction stores its image's clinic (so that a clinic's list reads one index); it never differs from it,
and the list paged on the bare rows shows what the joined list showed."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F
from django.utils import timezone

from predictions.models import Prediction, Review
from predictions.selectors import prediction_list
from predictions.selectors.predictions import _for_representation
from tests.predictions.factories import LesionFactory, LesionImageFactory, PatientFactory, PredictionFactory
from tests.predictions.images import jpeg_bytes

from .conftest import succeeded

pytestmark = pytest.mark.django_db

PREDICTIONS = "/api/v1/predictions"


def drifted():
    """Predictions whose stored clinic is not their image's patient's (the invariant: none)."""
    return Prediction.objects.exclude(clinic=F("image__lesion__patient__clinic"))


def test_every_way_of_making_a_prediction_stores_its_images_clinic(api, staff, image):
    from predictions.services.prediction_requests import prediction_request
    from predictions.services.reruns import predictions_rerun_enqueue

    other_image = LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=staff.other_clinic)))
    made = [PredictionFactory(image=image), PredictionFactory(image=other_image)]  # saved without a clinic
    made.append(prediction_request(actor=staff.clinician, image=LesionImageFactory(lesion=staff.lesion))[0])
    response = api("clinician").post(
        f"/api/v1/lesions/{staff.lesion.pk}/images",
        {"file": SimpleUploadedFile("photo.jpg", jpeg_bytes(seed=1))},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    made.append(Prediction.objects.get(pk=response.json()["prediction"]["id"]))
    rerun = predictions_rerun_enqueue(actor=staff.reviewer, images=[LesionImageFactory(lesion=staff.lesion)])
    made += Prediction.objects.filter(pk__in=rerun.queued)
    assert len(made) == 5
    assert [p.clinic_id for p in made] == [staff.clinic.pk, staff.other_clinic.pk] + [staff.clinic.pk] * 3
    assert not drifted().exists()


def test_a_merge_of_lesions_keeps_each_predictions_clinic(staff):
    from predictions.services.lesion_updates import lesion_merge

    source, target = LesionFactory(patient=staff.patient), LesionFactory(patient=staff.patient)
    PredictionFactory(image=LesionImageFactory(lesion=source))
    lesion_merge(actor=staff.clinician, source=source, target=target)
    assert Prediction.objects.get(image__lesion=target).clinic_id == staff.clinic.pk
    assert not drifted().exists()


@pytest.fixture
def many(staff):
    """Twelve predictions of the clinic, one of another clinic, a few reviewed, risks and times spread."""
    now = timezone.now()
    ours = []
    for n in range(12):
        prediction = PredictionFactory(
            image=LesionImageFactory(lesion=staff.lesion), queued_at=now - datetime.timedelta(minutes=n % 5)
        )  # ties in time
        ours.append(succeeded(prediction, malignancy_risk=(n * 7 % 12) / 12))
    for prediction in ours[::4]:
        Review.objects.create(
            image=prediction.image, prediction=prediction, verdict="agree", diagnosis="nv", reviewer=staff.reviewer
        )
    other = LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=staff.other_clinic)))
    PredictionFactory(image=other)
    return ours


@pytest.mark.parametrize(
    "query",
    [
        "page_size=5",
        "page_size=5&page=2",
        "page_size=5&page=3",
        "page_size=4&page=2&ordering=malignancy_risk",
        "page_size=4&ordering=-finished_at,id",
        "reviewed=false&page_size=3&page=2",
        "reviewed=true",
        "status=succeeded&risk_above=0.3&page_size=2&page=2",
    ],
)
def test_a_page_of_the_list_is_what_the_joined_list_gives(api, staff, many, query):
    from rest_framework.test import APIRequestFactory

    from predictions.api.views import PredictionListView

    body = api("clinician").get(f"{PREDICTIONS}?{query}").json()
    # The reference: the same filters and paging over the joined rows, as the list read them before.
    view = PredictionListView()
    view.request = view.initialize_request(
        APIRequestFactory().get(PREDICTIONS, dict(part.split("=") for part in query.split("&")))
    )
    view.request.user = staff.clinician
    view.format_kwarg = None
    joined = view.filter_queryset(_for_representation(prediction_list(user=staff.clinician)))
    params = dict(part.split("=") for part in query.split("&"))
    size, page = int(params.get("page_size", 50)), int(params.get("page", 1))
    expected = list(joined[(page - 1) * size : page * size])
    assert body["count"] == joined.count()
    assert [row["id"] for row in body["results"]] == [p.pk for p in expected]
    assert [(row["lesion"], row["patient"], row["reviewed"]) for row in body["results"]] == [
        (p.lesion_id, p.patient_id, p.is_reviewed) for p in expected
    ]


def test_the_list_counts_and_shows_only_the_callers_clinics(api, staff, many):
    body = api("outsider").get(PREDICTIONS).json()
    assert body["count"] == 1 and len(body["results"]) == 1
    assert body["results"][0]["id"] not in {p.pk for p in many}


@pytest.mark.django_db(transaction=True)
def test_the_migration_stores_the_clinic_of_each_existing_prediction():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("predictions", "0011_verbose_names")], [("predictions", "0012_prediction_clinic")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        User = apps.get_model("auth", "User")
        Clinic, Patient = apps.get_model("predictions", "Clinic"), apps.get_model("predictions", "Patient")
        Lesion, LesionImage = apps.get_model("predictions", "Lesion"), apps.get_model("predictions", "LesionImage")
        OldPrediction = apps.get_model("predictions", "Prediction")
        user = User.objects.create(username="before-0012")
        made = {}
        for n, slug in enumerate(["north", "south"]):
            clinic = Clinic.objects.create(slug=slug, name=slug)
            patient = Patient.objects.create(clinic=clinic, mrn=f"M-{n}", full_name="A Patient", created_by=user)
            lesion = Lesion.objects.create(patient=patient, site="back", created_by=user)
            image = LesionImage.objects.create(
                lesion=lesion,
                file=f"lesion-images/{n}.jpg",
                sha256=f"{n:064x}",
                width=600,
                height=450,
                format="JPEG",
                size_bytes=1,
                uploaded_by=user,
                age=50,
                site="back",
            )
            made[OldPrediction.objects.create(image=image, model_version="v", queued_at=timezone.now()).pk] = clinic.pk
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        migrated = executor.loader.project_state(after).apps.get_model("predictions", "Prediction")
        assert dict(migrated.objects.values_list("pk", "clinic_id")) == made
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())  # the latest, for the tests that follow
