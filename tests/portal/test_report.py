"""The consultation report: a PDF per lesion rendered on the server, read back as text with pdftotext."""

import io
import os
import shutil
import subprocess

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image

from predictions.interpretation import model_config_cache_clear
from predictions.models import AuditEvent, ModelVersion, Review
from tests.predictions.factories import LesionImageFactory

from .conftest import PROBABILITIES_NEVUS_20_PERCENT_RISK, succeeded


@pytest.fixture(autouse=True)
def no_cached_model_configs():
    model_config_cache_clear()
    yield
    model_config_cache_clear()


def pdf_text(pdf: bytes) -> str:
    if not shutil.which("pdftotext"):
        reason = "pdftotext is not installed (apt-get install poppler-utils; .ci/run installs it)"
        if os.environ.get("SKINCLINIC_REQUIRE_INTEGRATION") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(done.stdout.decode().split())  # one line, single spaces: phrases survive line wrapping


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def reviewed_lesion(staff):
    staff.lesion.label = "Left forearm, dorsal"
    staff.lesion.save()
    ModelVersion.objects.create(
        name="skin",
        version="2.0.0",
        checksum="2" * 64,
        config={
            "name": "skin",
            "version": "2.0.0",
            "operating_point": {"threshold": 0.12, "malignant_sensitivity": 0.95, "malignant_specificity": 0.6},
        },
    )
    image = LesionImageFactory(lesion=staff.lesion)
    prediction = succeeded(
        image,
        PROBABILITIES_NEVUS_20_PERCENT_RISK,
        model_version="skin:2.0.0",
        refer=True,
        referral_threshold=0.12,
        assessable=True,
    )
    prediction.heatmap.save("heatmap.png", ContentFile(png((200, 30, 30))), save=True)
    Review.objects.create(
        image=image,
        prediction=prediction,
        verdict="override",
        diagnosis="mel",
        histopathology_confirmed=True,
        reviewer=staff.reviewer,
        notes="Excised; superficial spreading melanoma.",
    )
    return staff.lesion


def test_the_report_is_a_pdf_with_clinic_patient_lesion_result_operating_point_reviews_and_disclaimer(
    client, staff, reviewed_lesion
):
    client.force_login(staff.clinician)
    response = client.get(reverse("portal:lesion-report", args=[reviewed_lesion.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert staff.patient.mrn not in response["Content-Disposition"]  # no identifier in the file name
    text = pdf_text(response.content)
    for expected in (
        staff.clinic.name,
        staff.patient.full_name,
        staff.patient.mrn,
        "Left forearm, dorsal",
        "Histopathology: Melanoma",
        "Refer: suspicious for a malignant lesion",
        "Malignancy risk 20.0% · referral threshold 12.0%",
        "At this threshold the model found 95 in 100 malignant lesions in validation",
        "Most likely class: Melanocytic nevus",
        "Model skin:2.0.0",
        "Excised; superficial spreading melanoma.",
        "Decision support only — not a diagnosis",
        "Heatmap",
    ):
        assert expected in text, expected
    assert text.index("Histopathology: Melanoma") < text.index("Refer: suspicious")  # the reviewed diagnosis first


def test_a_lesion_without_results_still_reports_what_there_is(client, staff):
    LesionImageFactory(lesion=staff.lesion)
    client.force_login(staff.reviewer)
    text = pdf_text(client.get(reverse("portal:lesion-report", args=[staff.lesion.pk])).content)
    assert "Not reviewed yet" in text and "No finished result" in text


def test_making_the_report_is_audited_and_another_clinics_lesion_is_not_found(client, staff, reviewed_lesion):
    client.force_login(staff.outsider)
    assert client.get(reverse("portal:lesion-report", args=[reviewed_lesion.pk])).status_code == 404
    client.force_login(staff.reviewer)
    client.get(reverse("portal:lesion-report", args=[reviewed_lesion.pk]))
    event = AuditEvent.objects.get(action="lesion.report")
    assert event.actor == staff.reviewer and event.target_id == str(reviewed_lesion.pk)


def test_the_timeline_and_the_result_page_link_to_the_report(client, staff, reviewed_lesion):
    client.force_login(staff.clinician)
    url = reverse("portal:lesion-report", args=[reviewed_lesion.pk])
    assert url in client.get(reverse("portal:lesion-timeline", args=[reviewed_lesion.pk])).content.decode()
    prediction = reviewed_lesion.images.get().predictions.get()
    assert url in client.get(reverse("portal:prediction-detail", args=[prediction.pk])).content.decode()


def test_making_a_report_leaves_truncated_uploads_refused(client, staff, reviewed_lesion):
    # WeasyPrint turns on Pillow's LOAD_TRUNCATED_IMAGES when imported; the upload checks rely on it being off.
    from PIL import ImageFile

    client.force_login(staff.clinician)
    client.get(reverse("portal:lesion-report", args=[reviewed_lesion.pk]))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
