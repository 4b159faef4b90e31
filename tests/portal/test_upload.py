"""Uploading photographs: one or several, to a chosen or a new lesion, with clear errors that keep the form."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from predictions.models import Lesion, LesionImage, Prediction
from tests.predictions.conftest import stored_files
from tests.predictions.images import jpeg_bytes, truncated_jpeg


def jpeg(name="lesion.jpg", seed=0):
    return SimpleUploadedFile(name, jpeg_bytes(seed=seed), content_type="image/jpeg")


def url(staff):
    return reverse("portal:image-upload", args=[staff.patient.pk])


def form(lesion, files, **extra):
    return {
        "lesion": str(lesion),
        "files": files,
        "captured_at": "2024-03-02",
        "age": "",
        "site": "",
        "new_lesion_site": "unknown",
        "new_lesion_label": "",
        **extra,
    }


def test_the_page_offers_the_patients_lesions_and_a_new_one_and_preselects_from_the_query(client, staff):
    client.force_login(staff.clinician)
    response = client.get(url(staff), {"lesion": staff.lesion.pk})
    body = response.content.decode()
    assert staff.lesion.label in body and "Start following a new lesion" in body
    assert response.context["form"]["lesion"].value() == str(staff.lesion.pk)
    assert "multiple" in body and 'enctype="multipart/form-data"' in body and "data-dropzone" in body


def test_one_good_file_is_stored_queued_and_opens_its_live_result(client, staff):
    client.force_login(staff.clinician)
    response = client.post(url(staff), form(staff.lesion.pk, [jpeg()], age="47", site="scalp"))
    image = LesionImage.objects.get(lesion=staff.lesion)
    prediction = Prediction.objects.get(image=image)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:prediction-detail", args=[prediction.pk])
    assert (image.captured_at, image.age, image.site, image.uploaded_by) == (
        datetime.date(2024, 3, 2),
        47,
        "scalp",
        staff.clinician,
    )
    assert prediction.status == "queued"


def test_the_age_is_worked_out_from_the_date_of_birth_when_left_empty(client, staff):
    staff.patient.date_of_birth = datetime.date(1970, 3, 3)
    staff.patient.save()
    client.force_login(staff.clinician)
    client.post(url(staff), form(staff.lesion.pk, [jpeg()]))
    assert LesionImage.objects.get(lesion=staff.lesion).age == 53  # on 2024-03-02, a day before the birthday


def test_several_files_are_each_stored_and_the_timeline_opens(client, staff):
    client.force_login(staff.clinician)
    response = client.post(url(staff), form(staff.lesion.pk, [jpeg("a.jpg", 1), jpeg("b.jpg", 2), jpeg("c.jpg", 3)]))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:lesion-timeline", args=[staff.lesion.pk])
    assert Prediction.objects.filter(image__lesion=staff.lesion, status="queued").count() == 3


def test_a_new_lesion_is_started_with_its_site_and_label(client, staff):
    client.force_login(staff.admin)
    client.post(url(staff), form("new", [jpeg()], new_lesion_site="face", new_lesion_label="Left cheek"))
    lesion = Lesion.objects.get(patient=staff.patient, label="Left cheek")
    assert lesion.site == "face" and lesion.images.count() == 1


def test_a_bad_file_is_refused_by_name_while_the_good_ones_are_stored_and_the_form_is_kept(client, staff, media_root):
    client.force_login(staff.clinician)
    files = [
        jpeg("good.jpg", 1),
        SimpleUploadedFile("notes.txt", b"not an image at all", content_type="text/plain"),
        SimpleUploadedFile("broken.jpg", truncated_jpeg(), content_type="image/jpeg"),
    ]
    response = client.post(
        url(staff),
        form("new", files, new_lesion_site="neck", new_lesion_label="Nape", age="61", captured_at="2023-11-30"),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "2 files could not be stored" in body
    assert "notes.txt" in body and "not a JPEG, PNG, TIFF or WebP image" in body
    assert "broken.jpg" in body and "damaged or truncated" in body
    assert "good.jpg" in body
    lesion = Lesion.objects.get(patient=staff.patient, label="Nape")
    assert lesion.images.count() == 1 and len(stored_files(media_root)) == 1
    # What was typed is still there, and the lesion just started is now the chosen one: sending the fixed
    # files again adds them to it instead of starting a second lesion.
    again = response.context["form"]
    assert again["lesion"].value() == str(lesion.pk)
    assert again["age"].value() == 61 and again["captured_at"].value() == datetime.date(2023, 11, 30)
    assert 'value="Nape"' in body and 'value="2023-11-30"' in body


def test_a_batch_of_only_bad_files_stores_nothing_and_starts_no_lesion(client, staff, media_root):
    client.force_login(staff.clinician)
    response = client.post(
        url(staff), form("new", [SimpleUploadedFile("x.gif", b"GIF89a....")], new_lesion_label="Should not exist")
    )
    assert response.status_code == 200 and "1 file could not be stored" in response.content.decode()
    assert not Lesion.objects.filter(label="Should not exist").exists()
    assert stored_files(media_root) == []


def test_a_file_over_the_size_limit_is_refused_with_the_limit(client, staff, settings):
    settings.SKINCLINIC_MAX_UPLOAD_BYTES = 1024
    client.force_login(staff.clinician)
    response = client.post(url(staff), form(staff.lesion.pk, [jpeg()]))
    assert "larger than the" in response.content.decode()
    assert not LesionImage.objects.exists()


def test_the_same_file_twice_is_one_image(client, staff):
    client.force_login(staff.clinician)
    client.post(url(staff), form(staff.lesion.pk, [jpeg(seed=5)]))
    response = client.post(url(staff), form(staff.lesion.pk, [jpeg(seed=5)]), follow=True)
    assert LesionImage.objects.filter(lesion=staff.lesion).count() == 1
    assert "already stored for this lesion" in response.content.decode()


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"files": []}, "files", "Choose at least one image file."),
        ({"captured_at": "2999-01-01"}, "captured_at", "The capture date cannot be in the future."),
        ({"captured_at": ""}, "captured_at", "Enter the date the photographs were taken."),
        ({"lesion": ""}, "lesion", "Choose the lesion, or start following a new one."),
        ({"age": "140"}, "age", "Ensure this value is less than or equal to 130."),
        ({"lesion": "999999"}, "lesion", "Select a valid choice."),
    ],
)
def test_invalid_input_is_explained_and_nothing_is_stored(client, staff, changes, field, message):
    client.force_login(staff.clinician)
    data = {**form(staff.lesion.pk, [jpeg()]), **changes}
    response = client.post(url(staff), data)
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field])
    assert not LesionImage.objects.exists()


def test_another_patients_lesion_cannot_be_chosen(client, staff):
    from tests.predictions.factories import LesionFactory, PatientFactory

    foreign = LesionFactory(patient=PatientFactory(clinic=staff.clinic, created_by=staff.clinician))
    client.force_login(staff.clinician)
    response = client.post(url(staff), form(foreign.pk, [jpeg()]))
    assert "lesion" in response.context["form"].errors
    assert not LesionImage.objects.exists()


def test_a_reviewer_cannot_upload(client, staff):
    client.force_login(staff.reviewer)
    assert client.post(url(staff), form(staff.lesion.pk, [jpeg()])).status_code == 403
    assert not LesionImage.objects.exists()


def test_today_is_the_default_capture_date(client, staff):
    client.force_login(staff.clinician)
    response = client.get(url(staff))
    assert response.context["form"]["captured_at"].value() == timezone.localdate()
