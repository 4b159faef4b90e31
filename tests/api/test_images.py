"""Uploading photographs over the API: 202 with a queued prediction, duplicates, refusals, idempotent retries."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from predictions.models import AuditEvent, LesionImage, Prediction, PredictionStatus
from predictions.services.files import FileCommitMarker
from tests.predictions.conftest import stored_files
from tests.predictions.factories import LesionFactory, LesionImageFactory, PatientFactory, PredictionFactory
from tests.predictions.images import encode, jpeg_bytes, lesion_picture, png_bomb, truncated_jpeg

from .conftest import EVERYONE, succeeded

pytestmark = pytest.mark.django_db


def images_url(lesion):
    return f"/api/v1/lesions/{lesion.pk}/images"


def upload(client, lesion, data: bytes, name="photo.jpg", key=None, **fields):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        images_url(lesion), {"file": SimpleUploadedFile(name, data), **fields}, format="multipart", **headers
    )


def test_an_upload_is_accepted_with_its_queued_prediction_and_a_location_to_poll(
    api, staff, django_capture_on_commit_callbacks, fake_classifier
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(api("clinician"), staff.lesion, jpeg_bytes(seed=1), captured_at="2026-01-02", age=44)
    assert response.status_code == 202, response.json()
    body = response.json()
    image, prediction = body["image"], body["prediction"]
    assert image["lesion"] == staff.lesion.pk and image["patient"] == staff.patient.pk
    assert image["captured_at"] == "2026-01-02" and image["age"] == 44 and image["format"] == "JPEG"
    assert prediction["status"] == "queued" and prediction["model_version"] == fake_classifier.version
    assert prediction["probabilities"] is None and prediction["heatmap_url"] is None
    assert response["Location"] == prediction["url"]
    # The prediction task is sent once the upload commits (the other callback keeps its file on commit).
    assert len([c for c in callbacks if not isinstance(c, FileCommitMarker)]) == 1
    stored = LesionImage.objects.get(pk=image["id"])
    assert stored.uploaded_by == staff.clinician
    assert Prediction.objects.get(pk=prediction["id"]).image == stored


def test_polling_the_location_shows_the_result_once_the_worker_ran(api, staff, fake_classifier):
    from predictions.tasks import prediction_run_task

    client = api("clinician")
    location = upload(client, staff.lesion, jpeg_bytes(seed=2))["Location"]
    assert client.get(location).json()["status"] == "queued"
    prediction_run_task.apply(args=[int(location.rsplit("/", 1)[1])])
    body = client.get(location).json()
    assert body["status"] == "succeeded"
    assert {p["code"] for p in body["probabilities"]} == {"akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"}


def test_the_same_bytes_for_the_same_lesion_return_the_existing_image_with_200(api, staff):
    client = api("clinician")
    data = jpeg_bytes(seed=3)
    first = upload(client, staff.lesion, data)
    again = upload(client, staff.lesion, data, name="renamed.jpg")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["image"]["id"] == first.json()["image"]["id"]
    assert again.json()["prediction"]["id"] == first.json()["prediction"]["id"]
    assert not again.has_header("Location")
    assert LesionImage.objects.filter(lesion=staff.lesion).count() == 1
    assert Prediction.objects.count() == 1


@pytest.mark.parametrize(
    "role,expected", [("clinician", 202), ("admin", 202), ("reviewer", 403), ("outsider", 404), ("anonymous", 401)]
)
def test_who_may_upload(api, staff, media_root, role, expected):
    response = upload(api(role), staff.lesion, jpeg_bytes(seed=4))
    assert response.status_code == expected
    assert set(response.json()) == ({"image", "prediction"} if expected == 202 else {"detail", "errors"})
    if expected != 202:
        assert LesionImage.objects.count() == 0 and stored_files(media_root) == []


@pytest.mark.parametrize(
    "data,name,expected,code_field",
    [
        (truncated_jpeg(), "cut.jpg", 400, "file"),
        (b"%PDF-1.4 not an image at all", "scan.pdf", 415, "file"),
        (encode(lesion_picture(), "GIF"), "anim.gif", 415, "file"),
        (png_bomb(), "bomb.png", 413, "file"),
    ],
)
def test_bad_files_are_refused_with_the_right_status_and_nothing_is_stored(
    api, staff, media_root, data, name, expected, code_field
):
    response = upload(api("clinician"), staff.lesion, data, name=name)
    assert response.status_code == expected, response.json()
    body = response.json()
    assert body["detail"] and code_field in body["errors"]
    assert LesionImage.objects.count() == 0 and Prediction.objects.count() == 0
    assert stored_files(media_root) == []


def test_a_file_over_the_size_limit_is_413(api, staff, settings, media_root):
    settings.SKINCLINIC_MAX_UPLOAD_BYTES = 2000
    response = upload(api("clinician"), staff.lesion, jpeg_bytes(seed=5, size=(400, 300)))
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert stored_files(media_root) == []


def test_a_request_body_far_over_the_limit_is_413_before_it_is_read(api, staff, settings):
    settings.SKINCLINIC_MAX_UPLOAD_BYTES = 1000
    big = b"\xff\xd8" + b"\0" * (1024 * 1024 + 5000)
    response = upload(api("clinician"), staff.lesion, big)
    assert response.status_code == 413 and response.json()["errors"] == {
        "file": ["The file is larger than the 0 MB limit."]
    }


def test_an_upload_without_a_file_or_with_bad_metadata_is_400(api, staff):
    client = api("clinician")
    response = client.post(images_url(staff.lesion), {"age": 30}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["errors"]
    response = upload(client, staff.lesion, jpeg_bytes(), age=500, site="elbow")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"age", "site"}


def test_json_sent_to_the_upload_is_415(api, staff):
    response = api("clinician").post(images_url(staff.lesion), {"file": "aGVsbG8="}, format="json")
    assert response.status_code == 415


# --- Idempotency-Key ---------------------------------------------------------------------------------------


def test_a_retried_upload_with_the_same_idempotency_key_replays_the_first_response(api, staff):
    client = api("clinician")
    data = jpeg_bytes(seed=6)
    first = upload(client, staff.lesion, data, key="k-1")
    retry = upload(client, staff.lesion, data, key="k-1")
    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json()
    assert retry["Location"] == first["Location"] and retry["Idempotent-Replayed"] == "true"
    assert LesionImage.objects.count() == 1
    assert AuditEvent.objects.filter(action__startswith="image.upload").count() == 1  # the retry did nothing


def test_an_idempotency_key_reused_for_another_request_is_422(api, staff):
    client = api("clinician")
    upload(client, staff.lesion, jpeg_bytes(seed=7), key="k-2")
    response = upload(client, staff.lesion, jpeg_bytes(seed=8), key="k-2")
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["errors"]
    assert LesionImage.objects.count() == 1


def test_idempotency_keys_belong_to_their_user(api, staff):
    data = jpeg_bytes(seed=9)
    upload(api("clinician"), staff.lesion, data, key="shared")
    response = upload(api("admin"), staff.lesion, data, key="shared")
    assert response.status_code == 200 and not response.has_header("Idempotent-Replayed")


def test_a_failed_request_is_not_remembered_so_its_retry_runs(api, staff):
    client = api("clinician")
    assert upload(client, staff.lesion, truncated_jpeg(), key="k-3").status_code == 400
    assert upload(client, staff.lesion, jpeg_bytes(seed=10), key="k-3").status_code == 202


def test_any_post_is_idempotent_with_a_key(api, staff):
    client = api("clinician")
    body = {"mrn": "IDEM-1", "full_name": "Once Only"}
    first = client.post("/api/v1/patients", body, HTTP_IDEMPOTENCY_KEY="p-1")
    retry = client.post("/api/v1/patients", body, HTTP_IDEMPOTENCY_KEY="p-1")
    assert first.status_code == retry.status_code == 201 and retry.json() == first.json()
    assert client.post("/api/v1/patients", body).status_code == 409  # without the key: a real second attempt


def test_an_expired_idempotency_key_runs_again(api, staff, settings):
    settings.SKINCLINIC_IDEMPOTENCY_KEY_TTL = 0
    client = api("clinician")
    client.post("/api/v1/patients", {"mrn": "T-1", "full_name": "A"}, HTTP_IDEMPOTENCY_KEY="old")
    response = client.post("/api/v1/patients", {"mrn": "T-2", "full_name": "B"}, HTTP_IDEMPOTENCY_KEY="old")
    assert response.status_code == 201


def test_an_overlong_idempotency_key_is_400(api):
    response = api("clinician").post("/api/v1/patients", {"mrn": "L", "full_name": "L"}, HTTP_IDEMPOTENCY_KEY="k" * 300)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]


# --- Reading images ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", EVERYONE)
def test_an_image_with_its_predictions_and_its_file_reach_members_only(api, staff, role):
    image = LesionImageFactory(lesion=staff.lesion)
    older = succeeded(
        PredictionFactory(image=image, model_version="old:1", queued_at=timezone.now() - timezone.timedelta(days=9))
    )
    newer = PredictionFactory(image=image)
    client = api(role)
    detail = client.get(f"/api/v1/images/{image.pk}")
    file = client.get(f"/api/v1/images/{image.pk}/file", HTTP_ACCEPT="image/jpeg")
    if role == "outsider":
        assert detail.status_code == file.status_code == 404
        assert file["Content-Type"] == "application/json"
        return
    body = detail.json()
    assert [p["id"] for p in body["predictions"]] == [newer.pk, older.pk]
    assert body["file_url"].endswith(f"/api/v1/images/{image.pk}/file")
    assert file.status_code == 200 and file["Content-Type"] == "image/jpeg"
    assert "no-store" in file["Cache-Control"]
    with image.file.open("rb") as fh:
        assert b"".join(file.streaming_content) == fh.read()


def test_images_of_a_lesion_list_and_filter(api, staff):
    LesionImageFactory(lesion=staff.lesion, captured_at="2025-01-01")
    recent = LesionImageFactory(lesion=staff.lesion, captured_at="2026-03-01")
    LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=staff.other_clinic)))
    client = api("reviewer")
    assert client.get(images_url(staff.lesion)).json()["count"] == 2
    body = client.get(images_url(staff.lesion) + "?captured_after=2026-01-01").json()
    assert [i["id"] for i in body["results"]] == [recent.pk]


# --- Asking for a prediction on the current model ----------------------------------------------------------


def test_asking_again_returns_the_existing_prediction_of_the_current_model(api, staff, prediction):
    response = api("clinician").post(f"/api/v1/images/{prediction.image_id}/predictions")
    assert response.status_code == 200
    assert response.json()["id"] == prediction.pk and response.json()["status"] == "succeeded"
    assert Prediction.objects.count() == 1


def test_asking_for_an_image_only_an_old_model_saw_queues_the_current_one(
    api, staff, fake_classifier, django_capture_on_commit_callbacks
):
    image = LesionImageFactory(lesion=staff.lesion)
    succeeded(PredictionFactory(image=image, model_version="old-model:0.9"))
    with django_capture_on_commit_callbacks() as callbacks:
        response = api("clinician").post(f"/api/v1/images/{image.pk}/predictions")
    assert response.status_code == 202
    body = response.json()
    assert body["model_version"] == fake_classifier.version and body["status"] == "queued"
    assert response["Location"] == body["url"] and len(callbacks) == 1
    assert AuditEvent.objects.filter(action="prediction.request", target_id=str(body["id"])).exists()


def test_asking_again_after_a_failure_queues_the_failed_prediction_again(api, staff, fake_classifier):
    failed = PredictionFactory(
        image=LesionImageFactory(lesion=staff.lesion),
        status=PredictionStatus.FAILED,
        error="boom",
        attempts=3,
        finished_at=timezone.now(),
    )
    response = api("admin").post(f"/api/v1/images/{failed.image_id}/predictions")
    assert response.status_code == 202
    failed.refresh_from_db()
    assert failed.status == PredictionStatus.QUEUED and failed.attempts == 0 and failed.error == ""


@pytest.mark.parametrize("role,expected", [("reviewer", 403), ("outsider", 404), ("anonymous", 401)])
def test_who_may_not_ask_for_a_prediction(api, staff, role, expected):
    image = LesionImageFactory(lesion=staff.lesion)
    assert api(role).post(f"/api/v1/images/{image.pk}/predictions").status_code == expected
    assert Prediction.objects.count() == 0
