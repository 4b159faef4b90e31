"""The heatmap per class: the worker draws the top class's and the class of concern's, any other on request
(queued through the worker, never drawn in the web request); members of the clinic read them, others get 404."""

import io

import pytest
from django.core.management import call_command
from django.test import TestCase
from django.urls import reverse
from rest_framework.test import APIClient

from mlcore import CLASS_NAMES, CLASSES
from predictions.models import AuditEvent, HeatmapStatus, Prediction, PredictionHeatmap
from predictions.services.api_tokens import api_token_create
from predictions.tasks import prediction_heatmap_task, prediction_run_task, predictions_sweep_task

from .factories import LesionImageFactory, PredictionFactory

pytestmark = pytest.mark.django_db

MEMBERS = ["clinician", "reviewer", "admin"]


@pytest.fixture(autouse=True)
def heatmaps_in_process(monkeypatch):
    """The heatmap task sent after a commit runs here and now; `sent` lists the prediction ids it was sent."""
    sent: list[list[int]] = []

    def apply_async(args, **options):
        sent.append(args[0])
        return prediction_heatmap_task.apply(args=args)

    monkeypatch.setattr(prediction_heatmap_task, "apply_async", apply_async)
    return sent


@pytest.fixture
def prediction(staff, fake_classifier, heatmaps_in_process) -> Prediction:
    """A photograph of the clinic's lesion classified by the worker, with its heatmaps drawn."""
    prediction = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    with TestCase.captureOnCommitCallbacks(execute=True):
        prediction_run_task.apply(args=[prediction.pk], task_id="run-1")
    prediction.refresh_from_db()
    heatmaps_in_process.clear()
    return prediction


def another_class(prediction) -> str:
    """A class that is neither the top class nor the class of concern."""
    return next(c for c in CLASSES if c not in (prediction.top_class, prediction.concern_class))


def png_of(response) -> bytes:
    return b"".join(response.streaming_content)


def api_client(user) -> APIClient:
    client = APIClient()
    _, key = api_token_create(user=user, name="tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- The worker ---------------------------------------------------------------------------------------------


def test_the_worker_stores_the_top_class_heatmap_and_the_class_of_concern_one(prediction, media_root, fake_classifier):
    assert prediction.heatmap_status == HeatmapStatus.STORED
    assert prediction.concern_class and prediction.concern_class != prediction.top_class
    [concern] = PredictionHeatmap.objects.filter(prediction=prediction)
    assert (concern.class_code, concern.status, concern.error) == (prediction.concern_class, HeatmapStatus.STORED, "")
    assert (media_root / concern.file.name).read_bytes()[:4] == b"\x89PNG"
    assert fake_classifier.heatmap_batches == [2]  # both drawn in one call of the model


def test_a_top_class_that_is_the_likeliest_malignant_class_has_no_class_of_concern(staff):
    probabilities = {"akiec": 0.05, "bcc": 0.05, "bkl": 0.05, "df": 0.05, "mel": 0.6, "nv": 0.15, "vasc": 0.05}
    assert PredictionFactory.build(probabilities=probabilities, top_class="mel").concern_class is None
    probabilities.update(mel=0.1, nv=0.5, bcc=0.2)
    assert PredictionFactory.build(probabilities=probabilities, top_class="nv").concern_class == "bcc"


# --- Requested in the portal --------------------------------------------------------------------------------


def test_requesting_another_class_queues_it_after_commit_and_the_worker_stores_it(
    client, staff, prediction, media_root, heatmaps_in_process
):
    wanted = another_class(prediction)
    client.force_login(staff.reviewer)
    url = reverse("portal:prediction-heatmap-request", args=[prediction.pk])
    with TestCase.captureOnCommitCallbacks(execute=False) as callbacks:
        response = client.post(url, {"class_code": wanted})
    assert response.status_code == 302
    requested = PredictionHeatmap.objects.get(prediction=prediction, class_code=wanted)
    assert requested.status == HeatmapStatus.PENDING and not requested.file
    assert heatmaps_in_process == []  # nothing is drawn in the web request

    page = client.get(reverse("portal:prediction-detail", args=[prediction.pk])).content.decode()
    assert f"The heatmap for {CLASS_NAMES[wanted]} is being computed" in page
    viewer = client.get(reverse("portal:prediction-viewer", args=[prediction.pk])).content.decode()
    assert "hx-trigger" in viewer  # the viewer asks again until it is drawn

    for callback in callbacks:  # the commit: the task is sent, and the worker draws it
        callback()
    assert heatmaps_in_process == [[prediction.pk]]
    requested.refresh_from_db()
    assert requested.status == HeatmapStatus.STORED
    assert (media_root / requested.file.name).read_bytes()[:4] == b"\x89PNG"
    assert (
        AuditEvent.objects.filter(action="heatmap.request", target_id=str(prediction.pk), data__class=wanted).count()
        == 1
    )

    viewer = client.get(reverse("portal:prediction-viewer", args=[prediction.pk])).content.decode()
    assert "hx-trigger" not in viewer and "being computed" not in viewer
    file_url = reverse("predictions:prediction-class-heatmap", args=[prediction.pk, wanted])
    assert f'value="{file_url}"' in viewer
    response = client.get(file_url)
    assert response.status_code == 200 and png_of(response)[:4] == b"\x89PNG"
    assert AuditEvent.objects.filter(action="heatmap.download", data__class=wanted).count() == 1


def test_the_portal_switch_names_the_top_class_and_the_class_of_concern(client, staff, prediction):
    client.force_login(staff.clinician)
    page = client.get(reverse("portal:prediction-detail", args=[prediction.pk])).content.decode()
    assert "data-heatmap-class" in page
    assert f"{CLASS_NAMES[prediction.top_class]} (top class)</option>" in page
    assert f"{CLASS_NAMES[prediction.concern_class]} (class of concern)</option>" in page
    assert f'value="{reverse("predictions:prediction-heatmap", args=[prediction.pk])}"' in page
    # The others can be asked for; the two drawn already are not offered again.
    requestable = page.split('name="class_code"')[1].split("</select>")[0]
    assert f'value="{another_class(prediction)}"' in requestable
    assert f'value="{prediction.concern_class}"' not in requestable
    assert f'value="{prediction.top_class}"' not in requestable


def test_another_clinics_user_can_neither_request_nor_read_a_class_heatmap(
    client, staff, prediction, heatmaps_in_process
):
    client.force_login(staff.outsider)
    response = client.post(
        reverse("portal:prediction-heatmap-request", args=[prediction.pk]), {"class_code": another_class(prediction)}
    )
    assert response.status_code == 404
    assert (
        client.get(
            reverse("predictions:prediction-class-heatmap", args=[prediction.pk, prediction.concern_class])
        ).status_code
        == 404
    )
    assert PredictionHeatmap.objects.filter(prediction=prediction).count() == 1  # only the class of concern
    assert heatmaps_in_process == []
    assert not AuditEvent.objects.filter(action__in=["heatmap.request", "heatmap.download"]).exists()


@pytest.mark.parametrize("role", MEMBERS)
def test_each_member_reads_the_class_of_concern_heatmap(client, staff, prediction, role):
    client.force_login(staff.role(role))
    response = client.get(
        reverse("predictions:prediction-class-heatmap", args=[prediction.pk, prediction.concern_class])
    )
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"


def test_an_unknown_class_is_refused_and_queues_nothing(client, staff, prediction, heatmaps_in_process):
    client.force_login(staff.clinician)
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(reverse("portal:prediction-heatmap-request", args=[prediction.pk]), {"class_code": "xyz"})
    assert PredictionHeatmap.objects.filter(prediction=prediction).count() == 1
    assert heatmaps_in_process == []


# --- Over the API -------------------------------------------------------------------------------------------


def test_the_api_lists_the_heatmaps_per_class_and_queues_one_on_request(staff, prediction, heatmaps_in_process):
    client = api_client(staff.clinician)
    base = f"http://testserver/api/v1/predictions/{prediction.pk}"
    body = client.get(f"/api/v1/predictions/{prediction.pk}").json()
    assert body["heatmaps_url"] == f"{base}/heatmaps"
    assert [
        (h["class_code"], h["status"], h["url"], h["top_class"], h["class_of_concern"]) for h in body["heatmaps"]
    ] == [
        (prediction.top_class, "stored", f"{base}/heatmap", True, False),
        (prediction.concern_class, "stored", f"{base}/heatmaps/{prediction.concern_class}", False, True),
    ]

    concern = client.get(f"/api/v1/predictions/{prediction.pk}/heatmaps/{prediction.concern_class}")
    assert concern.status_code == 200 and png_of(concern)[:4] == b"\x89PNG"

    wanted = another_class(prediction)
    with TestCase.captureOnCommitCallbacks(execute=False) as callbacks:
        response = client.post(f"/api/v1/predictions/{prediction.pk}/heatmaps", {"class_code": wanted}, format="json")
    assert response.status_code == 202
    assert {h["class_code"]: (h["status"], h["url"]) for h in response.json()}[wanted] == ("pending", None)
    assert heatmaps_in_process == []
    for callback in callbacks:
        callback()
    listed = {h["class_code"]: h for h in client.get(f"/api/v1/predictions/{prediction.pk}/heatmaps").json()}
    assert listed[wanted]["status"] == "stored" and listed[wanted]["url"] == f"{base}/heatmaps/{wanted}"
    assert (
        client.post(f"/api/v1/predictions/{prediction.pk}/heatmaps", {"class_code": wanted}, format="json").status_code
        == 200
    )  # stored already: nothing queued again
    assert heatmaps_in_process == [[prediction.pk]]


def test_the_api_answers_404_to_another_clinics_user(staff, prediction, heatmaps_in_process):
    client = api_client(staff.outsider)
    assert client.get(f"/api/v1/predictions/{prediction.pk}/heatmaps").status_code == 404
    assert client.get(f"/api/v1/predictions/{prediction.pk}/heatmaps/{prediction.concern_class}").status_code == 404
    assert (
        client.post(
            f"/api/v1/predictions/{prediction.pk}/heatmaps", {"class_code": another_class(prediction)}, format="json"
        ).status_code
        == 404
    )
    assert PredictionHeatmap.objects.filter(prediction=prediction).count() == 1 and heatmaps_in_process == []


# --- The sweep and storage_check ----------------------------------------------------------------------------


def test_storage_check_knows_class_heatmaps_and_has_a_lost_one_drawn_again(prediction, media_root, heatmaps_in_process):
    out = io.StringIO()
    call_command("storage_check", stdout=out)
    assert "0 orphan file(s)" in out.getvalue()

    concern = PredictionHeatmap.objects.get(prediction=prediction)
    (media_root / concern.file.name).unlink()
    out = io.StringIO()
    call_command("storage_check", "--remove", stdout=out)
    assert f"requeued: the class heatmap {concern.pk}" in out.getvalue()
    concern.refresh_from_db()
    assert (concern.status, concern.file.name, concern.attempts) == (HeatmapStatus.PENDING, "", 0)
    with TestCase.captureOnCommitCallbacks(execute=True):
        predictions_sweep_task.apply()  # the sweep sends it to the worker again
    assert heatmaps_in_process == [[prediction.pk]]
    concern.refresh_from_db()
    assert concern.status == HeatmapStatus.STORED and (media_root / concern.file.name).exists()
