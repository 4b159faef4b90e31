"""Links to API resources come from one builder (predictions.links) for API responses and webhook bodies."""

from django.urls import reverse, set_script_prefix

from predictions.links import ApiLinks, api_path, api_public_url


def test_the_path_is_what_django_reverses_for_any_id():
    for pk in (1, 42, 987654321):
        assert api_path("prediction-detail", pk) == reverse("api:prediction-detail", args=[pk])


def test_the_public_url_is_the_path_under_public_url_without_a_doubled_slash(settings):
    settings.SKINCLINIC_PUBLIC_URL = "https://clinic.example.org/"
    assert api_public_url("review-detail", 7) == "https://clinic.example.org" + reverse("api:review-detail", args=[7])


def test_a_requests_links_are_its_host_and_script_prefix_then_what_django_reverses():
    set_script_prefix("/clinic/")
    try:
        links = ApiLinks("https://clinic.example.org")
        for pk in (1, 42):
            expected = "https://clinic.example.org" + reverse("api:prediction-detail", args=[pk])
            assert expected.startswith("https://clinic.example.org/clinic/")
            assert links.url("prediction-detail", pk) == expected
    finally:
        set_script_prefix("/")
