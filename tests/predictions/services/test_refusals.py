"""Services refuse with typed errors that carry their HTTP meaning (predictions.faults), and the API answers
each with its status and the same messages, so no view decodes error codes."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from predictions.faults import Duplicate, Refusal, TooLarge, UnsupportedMedia
from predictions.services import image_upload, patient_create, patient_update

from ..images import jpeg_bytes


def upload(data: bytes, name: str = "photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def test_a_file_over_the_limit_is_refused_as_too_large_with_its_message(staff, settings):
    settings.SKINCLINIC_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(TooLarge) as refused:
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_bytes(seed=1)))
    assert refused.value.status == 413 and isinstance(refused.value, ValidationError)
    assert refused.value.message_dict == {"file": ["The file is larger than the 0 MB limit."]}


def test_a_file_that_is_no_image_is_refused_as_unsupported_media(staff):
    with pytest.raises(UnsupportedMedia) as refused:
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(b"%PDF-1.7 not an image", "a.pdf"))
    assert refused.value.status == 415
    assert refused.value.error_dict["file"][0].code == "not_an_image"


def test_a_damaged_image_stays_an_ordinary_validation_error(staff):
    with pytest.raises(ValidationError) as refused:
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_bytes(seed=2)[:300]))
    assert not isinstance(refused.value, Refusal)


def test_a_duplicate_mrn_is_a_duplicate_keeping_the_models_own_error(staff):
    patient_create(actor=staff.clinician, clinic=staff.clinic, mrn="D-1", full_name="First")
    with pytest.raises(Duplicate) as refused:
        patient_create(actor=staff.clinician, clinic=staff.clinic, mrn="D-1", full_name="Second")
    assert refused.value.status == 409 and refused.value.field == "mrn"
    assert "already exists" in str(refused.value)  # what forms show, unchanged
    other = patient_create(actor=staff.clinician, clinic=staff.clinic, mrn="D-2", full_name="Third")
    with pytest.raises(Duplicate):
        patient_update(actor=staff.clinician, patient=other, mrn="D-1")
    other.refresh_from_db()
    assert other.mrn == "D-2"


def test_a_bad_field_is_no_duplicate(staff):
    with pytest.raises(ValidationError) as refused:
        patient_create(actor=staff.clinician, clinic=staff.clinic, mrn="", full_name="No MRN")
    assert not isinstance(refused.value, Duplicate)
