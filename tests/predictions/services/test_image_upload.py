import errno
import hashlib

import psycopg
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection, transaction
from PIL import Image

from predictions.models import AuditEvent, LesionImage, Prediction, PredictionStatus
from predictions.services import image_upload
from predictions.services.files import FileCommitMarker

from ..conftest import stored_files
from ..factories import LesionFactory
from ..faults import files_under
from ..images import encode, jpeg_bytes, jpeg_with_exif, lesion_picture, png_bomb, truncated_jpeg


def upload(data: bytes, name: str = "photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def assert_nothing_stored(media_root):
    assert LesionImage.objects.count() == 0
    assert Prediction.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="image.").exists()
    assert stored_files(media_root) == []


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_upload_of_a_jpeg_stores_the_image_and_queues_one_prediction(
    staff, role, media_root, django_capture_on_commit_callbacks
):
    data = jpeg_bytes(size=(120, 90))
    with django_capture_on_commit_callbacks() as callbacks:
        image, created = image_upload(actor=staff.role(role), lesion=staff.lesion, file=upload(data))

    assert created
    assert (image.width, image.height, image.format) == (120, 90, "JPEG")
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert image.uploaded_by == staff.role(role)
    stored = stored_files(media_root)
    assert len(stored) == 1 and stored[0].read_bytes()[:2] == b"\xff\xd8"
    assert image.size_bytes == stored[0].stat().st_size
    prediction = Prediction.objects.get(image=image)
    assert prediction.status == PredictionStatus.QUEUED
    assert prediction.model_version == "test-colour:1.0"
    assert AuditEvent.objects.filter(action="image.upload", target_id=str(image.pk), clinic=staff.clinic).count() == 1
    # The task is sent only after the commit (the other callback keeps the file if the transaction commits).
    assert len([c for c in callbacks if not isinstance(c, FileCommitMarker)]) == 1


def test_upload_sends_the_prediction_task_after_commit(staff, monkeypatch, django_capture_on_commit_callbacks):
    from predictions import tasks

    sent = []
    monkeypatch.setattr(tasks.prediction_run_task, "delay", lambda prediction_id: sent.append(prediction_id))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        image, _ = image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_bytes()))
        assert sent == []
    for callback in callbacks:
        callback()
    assert sent == [image.predictions.get().pk]


def test_upload_when_the_broker_is_down_still_commits_the_queued_prediction(
    staff, monkeypatch, django_capture_on_commit_callbacks
):
    from predictions import tasks

    def broker_down(prediction_id):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.prediction_run_task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        image, _ = image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_bytes()))
    assert image.predictions.get().status == PredictionStatus.QUEUED  # the sweep will resend it


def test_upload_strips_exif_and_applies_its_orientation(staff, media_root):
    image, _ = image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_with_exif(orientation=6)))

    [stored] = stored_files(media_root)
    raw = stored.read_bytes()
    assert b"Jane Patient" not in raw and b"MRN 12345" not in raw
    with Image.open(stored) as reopened:
        assert not reopened.getexif()
        assert reopened.size == (90, 120)  # rotated upright: the 120x90 sensor image stood on its side
    assert (image.width, image.height) == (90, 120)


def test_upload_of_a_png_with_transparency_is_stored_as_rgb_over_white_as_the_model_sees_it(staff, media_root):
    picture = lesion_picture().convert("RGBA")
    picture.putpixel((0, 0), (10, 20, 30, 0))  # a fully transparent corner
    image, _ = image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(encode(picture, "PNG"), "a.png"))
    assert image.format == "PNG"
    with Image.open(stored_files(media_root)[0]) as reopened:
        assert reopened.format == "PNG" and reopened.mode == "RGB"
        assert reopened.getpixel((0, 0)) == (255, 255, 255)
        assert reopened.getpixel((60, 45)) == picture.getpixel((60, 45))[:3]


@pytest.mark.parametrize("mode", ["L", "P", "LA", "CMYK"])
def test_upload_in_any_colour_mode_is_stored_as_rgb(staff, media_root, mode):
    picture = lesion_picture().convert(mode)
    fmt, name = ("TIFF", "a.tif") if mode == "CMYK" else ("PNG", "a.png")
    image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(encode(picture, fmt), name))
    with Image.open(stored_files(media_root)[0]) as reopened:
        assert reopened.mode == "RGB"


@pytest.mark.parametrize(
    "size,code",
    [
        ((100_000, 2), "too_small"),
        ((2, 100_000), "too_small"),
        ((63, 400), "too_small"),
        ((2000, 400), "bad_shape"),
        ((300, 1300), "bad_shape"),
    ],
)
def test_upload_of_an_image_no_lesion_photograph_could_have_is_refused_with_the_reason(staff, media_root, size, code):
    data = encode(Image.new("RGB", size, (150, 90, 70)), "PNG")
    with pytest.raises(ValidationError) as refused:
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(data, "strip.png"))
    assert refused.value.error_dict["file"][0].code == code
    assert f"{size[0]}x{size[1]}" in str(refused.value)
    assert_nothing_stored(media_root)


def test_upload_of_a_square_or_four_to_three_photograph_is_accepted(staff, media_root):
    for seed, size in enumerate([(64, 64), (400, 100), (640, 480)]):
        image, created = image_upload(
            actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_bytes(seed=seed, size=size))
        )
        assert created and (image.width, image.height) == size


def test_the_same_bytes_uploaded_twice_for_a_lesion_are_one_image(staff, media_root):
    data = jpeg_bytes()
    first, created_first = image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(data))
    second, created_second = image_upload(actor=staff.admin, lesion=staff.lesion, file=upload(data, "again.jpg"))

    assert (created_first, created_second) == (True, False)
    assert second.pk == first.pk
    assert LesionImage.objects.count() == 1 and Prediction.objects.count() == 1
    assert len(stored_files(media_root)) == 1
    assert AuditEvent.objects.filter(action="image.upload_duplicate", target_id=str(first.pk)).count() == 1


def test_the_same_bytes_for_another_lesion_are_another_image(staff):
    data = jpeg_bytes()
    other_lesion = LesionFactory(patient=staff.patient)
    first, _ = image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(data))
    second, created = image_upload(actor=staff.clinician, lesion=other_lesion, file=upload(data))
    assert created and second.pk != first.pk


def test_upload_takes_age_sex_and_site_from_the_patient_and_lesion(staff):
    import datetime

    staff.patient.date_of_birth = datetime.date(1980, 6, 15)
    staff.patient.sex = "male"
    staff.patient.save()
    image, _ = image_upload(
        actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_bytes()), captured_at=datetime.date(2020, 6, 14)
    )
    assert (image.age, image.sex, image.site) == (39, "male", "back")


def test_upload_of_a_non_image_is_refused_and_stores_nothing(staff, media_root):
    with pytest.raises(ValidationError) as refused:
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(b"%PDF-1.7 not a photo", "x.pdf"))
    assert "not a JPEG, PNG, TIFF or WebP image" in str(refused.value)
    assert_nothing_stored(media_root)


def test_upload_of_an_image_in_a_format_not_accepted_is_refused(staff, media_root):
    with pytest.raises(ValidationError, match="not a JPEG, PNG, TIFF or WebP"):
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(encode(lesion_picture(), "GIF"), "a.gif"))
    assert_nothing_stored(media_root)


def test_upload_of_a_truncated_jpeg_is_refused_and_stores_nothing(staff, media_root):
    with pytest.raises(ValidationError) as refused:
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(truncated_jpeg()))
    assert "damaged or truncated" in str(refused.value)
    assert refused.value.error_dict["file"][0].code == "corrupt"
    assert_nothing_stored(media_root)


@pytest.mark.parametrize("side", [9_000, 20_000])  # above our limit; above Pillow's own bomb limit
def test_upload_of_a_decompression_bomb_is_refused_and_stores_nothing(staff, side, media_root):
    bomb = png_bomb(side, side)
    assert len(bomb) < 1_000_000
    with pytest.raises(ValidationError) as refused:
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(bomb, "bomb.png"))
    assert "too many pixels" in str(refused.value)
    assert refused.value.error_dict["file"][0].code == "too_many_pixels"
    assert_nothing_stored(media_root)


def test_upload_over_the_size_limit_is_refused_and_stores_nothing(staff, settings, media_root):
    settings.SKINCLINIC_MAX_UPLOAD_BYTES = 1024 * 1024
    big = encode(lesion_picture(size=(1500, 1500), seed=3), "PNG")
    assert len(big) > 1024 * 1024
    with pytest.raises(ValidationError, match="larger than the 1 MB limit"):
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(big, "big.png"))
    assert_nothing_stored(media_root)


def test_upload_whose_declared_size_understates_its_content_is_still_refused(staff, settings, media_root):
    settings.SKINCLINIC_MAX_UPLOAD_BYTES = 1024
    file = upload(jpeg_bytes(size=(200, 200)))
    file.size = 10
    with pytest.raises(ValidationError, match="larger than"):
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=file)
    assert_nothing_stored(media_root)


def test_upload_of_an_empty_file_is_refused(staff, media_root):
    with pytest.raises(ValidationError, match="empty"):
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(b""))
    assert_nothing_stored(media_root)


def test_a_failure_after_the_file_is_written_leaves_no_file_behind(staff, media_root, monkeypatch):
    from predictions import inference

    def no_model():
        raise RuntimeError("model config unreadable")

    monkeypatch.setattr(inference, "model_version", no_model)
    with pytest.raises(RuntimeError):
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_bytes()))
    assert_nothing_stored(media_root)


@pytest.mark.parametrize("role", ["reviewer", "outsider"])
def test_upload_by_a_reviewer_or_another_clinics_user_is_forbidden(staff, role, media_root):
    with pytest.raises(PermissionDenied):
        image_upload(actor=staff.role(role), lesion=staff.lesion, file=upload(jpeg_bytes()))
    assert_nothing_stored(media_root)


def test_uploaded_file_content_is_read_from_the_start(staff):
    file = upload(jpeg_bytes())
    file.read(10)  # a form may have peeked at it
    image, _ = image_upload(actor=staff.clinician, lesion=staff.lesion, file=file)
    assert image.sha256 == hashlib.sha256(jpeg_bytes()).hexdigest()


def test_an_upload_whose_transaction_rolls_back_later_leaves_no_file(staff, media_root):
    with pytest.raises(RuntimeError), transaction.atomic():
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_bytes(seed=1)))
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_bytes(seed=2)))
        assert len(stored_files(media_root)) == 2
        raise RuntimeError("a later step of the same request fails")
    assert_nothing_stored(media_root)


def test_an_upload_to_a_full_disk_raises_the_disk_error_and_leaves_not_even_an_empty_file(staff, full_disk):
    with pytest.raises(OSError) as failed:
        image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_bytes()))
    assert failed.value.errno == errno.ENOSPC
    assert files_under(full_disk) == []
    assert not LesionImage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_upload_whose_commit_fails_because_the_database_went_away_leaves_no_file(staff, media_root):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL to end the session from the server side")
    with pytest.raises(OperationalError):
        with transaction.atomic():
            image_upload(actor=staff.clinician, lesion=staff.lesion, file=upload(jpeg_bytes()))
            assert len(stored_files(media_root)) == 1
            pid = connection.connection.info.backend_pid
            with psycopg.connect(**_connection_args()) as admin:  # as an administrator or a restart would
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    connection.close()
    assert stored_files(media_root) == []
    assert not LesionImage.objects.exists()


def _connection_args() -> dict:
    db = connection.settings_dict
    return {
        "dbname": db["NAME"],
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "autocommit": True,
    }
