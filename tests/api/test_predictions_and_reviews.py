"""Predictions (read, filter, order, heatmap) and reviews (list, record) over the API."""

import datetime

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from predictions.models import AuditEvent, Review
from tests.predictions.factories import LesionFactory, LesionImageFactory, PatientFactory, PredictionFactory
from tests.query_counts import audit_write_queries

from .conftest import EVERYONE, ROLES, succeeded

pytestmark = pytest.mark.django_db

PREDICTIONS = "/api/v1/predictions"
REVIEWS = "/api/v1/reviews"


def test_a_prediction_carries_its_reading_timings_and_links(api, staff, prediction):
    started = prediction.queued_at + datetime.timedelta(seconds=2)
    prediction.started_at, prediction.finished_at = started, started + datetime.timedelta(seconds=0.5)
    prediction.save()
    prediction.heatmap.save("heatmap.png", ContentFile(b"\x89PNG heat"), save=True)
    body = api("clinician").get(f"{PREDICTIONS}/{prediction.pk}").json()
    assert body["status"] == "succeeded" and body["model_version"] == prediction.model_version
    assert (body["image"], body["lesion"], body["patient"]) == (prediction.image_id, staff.lesion.pk, staff.patient.pk)
    assert body["top_class"] == "mel" and body["top_class_name"] == "Melanoma"
    assert body["top_probability"] == pytest.approx(0.8)
    assert body["probabilities"][0] == {"code": "mel", "name": "Melanoma", "probability": 0.8, "malignant": True}
    assert [p["probability"] for p in body["probabilities"]] == sorted(
        (p["probability"] for p in body["probabilities"]), reverse=True
    )
    assert body["malignancy_risk"] == pytest.approx(0.85) and body["risk_band"] == "high"
    assert body["uncertain"] is False and body["uncertain_reasons"] == []
    assert body["queue_seconds"] == pytest.approx(2.0) and body["run_seconds"] == pytest.approx(0.5)
    assert body["heatmap_url"] == f"http://testserver/api/v1/predictions/{prediction.pk}/heatmap"
    assert body["fhir_url"] == f"http://testserver/api/v1/images/{prediction.image_id}/fhir"
    assert body["reviewed"] is False


def test_a_predictions_representation_is_what_its_declared_fields_give(staff, prediction, rf):
    """The serializer builds its dict directly (for speed): the same keys, in order, and values as DRF's own
    walk over the declared fields, which the schema describes."""
    from rest_framework import serializers
    from rest_framework.request import Request

    from predictions.api.serializers import PredictionSerializer
    from predictions.models import PredictionHeatmap
    from predictions.selectors import prediction_representation_get

    prediction.heatmap.save("heatmap.png", ContentFile(b"\x89PNG heat"), save=True)
    PredictionHeatmap.objects.create(prediction=prediction, class_code="bcc", status="pending")
    Review.objects.create(
        image=prediction.image, prediction=prediction, verdict="agree", diagnosis="mel", reviewer=staff.reviewer
    )
    queued = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    failed = PredictionFactory(
        image=LesionImageFactory(lesion=staff.lesion), status="failed", error="unreadable", attempts=3
    )
    context = {"request": Request(rf.get("/"))}
    for one in (prediction, queued, failed):
        one = prediction_representation_get(user=staff.clinician, pk=one.pk)
        fast = PredictionSerializer(one, context=context).data
        walked = serializers.Serializer.to_representation(PredictionSerializer(one, context=context), one)
        assert list(fast) == list(walked) == list(PredictionSerializer().fields)
        assert dict(fast) == dict(walked)


def test_a_spread_out_result_is_flagged_uncertain(api, prediction):
    from mlcore import CLASSES

    succeeded(prediction, probabilities=dict(zip(CLASSES, [0.2, 0.15, 0.15, 0.1, 0.2, 0.1, 0.1])))
    body = api("clinician").get(f"{PREDICTIONS}/{prediction.pk}").json()
    assert body["uncertain"] is True and len(body["uncertain_reasons"]) == 2


def test_a_queued_prediction_has_no_reading_yet(api, staff):
    queued = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    body = api("reviewer").get(f"{PREDICTIONS}/{queued.pk}").json()
    assert body["status"] == "queued"
    assert (body["probabilities"], body["top_class"], body["uncertain"], body["run_seconds"]) == (None, "", None, None)


@pytest.mark.parametrize("role", EVERYONE)
def test_predictions_and_heatmaps_reach_members_of_the_clinic_only(api, staff, prediction, role):
    prediction.heatmap.save("heatmap.png", ContentFile(b"\x89PNG heat"), save=True)
    theirs = succeeded(
        PredictionFactory(
            image=LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=staff.other_clinic)))
        )
    )
    client = api(role)
    mine = [p["id"] for p in client.get(PREDICTIONS).json()["results"]]
    detail = client.get(f"{PREDICTIONS}/{prediction.pk}")
    heatmap = client.get(f"{PREDICTIONS}/{prediction.pk}/heatmap", HTTP_ACCEPT="image/png")
    if role == "outsider":
        assert mine == [theirs.pk]
        assert detail.status_code == heatmap.status_code == 404
    else:
        assert mine == [prediction.pk]
        assert detail.status_code == 200
        assert heatmap.status_code == 200 and heatmap["Content-Type"] == "image/png"
        assert b"".join(heatmap.streaming_content) == b"\x89PNG heat"


def test_a_prediction_without_a_heatmap_has_no_heatmap_to_fetch(api, staff):
    queued = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    assert api("clinician").get(f"{PREDICTIONS}/{queued.pk}/heatmap").status_code == 404


@pytest.fixture
def spread(staff):
    """Predictions across two patients: statuses, classes, risks, reviews and queue times that differ."""
    from mlcore import CLASSES

    now = timezone.now()
    other_patient = PatientFactory(clinic=staff.clinic, mrn="OTHER-1")
    low = dict(zip(CLASSES, [0.01, 0.01, 0.03, 0.05, 0.05, 0.8, 0.05]))
    made = {
        "mel": succeeded(
            PredictionFactory(image=LesionImageFactory(lesion=staff.lesion), queued_at=now - datetime.timedelta(days=3))
        ),
        "nv": succeeded(
            PredictionFactory(
                image=LesionImageFactory(lesion=LesionFactory(patient=other_patient)),
                queued_at=now - datetime.timedelta(days=1),
            ),
            probabilities=low,
        ),
        "queued": PredictionFactory(image=LesionImageFactory(lesion=staff.lesion), queued_at=now),
        "failed": PredictionFactory(
            image=LesionImageFactory(lesion=staff.lesion),
            status="failed",
            error="x",
            finished_at=now,
            queued_at=now - datetime.timedelta(days=10),
        ),
    }
    Review.objects.create(
        image=made["mel"].image, prediction=made["mel"], verdict="agree", diagnosis="mel", reviewer=staff.reviewer
    )
    return made


@pytest.mark.parametrize(
    "query,expected",
    [
        ("", ["queued", "nv", "mel", "failed"]),
        ("?status=succeeded", ["nv", "mel"]),
        ("?status=queued&status=failed", ["queued", "failed"]),
        ("?top_class=mel", ["mel"]),
        ("?risk_above=0.5", ["mel"]),
        ("?risk_below=0.5", ["nv"]),
        ("?reviewed=true", ["mel"]),
        ("?reviewed=false", ["queued", "nv", "failed"]),
        ("?mrn=OTHER-1", ["nv"]),
        ("?queued_after={two_days_ago}", ["queued", "nv"]),
        ("?queued_before={two_days_ago}", ["mel", "failed"]),
        ("?ordering=-malignancy_risk&status=succeeded", ["mel", "nv"]),
        ("?ordering=queued_at", ["failed", "mel", "nv", "queued"]),
    ],
)
def test_predictions_filter_and_order(api, spread, query, expected):
    two_days_ago = (timezone.now() - datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = api("clinician").get(PREDICTIONS + query.format(two_days_ago=two_days_ago))
    assert response.status_code == 200, response.json()
    names = {p.pk: name for name, p in spread.items()}
    assert [names[p["id"]] for p in response.json()["results"]] == expected


def test_predictions_filter_by_patient_lesion_and_image(api, staff, spread):
    client = api("clinician")
    mel = spread["mel"]
    assert {p["id"] for p in client.get(f"{PREDICTIONS}?patient={staff.patient.pk}").json()["results"]} == {
        mel.pk,
        spread["queued"].pk,
        spread["failed"].pk,
    }
    assert [p["id"] for p in client.get(f"{PREDICTIONS}?image={mel.image_id}").json()["results"]] == [mel.pk]
    assert client.get(f"{PREDICTIONS}?lesion={staff.lesion.pk}").json()["count"] == 3


def test_an_unknown_status_or_class_filter_is_400(api):
    response = api("clinician").get(f"{PREDICTIONS}?status=exploded&top_class=xyz")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"status", "top_class"}


def test_a_list_without_filters_is_what_its_filters_give_when_empty(api, staff):
    """Lists skip their FilterSet when the query string names no filter: the same pages as running it."""
    for n in range(5):
        succeeded(PredictionFactory(image=LesionImageFactory(lesion=staff.lesion)), malignancy_risk=n / 5)
    client = api("clinician")
    for query in ("", "?page_size=2&page=2", "?ordering=malignancy_risk&page_size=3"):
        without = client.get(f"{PREDICTIONS}{query}").json()
        joiner = "&" if query else "?"
        with_empty = client.get(f"{PREDICTIONS}{query}{joiner}model_version=&reviewed=").json()
        assert without["count"] == with_empty["count"] == 5
        assert without["results"] == with_empty["results"] and without["results"]


def test_listing_predictions_costs_the_same_queries_for_one_or_fifty(api, staff, django_assert_num_queries):
    client = api("clinician")
    client.get(PREDICTIONS)  # the token's first use is recorded once; later calls only read it
    succeeded(PredictionFactory(image=LesionImageFactory(lesion=staff.lesion)))
    # Token, count, the page with its heatmaps per class, then the list's audit record (one: the page is one
    # clinic's).
    with django_assert_num_queries(3 + audit_write_queries()) as one:
        assert client.get(PREDICTIONS).json()["count"] == 1
    for _ in range(49):
        succeeded(PredictionFactory(image=LesionImageFactory(lesion=staff.lesion)))
    with django_assert_num_queries(len(one.captured_queries)):
        assert len(client.get(PREDICTIONS).json()["results"]) == 50
    one_id = staff.lesion.images.first().predictions.first().pk
    # Token, the prediction with its lesion's, patient's and clinic's ids and its heatmaps per class (one
    # statement), then the read's audit record.
    with django_assert_num_queries(2 + audit_write_queries()):
        assert client.get(f"{PREDICTIONS}/{one_id}").status_code == 200


# --- Reviews -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role,expected", [("reviewer", 201), ("admin", 201), ("clinician", 403)])
def test_reviewers_and_admins_record_reviews(api, staff, prediction, role, expected):
    response = api(role).post(
        REVIEWS,
        {
            "image": prediction.image_id,
            "prediction": prediction.pk,
            "verdict": "agree",
            "histopathology_confirmed": True,
            "notes": "classic",
        },
    )
    assert response.status_code == expected, response.json()
    if expected == 201:
        body = response.json()
        assert body["diagnosis"] == "mel" and body["diagnosis_name"] == "Melanoma"
        assert body["reviewer"] == staff.role(role).username and body["patient"] == staff.patient.pk
        assert response["Location"] == body["url"]
        assert AuditEvent.objects.filter(action="review.create", target_id=str(body["id"])).exists()
        assert api("clinician").get(f"{PREDICTIONS}/{prediction.pk}").json()["reviewed"] is True
    else:
        assert Review.objects.count() == 0


def test_a_review_of_another_clinics_image_reads_as_a_nonexistent_image(api, staff, prediction):
    response = api("outsider").post(REVIEWS, {"image": prediction.image_id, "verdict": "override", "diagnosis": "nv"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"image"}
    assert "does not exist" in response.json()["errors"]["image"][0]


def test_the_services_rules_come_back_as_field_errors(api, staff, prediction):
    client = api("reviewer")
    response = client.post(REVIEWS, {"image": prediction.image_id, "verdict": "override"})
    assert response.status_code == 400 and "diagnosis" in response.json()["errors"]
    queued = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    response = client.post(REVIEWS, {"image": queued.image_id, "prediction": queued.pk, "verdict": "agree"})
    assert response.status_code == 400 and "prediction" in response.json()["errors"]


def test_agreeing_without_naming_a_prediction_agrees_with_the_images_newest_finished_one(api, staff, prediction):
    from mlcore import CLASSES

    newer = succeeded(
        PredictionFactory(image=prediction.image, model_version="other:2.0.0"),
        probabilities=dict(zip(CLASSES, [0.05, 0.05, 0.05, 0.05, 0.1, 0.65, 0.05])),
        finished_at=prediction.finished_at + datetime.timedelta(minutes=5),
    )
    PredictionFactory(image=prediction.image, model_version="other:3.0.0")  # queued: nothing to agree with yet
    assert newer.top_class != prediction.top_class
    response = api("reviewer").post(REVIEWS, {"image": prediction.image_id, "verdict": "agree"})
    assert response.status_code == 201, response.json()
    assert (response.json()["prediction"], response.json()["diagnosis"]) == (newer.pk, newer.top_class)


def test_agreeing_with_an_image_that_has_no_finished_prediction_is_refused(api, staff):
    queued = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    response = api("reviewer").post(REVIEWS, {"image": queued.image_id, "verdict": "agree"})
    assert response.status_code == 400 and "prediction" in response.json()["errors"]
    assert not Review.objects.exists()


@pytest.mark.parametrize("role", ROLES + ["outsider"])
def test_reviews_list_and_read_by_clinic(api, staff, prediction, role):
    review = Review.objects.create(
        image=prediction.image, prediction=prediction, verdict="override", diagnosis="nv", reviewer=staff.reviewer
    )
    client = api(role)
    listed = [r["id"] for r in client.get(REVIEWS).json()["results"]]
    detail = client.get(f"{REVIEWS}/{review.pk}")
    assert listed == ([] if role == "outsider" else [review.pk])
    assert detail.status_code == (404 if role == "outsider" else 200)


def test_reviews_filter(api, staff, prediction):
    agree = Review.objects.create(
        image=prediction.image,
        prediction=prediction,
        verdict="agree",
        diagnosis="mel",
        reviewer=staff.reviewer,
        histopathology_confirmed=True,
    )
    override = Review.objects.create(image=prediction.image, verdict="override", diagnosis="bkl", reviewer=staff.admin)
    client = api("clinician")

    def ids(query):
        return [r["id"] for r in client.get(REVIEWS + query).json()["results"]]

    assert ids("?verdict=agree") == [agree.pk]
    assert ids("?diagnosis=bkl") == [override.pk]
    assert ids("?histopathology_confirmed=true") == [agree.pk]
    assert ids(f"?mrn={staff.patient.mrn}&ordering=created_at") == [agree.pk, override.pk]
    assert ids(f"?image={prediction.image_id}&prediction={prediction.pk}") == [agree.pk]


def test_a_prediction_says_whether_to_refer_by_its_models_operating_point(api, prediction):
    body = api("clinician").get(f"{PREDICTIONS}/{prediction.pk}").json()
    assert body["recommendation"] == "none" and body["refer"] is None and body["referral_threshold"] is None
    prediction.refer, prediction.referral_threshold, prediction.assessable = True, 0.12, True
    prediction.save()
    body = api("clinician").get(f"{PREDICTIONS}/{prediction.pk}").json()
    assert body["recommendation"] == "refer" and body["refer"] is True and body["referral_threshold"] == 0.12
    assert body["risk_band"] == "high" and body["assessable"] is True
    prediction.assessable, prediction.assessment_reasons = False, [{"code": "blur", "message": "Out of focus."}]
    prediction.save()
    body = api("clinician").get(f"{PREDICTIONS}/{prediction.pk}").json()
    assert body["recommendation"] == "cannot_assess" and body["assessment_reasons"] == [
        {"code": "blur", "message": "Out of focus."}
    ]
