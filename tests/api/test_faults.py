"""Every fault under /api/ is the documented JSON error shape: a service down, a full disk, a body too
large or too deep to read, a path that does not exist."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictions.models import LesionImage, Prediction
from tests.predictions.faults import database_unreachable, files_under
from tests.predictions.images import jpeg_bytes

from .conftest import token_client

PATIENTS = "/api/v1/patients"


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "errors"} and body["detail"]
    assert "Traceback" not in response.content.decode()
    return body


def upload(client, lesion):
    return client.post(
        f"/api/v1/lesions/{lesion.pk}/images",
        {"file": SimpleUploadedFile("photo.jpg", jpeg_bytes())},
        format="multipart",
    )


@pytest.mark.django_db
def test_an_upload_to_a_full_disk_is_507_and_stores_neither_file_nor_record(api, staff, full_disk):
    body = assert_error_shape(upload(api("clinician"), staff.lesion), 507)
    assert "full" in body["detail"]
    assert files_under(full_disk) == []  # not even the empty file a full disk leaves behind
    assert not LesionImage.objects.exists() and not Prediction.objects.exists()


@pytest.mark.django_db
def test_an_upload_to_a_read_only_disk_is_503_with_retry_after(api, staff, read_only_disk):
    response = upload(api("clinician"), staff.lesion)
    assert_error_shape(response, 503)
    assert int(response["Retry-After"]) > 0
    assert not LesionImage.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method,path", [("get", PATIENTS), ("post", PATIENTS), ("get", "/api/v1/predictions")])
def test_a_database_that_is_down_is_503_with_retry_after(staff, method, path):
    client = token_client(staff.clinician)
    with database_unreachable():
        response = getattr(client, method)(path, {"mrn": "X1", "full_name": "A B"} if method == "post" else None)
    body = assert_error_shape(response, 503)
    assert int(response["Retry-After"]) > 0 and "Try again" in body["detail"]


@pytest.mark.django_db
def test_a_json_body_larger_than_the_server_reads_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    body = json.dumps({"mrn": "X1", "full_name": "A" * 200_000})
    assert_error_shape(api("clinician").post(PATIENTS, body, content_type="application/json"), 413)


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [40, 100_000])
def test_a_pathologically_nested_json_body_is_400(api, depth):
    body = "[" * depth + "]" * depth
    response = api("clinician").post(PATIENTS, body, content_type="application/json")
    assert "nested deeper" in assert_error_shape(response, 400)["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "target,body,content_type",
    [
        ("patients", '{"mrn": "X1", ', "application/json"),
        ("patients", b"\xff\xfe\x00garbage", "application/json"),
        ("images", '--nope\r\nContent-Disposition: form-data; name="file"', "multipart/form-data; boundary=nope"),
        ("images", "--x", "multipart/form-data"),  # no boundary at all
    ],
)
def test_a_body_that_cannot_be_parsed_is_400(api, staff, target, body, content_type):
    path = PATIENTS if target == "patients" else f"/api/v1/lesions/{staff.lesion.pk}/images"
    assert_error_shape(api("clinician").post(path, body, content_type=content_type), 400)


@pytest.mark.django_db
def test_an_unknown_api_path_is_a_json_404(api):
    assert_error_shape(api("clinician").get("/api/v1/no-such-thing"), 404)
    assert_error_shape(api("anonymous").get("/api/v2/patients"), 404)
