"""The portal answers a fault with a plain page that says what to do, never a traceback."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from predictions.models import LesionImage
from tests.predictions.faults import database_unreachable, files_under
from tests.predictions.images import jpeg_bytes


def assert_plain_page(response, status: int) -> str:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "Traceback" not in body and 'File "' not in body
    return body


@pytest.mark.django_db(transaction=True)
def test_a_database_that_is_down_shows_a_page_saying_to_try_again(client, staff):
    client.force_login(staff.clinician)
    with database_unreachable():
        response = client.get(reverse("portal:dashboard"))
    body = assert_plain_page(response, 503)
    assert "Try again in a minute" in body and int(response["Retry-After"]) > 0


@pytest.mark.django_db
def test_an_upload_to_a_full_disk_shows_a_page_saying_so_and_stores_nothing(client, staff, full_disk):
    client.force_login(staff.clinician)
    response = client.post(
        reverse("portal:image-upload", args=[staff.patient.pk]),
        {
            "lesion": str(staff.lesion.pk),
            "files": [SimpleUploadedFile("a.jpg", jpeg_bytes())],
            "captured_at": "2024-03-02",
            "age": "",
            "site": "",
            "new_lesion_site": "unknown",
            "new_lesion_label": "",
        },
    )
    body = assert_plain_page(response, 507)
    assert "image store is full" in body and "administrator" in body
    assert files_under(full_disk) == [] and not LesionImage.objects.exists()


@pytest.mark.django_db
def test_a_form_too_large_to_read_shows_a_plain_page_saying_so(client, staff, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client.force_login(staff.clinician)
    response = client.post(reverse("portal:patient-create"), {"mrn": "X", "full_name": "A" * 20_000})
    assert "Too much was sent" in assert_plain_page(response, 413)
