"""Links to API resources come from one builder (predictions.links) for API responses and webhook bodies."""

from django.urls import reverse

from predictions.links import api_path, api_public_url


def test_the_path_is_what_django_reverses_for_any_id():
    for pk in (1, 42, 987654321):
        assert api_path("prediction-detail", pk) == reverse("api:prediction-detail", args=[pk])


def test_the_public_url_is_the_path_under_public_url_without_a_doubled_slash(settings):
    settings.SKINCLINIC_PUBLIC_URL = "https://clinic.example.org/"
    assert api_public_url("review-detail", 7) == "https://clinic.example.org" + reverse("api:review-detail", args=[7])
