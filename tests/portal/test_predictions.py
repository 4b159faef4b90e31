"""The prediction page: live status, the result in words and bars, the heatmap, retry, and reviews."""

import datetime
import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from mlcore import CLASS_NAMES
from predictions.models import AuditEvent, ModelVersion, Prediction, Review
from tests.predictions.factories import PredictionFactory

from .conftest import (
    PROBABILITIES_CONFIDENT_NEVUS,
    PROBABILITIES_NEVUS_20_PERCENT_RISK,
    PROBABILITIES_UNCERTAIN_MELANOMA,
    succeeded,
)

DISCLAIMER = "Decision support only — not a diagnosis."


def page(client, prediction, name="portal:prediction-detail"):
    return client.get(reverse(name, args=[prediction.pk])).content.decode()


@pytest.mark.parametrize("status", ["queued", "running"])
def test_a_pending_prediction_polls_its_result_panel(client, staff, image, status):
    prediction = PredictionFactory(image=image, status=status)
    client.force_login(staff.clinician)
    for name in ("portal:prediction-detail", "portal:prediction-result"):
        body = page(client, prediction, name)
        assert f'hx-get="{reverse("portal:prediction-result", args=[prediction.pk])}"' in body
        assert 'hx-trigger="every 2.0s"' in body and 'hx-swap="outerHTML"' in body
        assert f'data-status="{status}"' in body
    assert DISCLAIMER in page(client, prediction)


def test_the_status_moves_from_queued_to_running_to_done_in_the_polled_panel(client, staff, image):
    prediction = PredictionFactory(image=image)
    client.force_login(staff.clinician)
    seen = []
    for update in (
        {"status": "running"},
        {
            "status": "succeeded",
            "probabilities": PROBABILITIES_CONFIDENT_NEVUS,
            "top_class": "nv",
            "malignancy_risk": 0.06,
            "finished_at": timezone.now(),
        },
    ):
        seen.append(re.search(r'data-status="(\w+)"', page(client, prediction, "portal:prediction-result")).group(1))
        Prediction.objects.filter(pk=prediction.pk).update(**update)
    final = page(client, prediction, "portal:prediction-result")
    seen.append(re.search(r'data-status="(\w+)"', final).group(1))
    assert seen == ["queued", "running", "succeeded"]
    panel = re.search(r'<div id="prediction-result"[^>]*>', final).group(0)
    assert "hx-trigger" not in panel  # the panel stops polling once the result is final


def test_a_result_waits_for_its_heatmap_by_polling_only_the_image_section(client, staff, image, settings):
    prediction = succeeded(image)  # probabilities stored; the heatmap comes from a later task
    client.force_login(staff.reviewer)
    body = page(client, prediction)
    viewer = re.search(r'<section class="card" id="prediction-viewer"[^>]*>', body).group(0)
    assert 'data-heatmap-state="pending"' in viewer
    assert f'hx-get="{reverse("portal:prediction-viewer", args=[prediction.pk])}"' in viewer
    assert "Drawing the heatmap" in body and "Add your review" in body  # the review form is outside the poll

    prediction.heatmap.save("heatmap.png", ContentFile(b"\x89PNG fake"), save=True)
    drawn = page(client, prediction, "portal:prediction-viewer")
    assert 'data-heatmap-state="ready"' in drawn and "hx-trigger" not in drawn
    assert reverse("predictions:prediction-heatmap", args=[prediction.pk]) in drawn


def test_a_heatmap_whose_attempts_ran_out_stops_the_polling_and_says_it_is_unavailable(client, staff, image):
    prediction = succeeded(image)
    Prediction.objects.filter(pk=prediction.pk).update(
        heatmap_status="unavailable", heatmap_error="The heatmap could not be drawn: every attempt failed."
    )
    client.force_login(staff.clinician)
    body = page(client, prediction, "portal:prediction-viewer")
    assert 'data-heatmap-state="none"' in body and "hx-trigger" not in body
    assert "Heatmap unavailable." in body and "every attempt failed" in body


def test_a_heatmap_still_pending_long_after_the_result_keeps_polling(client, staff, image):
    prediction = succeeded(image)
    Prediction.objects.filter(pk=prediction.pk).update(finished_at=timezone.now() - datetime.timedelta(hours=1))
    client.force_login(staff.clinician)
    body = page(client, prediction, "portal:prediction-viewer")
    assert 'data-heatmap-state="pending"' in body and "hx-trigger" in body


def test_a_finished_result_shows_every_class_by_full_name_the_risk_band_and_the_model_version(client, staff, image):
    prediction = succeeded(image, PROBABILITIES_CONFIDENT_NEVUS)
    client.force_login(staff.clinician)
    body = page(client, prediction)
    for name in CLASS_NAMES.values():
        assert name in body
    assert "Melanocytic nevus" in body and "88.0%" in body
    assert 'data-risk-band="low"' in body and "Low risk of malignancy: 6.0%" in body
    assert prediction.model_version in body and DISCLAIMER in body
    assert "data-uncertain" not in body
    assert body.count('class="bar__fill"') == 7


def test_an_uncertain_result_is_flagged_with_its_reasons(client, staff, image):
    prediction = succeeded(image, PROBABILITIES_UNCERTAIN_MELANOMA)
    client.force_login(staff.clinician)
    body = page(client, prediction)
    assert "data-uncertain" in body and "The model is uncertain" in body
    assert "only 33% probability" in body and "entropy" in body
    assert 'data-risk-band="high"' in body


def test_the_heatmap_is_shown_over_the_image_only_through_the_clinic_checking_views(client, staff, image):
    prediction = succeeded(image)
    prediction.heatmap.save("heatmap.png", ContentFile(b"\x89PNG fake"), save=True)
    client.force_login(staff.reviewer)
    body = page(client, prediction)
    assert f'src="{reverse("predictions:lesion-image-file", args=[image.pk])}"' in body
    assert f'src="{reverse("predictions:prediction-heatmap", args=[prediction.pk])}"' in body
    assert "data-heatmap-toggle" in body and "data-heatmap-opacity" in body
    assert "/media/" not in body and prediction.heatmap.name not in body and image.file.name not in body


def test_a_failed_prediction_shows_its_reason_and_a_retry_button_for_clinicians(client, staff, image):
    prediction = PredictionFactory(
        image=image,
        status="failed",
        error="The stored image could not be read.",
        finished_at=timezone.now(),
        attempts=3,
    )
    client.force_login(staff.clinician)
    body = page(client, prediction)
    assert "The stored image could not be read." in body and "Retry the prediction" in body
    client.force_login(staff.reviewer)
    assert "Retry the prediction" not in page(client, prediction)


def test_retry_queues_a_failed_prediction_again_and_audits_it(client, staff, image, django_capture_on_commit_callbacks):
    prediction = PredictionFactory(image=image, status="failed", error="boom", finished_at=timezone.now(), attempts=3)
    client.force_login(staff.clinician)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("portal:prediction-retry", args=[prediction.pk]), {"next": reverse("portal:dashboard")}
        )
    assert response.status_code == 302 and response["Location"] == reverse("portal:dashboard")
    prediction.refresh_from_db()
    assert (prediction.status, prediction.error, prediction.attempts) == ("queued", "", 0)
    assert len(callbacks) == 1
    assert AuditEvent.objects.filter(action="prediction.retry", target_id=str(prediction.pk)).exists()


def test_retry_ignores_a_next_address_on_another_site(client, staff, image):
    prediction = PredictionFactory(image=image, status="failed", error="boom", finished_at=timezone.now())
    client.force_login(staff.clinician)
    response = client.post(reverse("portal:prediction-retry", args=[prediction.pk]), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("portal:prediction-detail", args=[prediction.pk])


def test_retrying_a_prediction_that_is_not_failed_changes_nothing_and_says_why(client, staff, image):
    prediction = succeeded(image)
    client.force_login(staff.clinician)
    response = client.post(reverse("portal:prediction-retry", args=[prediction.pk]), follow=True)
    assert "Only a failed prediction can be retried" in response.content.decode()
    prediction.refresh_from_db()
    assert prediction.status == "succeeded"


def test_a_reviewer_cannot_retry(client, staff, image):
    prediction = PredictionFactory(image=image, status="failed", error="boom", finished_at=timezone.now())
    client.force_login(staff.reviewer)
    assert client.post(reverse("portal:prediction-retry", args=[prediction.pk])).status_code == 403
    prediction.refresh_from_db()
    assert prediction.status == "failed"


@pytest.mark.parametrize("role, sees_form", [("reviewer", True), ("admin", True), ("clinician", False)])
def test_the_review_form_is_offered_to_reviewers_and_admins(client, staff, image, role, sees_form):
    prediction = succeeded(image)
    client.force_login(staff.role(role))
    assert ("Add your review" in page(client, prediction)) is sees_form


def test_a_reviewer_confirms_the_class_and_the_review_shows_on_the_timeline(client, staff, image):
    prediction = succeeded(image)
    client.force_login(staff.reviewer)
    response = client.post(
        reverse("portal:prediction-review", args=[prediction.pk]),
        {"verdict": "agree", "histopathology_confirmed": "on", "notes": "Classic naevus pattern."},
    )
    assert response.status_code == 302
    review = Review.objects.get(image=image)
    assert (review.verdict, review.diagnosis, review.histopathology_confirmed, review.reviewer) == (
        "agree",
        "nv",
        True,
        staff.reviewer,
    )
    body = client.get(reverse("portal:lesion-timeline", args=[staff.lesion.pk])).content.decode()
    assert "Confirmed: Melanocytic nevus" in body and "Histopathology confirmed" in body
    assert "Classic naevus pattern." in body


def test_a_reviewer_overrides_with_another_class(client, staff, image):
    prediction = succeeded(image)
    client.force_login(staff.admin)
    client.post(reverse("portal:prediction-review", args=[prediction.pk]), {"verdict": "override", "diagnosis": "mel"})
    review = Review.objects.get(image=image)
    assert (review.verdict, review.diagnosis, review.prediction) == ("override", "mel", prediction)
    assert "Overridden: Melanoma" in page(client, prediction)


def test_an_override_without_a_diagnosis_is_explained_and_keeps_the_notes(client, staff, image):
    prediction = succeeded(image)
    client.force_login(staff.reviewer)
    response = client.post(
        reverse("portal:prediction-review", args=[prediction.pk]), {"verdict": "override", "notes": "keep me"}
    )
    assert response.status_code == 200
    assert "Choose the diagnosis you are overriding with." in response.content.decode()
    assert "keep me" in response.content.decode()
    assert not Review.objects.exists()


def test_a_failed_prediction_can_only_be_overridden(client, staff, image):
    prediction = PredictionFactory(image=image, status="failed", error="boom", finished_at=timezone.now())
    client.force_login(staff.reviewer)
    response = client.post(reverse("portal:prediction-review", args=[prediction.pk]), {"verdict": "agree"})
    assert response.status_code == 200 and "verdict" in response.context["review_form"].errors
    client.post(reverse("portal:prediction-review", args=[prediction.pk]), {"verdict": "override", "diagnosis": "bcc"})
    assert Review.objects.get(image=image).diagnosis == "bcc"


def test_a_clinician_cannot_post_a_review(client, staff, image):
    prediction = succeeded(image)
    client.force_login(staff.clinician)
    response = client.post(reverse("portal:prediction-review", args=[prediction.pk]), {"verdict": "agree"})
    assert response.status_code == 403
    assert not Review.objects.exists()


def test_the_badge_polls_until_final_then_shows_the_class_and_risk(client, staff, image):
    prediction = PredictionFactory(image=image, status="running")
    client.force_login(staff.reviewer)
    assert "hx-trigger" in page(client, prediction, "portal:prediction-badge")
    Prediction.objects.filter(pk=prediction.pk).update(
        status="succeeded",
        probabilities=PROBABILITIES_UNCERTAIN_MELANOMA,
        top_class="mel",
        malignancy_risk=0.48,
        finished_at=timezone.now(),
    )
    body = page(client, prediction, "portal:prediction-badge")
    assert "hx-trigger" not in body and "model: Melanoma" in body and "High risk" in body and "Uncertain" in body


def test_the_result_leads_with_refer_and_the_models_validation_figures_then_the_classes(client, staff, image):
    ModelVersion.objects.create(
        name="skin",
        version="2.0.0",
        checksum="1" * 64,
        config={
            "name": "skin",
            "version": "2.0.0",
            "operating_point": {"threshold": 0.12, "malignant_sensitivity": 0.95, "malignant_specificity": 0.6},
        },
    )
    prediction = succeeded(
        image,
        PROBABILITIES_NEVUS_20_PERCENT_RISK,
        model_version="skin:2.0.0",
        refer=True,
        referral_threshold=0.12,
        assessable=True,
    )
    client.force_login(staff.clinician)
    body = page(client, prediction)
    assert 'data-recommendation="refer"' in body
    headline = body.index("Refer: suspicious for a malignant lesion")
    assert headline < body.index("Melanocytic nevus") < body.index("Calibrated probability of each class")
    assert "At this threshold the model found 95 in 100 malignant lesions in validation" in body
    assert "referral threshold <strong data-referral-threshold>12.0%</strong>" in body


def test_a_result_below_the_threshold_reads_routine_follow_up(client, staff, image):
    prediction = succeeded(
        image, PROBABILITIES_NEVUS_20_PERCENT_RISK, refer=False, referral_threshold=0.3, assessable=True
    )
    client.force_login(staff.clinician)
    body = page(client, prediction)
    assert 'data-recommendation="routine"' in body and "Routine follow-up" in body
    assert "Refer: suspicious" not in body


def test_an_image_the_model_refused_reads_cannot_assess_with_the_reasons(client, staff, image):
    prediction = succeeded(
        image,
        PROBABILITIES_NEVUS_20_PERCENT_RISK,
        assessable=False,
        refer=False,
        referral_threshold=0.12,
        assessment_reasons=[{"code": "not_skin", "message": "This does not look like skin."}],
    )
    client.force_login(staff.clinician)
    body = page(client, prediction)
    assert 'data-recommendation="cannot_assess"' in body and "Cannot assess this image" in body
    assert "This does not look like skin." in body and "Take another photograph" in body


def test_a_result_of_a_model_without_an_operating_point_says_so_and_names_the_clinics_bands(client, staff, image):
    prediction = succeeded(image, PROBABILITIES_UNCERTAIN_MELANOMA)  # a 1.x result: no gate, no threshold
    client.force_login(staff.clinician)
    body = page(client, prediction)
    assert 'data-recommendation="none"' in body
    assert "this model version defines no referral threshold" in body
    assert "not a validated operating point of the model" in body
    assert "Malignancy risk <strong data-risk>48.0%</strong>" in body
