"""Stored images and heatmaps reach members of their clinic only, through the clinic-checking views."""

import pytest
from django.urls import reverse
from django.utils import timezone

from .factories import LesionFactory, LesionImageFactory, PatientFactory, PredictionFactory

MEMBERS = ["clinician", "reviewer", "admin"]


@pytest.fixture
def image(staff):
    return LesionImageFactory(lesion=staff.lesion)


def image_url(image):
    return reverse("predictions:lesion-image-file", args=[image.pk])


@pytest.mark.parametrize("role", MEMBERS)
def test_members_of_each_role_get_the_stored_image(client, staff, image, role):
    client.force_login(staff.role(role))
    response = client.get(image_url(image))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    with image.file.open("rb") as fh:
        assert b"".join(response.streaming_content) == fh.read()


def test_a_user_of_another_clinic_gets_404_for_the_image(client, staff, image):
    client.force_login(staff.outsider)
    assert client.get(image_url(image)).status_code == 404


def test_members_get_404_for_another_clinics_image(client, staff):
    theirs = LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=staff.other_clinic)))
    client.force_login(staff.clinician)
    assert client.get(image_url(theirs)).status_code == 404


def test_an_anonymous_visitor_is_sent_to_sign_in(client, image):
    response = client.get(image_url(image))
    assert response.status_code == 302 and "login" in response["Location"]


def test_media_files_have_no_public_url(client, staff, image):
    client.force_login(staff.admin)
    assert client.get("/media/" + image.file.name).status_code == 404
    assert client.get("/" + image.file.name).status_code == 404


@pytest.mark.parametrize("role", MEMBERS + ["outsider"])
def test_the_heatmap_reaches_members_only(client, staff, image, role):
    from django.core.files.base import ContentFile

    prediction = PredictionFactory(
        image=image,
        status="succeeded",
        probabilities={"nv": 1.0},
        top_class="nv",
        malignancy_risk=0.0,
        finished_at=timezone.now(),
    )
    prediction.heatmap.save("heatmap.png", ContentFile(b"\x89PNG fake"), save=True)
    client.force_login(staff.role(role))
    response = client.get(reverse("predictions:prediction-heatmap", args=[prediction.pk]))
    assert response.status_code == (404 if role == "outsider" else 200)


def test_a_prediction_without_a_heatmap_is_404(client, staff, image):
    prediction = PredictionFactory(image=image)
    client.force_login(staff.clinician)
    assert client.get(reverse("predictions:prediction-heatmap", args=[prediction.pk])).status_code == 404


def test_health_check_answers_over_plain_http(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
