"""The lesion timeline (every image in date order, all model versions, reviews, comparison) and the dashboard."""

import datetime

from django.urls import reverse
from django.utils import timezone

from predictions.models import Review
from tests.predictions.factories import LesionFactory, LesionImageFactory, PatientFactory, PredictionFactory
from tests.query_counts import audit_write_queries

from .conftest import (
    PROBABILITIES_CONFIDENT_NEVUS,
    PROBABILITIES_NEVUS_20_PERCENT_RISK,
    PROBABILITIES_UNCERTAIN_MELANOMA,
    succeeded,
)


def timeline(client, lesion, **params):
    return client.get(reverse("portal:lesion-timeline", args=[lesion.pk]), params)


def test_images_are_in_capture_date_order_with_every_model_versions_prediction(client, staff):
    late = LesionImageFactory(lesion=staff.lesion, captured_at=datetime.date(2024, 6, 1))
    early = LesionImageFactory(lesion=staff.lesion, captured_at=datetime.date(2021, 2, 3))
    undated = LesionImageFactory(lesion=staff.lesion, captured_at=None)  # counts as taken when uploaded (today)
    succeeded(early, model_version="skin:1.0")
    succeeded(early, PROBABILITIES_UNCERTAIN_MELANOMA, model_version="skin:2.0")
    client.force_login(staff.reviewer)
    response = timeline(client, staff.lesion)
    assert [image.pk for image in response.context["images"]] == [early.pk, late.pk, undated.pk]
    body = response.content.decode()
    assert "skin:1.0" in body and "skin:2.0" in body
    assert body.index("3 Feb 2021") < body.index("1 Jun 2024")
    assert "upload date; no capture date given" in body


def test_the_timeline_costs_a_fixed_number_of_queries(client, staff, django_assert_max_num_queries):
    for _ in range(8):
        image = LesionImageFactory(lesion=staff.lesion)
        prediction = succeeded(image)
        Review.objects.create(
            image=image, prediction=prediction, verdict="agree", diagnosis="nv", reviewer=staff.reviewer
        )
    client.force_login(staff.reviewer)
    with django_assert_max_num_queries(8 + audit_write_queries()):  # the page view is audited
        timeline(client, staff.lesion)


def test_two_chosen_images_are_compared_side_by_side_earlier_on_the_left(client, staff):
    first = LesionImageFactory(lesion=staff.lesion, captured_at=datetime.date(2022, 1, 1))
    LesionImageFactory(lesion=staff.lesion, captured_at=datetime.date(2023, 1, 1))
    last = LesionImageFactory(lesion=staff.lesion, captured_at=datetime.date(2024, 1, 1))
    client.force_login(staff.clinician)
    response = timeline(client, staff.lesion, compare=[last.pk, first.pk])
    assert response.context["comparison"] == [first, last]
    assert "Side by side: 1 Jan 2022 and 1 Jan 2024" in response.content.decode()
    assert "Compare first and latest" in response.content.decode()


def test_a_comparison_needs_exactly_two_images_of_this_lesion(client, staff):
    image = LesionImageFactory(lesion=staff.lesion)
    LesionImageFactory(lesion=staff.lesion)
    elsewhere = LesionImageFactory(lesion=LesionFactory(patient=staff.patient))
    client.force_login(staff.clinician)
    for chosen in ([image.pk], [image.pk, elsewhere.pk], [image.pk, image.pk]):
        response = timeline(client, staff.lesion, compare=chosen)
        assert response.context["comparison"] is None
        assert "Choose exactly two images of this lesion to compare." in response.content.decode()


def test_the_dashboard_lists_uploads_running_failed_and_unreviewed_high_risk_cases(client, staff):
    running = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion), status="running")
    failed = PredictionFactory(
        image=LesionImageFactory(lesion=staff.lesion),
        status="failed",
        error="Gave up after 3 attempts; the last error: OSError",
        finished_at=timezone.now(),
    )
    high = succeeded(LesionImageFactory(lesion=staff.lesion), PROBABILITIES_UNCERTAIN_MELANOMA)
    high_but_reviewed = succeeded(LesionImageFactory(lesion=staff.lesion), PROBABILITIES_UNCERTAIN_MELANOMA)
    Review.objects.create(
        image=high_but_reviewed.image,
        prediction=high_but_reviewed,
        verdict="agree",
        diagnosis="mel",
        reviewer=staff.reviewer,
    )
    low = succeeded(LesionImageFactory(lesion=staff.lesion), PROBABILITIES_CONFIDENT_NEVUS)
    theirs = succeeded(
        LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=staff.other_clinic))),
        PROBABILITIES_UNCERTAIN_MELANOMA,
    )
    client.force_login(staff.clinician)
    response = client.get(reverse("portal:dashboard"))
    board = response.context["board"]
    assert board.in_progress == [running]
    assert board.failed == [failed]
    assert board.high_risk_unreviewed == [high]
    assert {image.pk for image in board.recent_images} == {
        p.image_id for p in (running, failed, high, high_but_reviewed, low)
    }
    assert theirs.image_id not in {image.pk for image in board.recent_images}
    body = response.content.decode()
    assert "Gave up after 3 attempts; the last error: OSError" in body
    assert reverse("portal:prediction-retry", args=[failed.pk]) in body


def test_reviewers_see_failures_without_a_retry_button(client, staff):
    failed = PredictionFactory(
        image=LesionImageFactory(lesion=staff.lesion), status="failed", error="boom", finished_at=timezone.now()
    )
    client.force_login(staff.reviewer)
    body = client.get(reverse("portal:dashboard")).content.decode()
    assert "boom" in body and reverse("portal:prediction-retry", args=[failed.pk]) not in body


def test_the_dashboard_costs_a_fixed_number_of_queries(client, staff, django_assert_max_num_queries):
    for _ in range(10):
        succeeded(LesionImageFactory(lesion=staff.lesion), PROBABILITIES_UNCERTAIN_MELANOMA)
        PredictionFactory(
            image=LesionImageFactory(lesion=staff.lesion), status="failed", error="x", finished_at=timezone.now()
        )
    client.force_login(staff.clinician)
    with django_assert_max_num_queries(13 + audit_write_queries()):  # the page's clinic and audit record
        client.get(reverse("portal:dashboard"))


def test_every_unreviewed_result_the_model_refers_counts_on_the_dashboard_even_at_a_modest_risk(client, staff):
    # 20% risk with a top class of naevus: under the clinic's bands "intermediate", but above the model's threshold.
    referred = [
        succeeded(
            LesionImageFactory(lesion=staff.lesion),
            PROBABILITIES_NEVUS_20_PERCENT_RISK,
            refer=True,
            referral_threshold=0.12,
            assessable=True,
        )
        for _ in range(12)
    ]
    by_threshold_alone = succeeded(
        LesionImageFactory(lesion=staff.lesion), PROBABILITIES_NEVUS_20_PERCENT_RISK, referral_threshold=0.12
    )
    routine = succeeded(
        LesionImageFactory(lesion=staff.lesion),
        PROBABILITIES_NEVUS_20_PERCENT_RISK,
        refer=False,
        referral_threshold=0.3,
        assessable=True,
    )
    refused = succeeded(
        LesionImageFactory(lesion=staff.lesion),
        PROBABILITIES_NEVUS_20_PERCENT_RISK,
        refer=True,
        referral_threshold=0.12,
        assessable=False,
        assessment_reasons=[{"code": "blur", "message": "The image is out of focus."}],
    )
    client.force_login(staff.clinician)
    response = client.get(reverse("portal:dashboard"))
    board = response.context["board"]
    assert board.high_risk_unreviewed_total == 13 and len(board.high_risk_unreviewed) == 10
    assert routine not in board.high_risk_unreviewed and refused not in board.high_risk_unreviewed
    assert set(board.high_risk_unreviewed) <= set(referred) | {by_threshold_alone}
    assert board.cannot_assess == [refused]
    body = response.content.decode()
    assert "data-needs-review-count>13<" in body and "Refer" in body
    assert "The model could not assess these images" in body


def test_a_histopathology_confirmed_review_wins_wherever_the_lesion_is_shown_with_the_models_figure_beside_it(
    client, staff
):
    image = LesionImageFactory(lesion=staff.lesion)
    prediction = succeeded(image, PROBABILITIES_NEVUS_20_PERCENT_RISK)  # the model: naevus, 20% risk
    Review.objects.create(
        image=image,
        prediction=prediction,
        verdict="override",
        diagnosis="mel",
        histopathology_confirmed=True,
        reviewer=staff.reviewer,
    )
    Review.objects.create(
        image=image, prediction=prediction, verdict="agree", diagnosis="nv", reviewer=staff.reviewer
    )  # a later clinical opinion does not overturn histopathology
    client.force_login(staff.clinician)
    reviewed = 'data-reviewed-diagnosis="mel"'
    pages = {
        "lesion card": reverse("portal:patient-detail", args=[staff.patient.pk]),
        "timeline": reverse("portal:lesion-timeline", args=[staff.lesion.pk]),
        "dashboard": reverse("portal:dashboard"),
        "result": reverse("portal:prediction-detail", args=[prediction.pk]),
        "patient list": reverse("portal:patient-list"),
    }
    for where, url in pages.items():
        body = client.get(url).content.decode()
        assert reviewed in body, where
        assert "Histopathology:</span> <strong>Melanoma</strong>" in body, where
        if where != "patient list":  # the list shows open risk only; this lesion is reviewed
            assert "20.0%" in body, where  # the model's figure stays visible
    result = client.get(pages["result"]).content.decode()
    assert result.index(reviewed) < result.index("The model's result") < result.index("Melanocytic nevus")
