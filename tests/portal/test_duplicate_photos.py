"""The same photograph uploaded into another lesion or patient of the clinic: a warning naming where it already
is, nothing stored until the clinician confirms."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from predictions.models import AuditEvent, LesionImage
from tests.predictions.factories import LesionFactory, LesionImageFactory, PatientFactory
from tests.predictions.images import jpeg_bytes

from .test_upload import form, url


def upload(client, staff, lesion, content, **extra):
    files = [SimpleUploadedFile("again.jpg", content, content_type="image/jpeg")]
    return client.post(url(staff), form(lesion.pk, files, **extra))


def test_a_photograph_already_stored_for_another_patient_is_held_back_with_a_warning_naming_them(client, staff):
    other_patient = PatientFactory(clinic=staff.clinic, full_name="Olga Otherpatient")
    elsewhere = LesionFactory(patient=other_patient, label="Right calf")
    content = jpeg_bytes(seed=41)
    client.force_login(staff.clinician)
    client.post(
        reverse("portal:image-upload", args=[other_patient.pk]),
        form(elsewhere.pk, [SimpleUploadedFile("first.jpg", content, content_type="image/jpeg")]),
    )
    assert LesionImage.objects.filter(lesion=elsewhere).count() == 1

    response = upload(client, staff, staff.lesion, content)
    assert response.status_code == 200 and not LesionImage.objects.filter(lesion=staff.lesion).exists()
    body = response.content.decode()
    assert "The same photograph is already stored in this clinic" in body
    assert "another patient" in body and "Olga Otherpatient" in body and "Right calf" in body
    assert "Store them anyway" in body
    assert AuditEvent.objects.filter(action="image.duplicate_warning").exists()


def test_after_confirming_the_same_photograph_is_stored_for_the_chosen_lesion(client, staff):
    twin = LesionFactory(patient=staff.patient, label="The other mole")
    content = jpeg_bytes(seed=42)
    client.force_login(staff.clinician)
    upload(client, staff, twin, content)
    response = upload(client, staff, staff.lesion, content, confirm_duplicates="on")
    assert response.status_code == 302
    assert LesionImage.objects.filter(lesion=staff.lesion).count() == 1
    assert LesionImage.objects.filter(sha256=LesionImage.objects.get(lesion=twin).sha256).count() == 2


def test_the_same_file_again_for_the_same_lesion_is_no_warning_but_the_one_stored_image(client, staff):
    content = jpeg_bytes(seed=43)
    client.force_login(staff.clinician)
    upload(client, staff, staff.lesion, content)
    response = upload(client, staff, staff.lesion, content)
    assert response.status_code == 302 and LesionImage.objects.filter(lesion=staff.lesion).count() == 1


def test_another_clinics_photograph_is_neither_named_nor_a_duplicate(client, staff):
    theirs = LesionFactory(patient=PatientFactory(clinic=staff.other_clinic, full_name="Someone Elsewhere"))
    content = jpeg_bytes(seed=44)
    LesionImageFactory(lesion=theirs, content=content)
    client.force_login(staff.clinician)
    response = upload(client, staff, staff.lesion, content)
    assert response.status_code == 302 and "Someone Elsewhere" not in response.content.decode()
