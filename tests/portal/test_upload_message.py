"""After an upload, "the model is looking at it now" shows above a result still to come, and never above a finished
one (issue 16). The browser test (tests/browser/test_upload_message.py) covers the result arriving by htmx poll."""

from django.urls import reverse
from django.utils import timezone

from predictions.models import Prediction
from tests.portal.conftest import PROBABILITIES_CONFIDENT_NEVUS
from tests.portal.test_upload import form, jpeg, url

LOOKING = "the model is looking at it now"


def _finish(prediction):
    Prediction.objects.filter(pk=prediction.pk).update(
        status="succeeded",
        probabilities=PROBABILITIES_CONFIDENT_NEVUS,
        top_class="nv",
        malignancy_risk=0.06,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )


def test_the_message_stands_above_a_result_still_queued_and_marks_itself_for_removal(client, staff):
    client.force_login(staff.clinician)
    response = client.post(url(staff), form(staff.lesion.pk, [jpeg()]), follow=True)
    body = response.content.decode()
    assert response.context["prediction"].status == "queued"
    assert LOOKING in body
    assert "data-until-result>1 image uploaded; the model is looking at it now.</li>" in body


def test_the_message_is_left_out_when_the_result_finished_before_the_page_opened(client, staff):
    client.force_login(staff.clinician)
    response = client.post(url(staff), form(staff.lesion.pk, [jpeg()]))
    prediction = Prediction.objects.get(image__lesion=staff.lesion)
    _finish(prediction)  # a worker is often done before the browser follows the redirect
    page = client.get(response["Location"])
    body = page.content.decode()
    assert "Routine follow-up" in body or "Melanocytic nevus" in body
    assert LOOKING not in body
    # The message was consumed, not kept for the next page.
    assert LOOKING not in client.get(reverse("portal:dashboard")).content.decode()


def test_other_messages_on_a_finished_result_stay(client, staff):
    # A file already stored for the lesion goes to its result, which says so whatever the result's state.
    client.force_login(staff.clinician)
    client.post(url(staff), form(staff.lesion.pk, [jpeg()]))
    _finish(Prediction.objects.get(image__lesion=staff.lesion))
    response = client.post(url(staff), form(staff.lesion.pk, [jpeg()]), follow=True)
    body = response.content.decode()
    assert "1 file was already stored for this lesion." in body
    assert "data-until-result" not in body


def test_after_several_uploads_the_timeline_keeps_the_message(client, staff):
    client.force_login(staff.clinician)
    response = client.post(url(staff), form(staff.lesion.pk, [jpeg("a.jpg", 1), jpeg("b.jpg", 2)]), follow=True)
    assert "2 images uploaded; the model is looking at them now." in response.content.decode()
