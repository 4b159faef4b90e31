"""Similar reference cases, with the real shipped model: the worker finds them with the result (from the same
forward pass) and stores them; a refused image gets none; a missing or mismatched index leaves the result
finished without them; the result page and the API show them, or say why there are none and how to build
the index; their thumbnails reach only members of the prediction's clinic."""

import io
import json
import shutil

import pytest
from django.test import TestCase
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from mlcore import Classifier
from mlcore.reference import index_dirname
from predictions import inference
from predictions.models import PredictionStatus, SimilarCase
from predictions.services.api_tokens import api_token_create
from predictions.tasks import prediction_run_task

from .factories import LesionImageFactory, PredictionFactory
from .reference_set import reference_set_build, training_image

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def shipped():
    return Classifier.load()


@pytest.fixture(scope="module")
def reference_set(shipped, tmp_path_factory):
    return reference_set_build(tmp_path_factory.mktemp("reference"), shipped)


@pytest.fixture
def real_model(monkeypatch, shipped):
    """The shipped model behind the app's seam (instead of the unit tests' colour classifier); counts the
    forward passes it makes."""
    monkeypatch.setattr(inference, "_classifier", shipped)
    monkeypatch.setattr(inference, "model_version", lambda: shipped.version)
    passes = []
    outputs = shipped.outputs

    def counted(images, meta, batch_size=32):
        passes.append(len(images))
        return outputs(images, meta, batch_size)

    monkeypatch.setattr(shipped, "outputs", counted)
    return passes


@pytest.fixture
def reference_dir(settings, reference_set):
    settings.SKINCLINIC_REFERENCE_DIR = str(reference_set[2])
    return reference_set[2]


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def _classify(staff, shipped, contents: list[bytes]):
    predictions = [
        PredictionFactory(image=LesionImageFactory(lesion=staff.lesion, content=content), model_version=shipped.version)
        for content in contents
    ]
    with TestCase.captureOnCommitCallbacks(execute=True):
        prediction_run_task.apply(args=[predictions[0].pk], task_id="run-1")
    for prediction in predictions:
        prediction.refresh_from_db()
    return predictions


def test_the_worker_stores_six_similar_cases_with_each_result_from_the_same_forward_pass(
    staff, shipped, real_model, reference_dir, reference_set
):
    mel_id, mel = training_image(reference_set, "mel")
    bcc_id, bcc = training_image(reference_set, "bcc")
    first, second = _classify(staff, shipped, [mel, bcc])

    assert real_model == [2]  # one batch, one pass: the neighbours come from the classification's embedding
    for prediction, reference_id in ((first, mel_id), (second, bcc_id)):
        assert prediction.status == PredictionStatus.SUCCEEDED
        cases = list(prediction.similar_cases.order_by("rank"))
        assert [c.rank for c in cases] == [1, 2, 3, 4, 5, 6]
        # The same photograph in the reference set is the nearest case (its metadata differs, not its pixels).
        assert cases[0].reference_id == reference_id and cases[0].similarity > 0.99
        assert all(a.similarity >= b.similarity for a, b in zip(cases, cases[1:]))
    rows = {r["image_id"]: r for r in reference_set[1]}
    for case in SimilarCase.objects.all():
        row = rows[case.reference_id]
        assert (case.dx, case.dx_type, case.sex) == (row["dx"], row["dx_type"], row["sex"])
        assert case.confirmed_by in ("histopathology", "follow-up", "consensus", "confocal microscopy")


def test_an_image_the_model_refuses_gets_no_similar_cases_and_the_panel_says_why(
    staff, shipped, real_model, reference_dir, reference_set, client
):
    _, mel = training_image(reference_set, "mel")
    blank, lesion = _classify(staff, shipped, [_jpeg(Image.new("RGB", (600, 450), (200, 150, 130))), mel])
    assert blank.status == PredictionStatus.SUCCEEDED and blank.assessable is False
    assert not blank.similar_cases.exists() and lesion.similar_cases.count() == 6
    client.force_login(staff.clinician)
    page = client.get(reverse("portal:prediction-detail", args=[blank.pk])).content.decode()
    assert 'data-similar-cases="not_assessable"' in page
    assert "cannot assess this image, so it is not compared with reference cases" in page


def test_without_an_index_the_result_finishes_and_the_panel_gives_the_command_that_builds_it(
    staff, shipped, real_model, settings, tmp_path, reference_set, client
):
    settings.SKINCLINIC_REFERENCE_DIR = str(tmp_path / "no-index-here")
    _, mel = training_image(reference_set, "mel")
    [prediction] = _classify(staff, shipped, [mel])
    assert prediction.status == PredictionStatus.SUCCEEDED and prediction.top_class
    assert not prediction.similar_cases.exists()
    client.force_login(staff.reviewer)
    page = client.get(reverse("portal:prediction-detail", args=[prediction.pk])).content.decode()
    assert 'data-similar-cases="no_index"' in page
    assert f"No reference index has been built for model {shipped.version}." in page
    assert f"python -m mlcore reference --data /path/to/HAM10000 --out {tmp_path / 'no-index-here'}" in page


def test_an_index_built_with_another_model_is_refused_and_the_result_finishes_without_cases(
    staff, shipped, real_model, settings, tmp_path, reference_set
):
    root = tmp_path / "reference"
    target = root / index_dirname(shipped.version)
    shutil.copytree(reference_set[2] / index_dirname(shipped.version), target)
    info = json.loads((target / "index.json").read_text())
    (target / "index.json").write_text(json.dumps({**info, "model_version": "skinclinic-ham10000-cnn:1.2.0"}))
    settings.SKINCLINIC_REFERENCE_DIR = str(root)
    _, mel = training_image(reference_set, "mel")
    [prediction] = _classify(staff, shipped, [mel])
    assert prediction.status == PredictionStatus.SUCCEEDED and not prediction.similar_cases.exists()
    from predictions.selectors import similar_cases_panel

    panel = similar_cases_panel(prediction=prediction)
    assert panel.status == "no_index" and "built with skinclinic-ham10000-cnn:1.2.0" in panel.message
    assert panel.build_command.startswith("python -m mlcore reference")


@pytest.fixture
def classified(staff, shipped, real_model, reference_dir, reference_set):
    _, mel = training_image(reference_set, "mel")
    [prediction] = _classify(staff, shipped, [mel])
    return prediction


@pytest.mark.parametrize("role", ["clinician", "reviewer", "admin"])
def test_members_see_the_panel_and_its_thumbnails_and_outsiders_get_404(classified, staff, client, role):
    client.force_login(staff.role(role))
    page = client.get(reverse("portal:prediction-detail", args=[classified.pk])).content.decode()
    assert 'data-similar-cases="shown"' in page and page.count("data-similar-case=") == 6
    assert "for comparison only" in page and "a reviewer&#x27;s diagnosis outranks them" in page
    first = classified.similar_cases.get(rank=1)
    assert f'data-similar-case="{first.reference_id}"' in page
    response = client.get(reverse("portal:prediction-similar-thumbnail", args=[classified.pk, 1]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(b"".join(response.streaming_content))) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) <= 192
    assert client.get(reverse("portal:prediction-similar-thumbnail", args=[classified.pk, 7])).status_code == 404

    client.force_login(staff.outsider)
    assert client.get(reverse("portal:prediction-similar-thumbnail", args=[classified.pk, 1])).status_code == 404


def test_signed_out_users_get_no_thumbnail(classified, client):
    response = client.get(reverse("portal:prediction-similar-thumbnail", args=[classified.pk, 1]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def _api(user) -> APIClient:
    client = APIClient()
    _, key = api_token_create(user=user, name="tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_api_lists_the_cases_with_their_diagnosis_confirmation_and_thumbnail(classified, staff):
    client = _api(staff.reviewer)
    link = client.get(f"/api/v1/predictions/{classified.pk}").json()["similar_cases_url"]
    assert link.endswith(f"/api/v1/predictions/{classified.pk}/similar-cases")
    body = client.get(link).json()
    assert body["status"] == "shown" and body["message"] == "" and len(body["cases"]) == 6
    stored = list(classified.similar_cases.order_by("rank"))
    for case, row in zip(stored, body["cases"]):
        assert row["reference_id"] == case.reference_id and row["dx"] == case.dx
        assert row["confirmed_by"] == case.confirmed_by and row["similarity"] == pytest.approx(case.similarity)
        assert row["thumbnail"].endswith(f"/api/v1/predictions/{classified.pk}/similar-cases/{case.rank}/thumbnail")
    thumb = client.get(body["cases"][0]["thumbnail"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"

    outsider = _api(staff.outsider)
    assert outsider.get(f"/api/v1/predictions/{classified.pk}/similar-cases").status_code == 404
    assert outsider.get(body["cases"][0]["thumbnail"]).status_code == 404
    assert APIClient().get(f"/api/v1/predictions/{classified.pk}/similar-cases").status_code == 401


def test_the_api_says_why_a_queued_prediction_has_no_cases_yet(staff):
    prediction = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    body = _api(staff.clinician).get(f"/api/v1/predictions/{prediction.pk}/similar-cases").json()
    assert body == {**body, "status": "not_ready", "cases": []} and body["message"]


def test_the_schema_documents_the_similar_cases(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/predictions/{id}/similar-cases" in schema["paths"]
    assert "/api/v1/predictions/{id}/similar-cases/{rank}/thumbnail" in schema["paths"]
    case = schema["components"]["schemas"]["SimilarCase"]["properties"]
    assert {"diagnosis", "confirmed_by", "similarity", "thumbnail"} <= set(case)


def test_cases_the_table_cannot_hold_are_dropped_and_the_results_transaction_goes_on(staff):
    from django.db import transaction

    from mlcore.reference import Neighbour, ReferenceCase
    from predictions.services.similar_cases import similar_cases_store

    prediction = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    fine = ReferenceCase(image_id="ISIC_0000001", dx="mel", dx_type="histo")
    with transaction.atomic():
        # A similarity out of range (no index gives one) breaks a constraint: the savepoint takes it back.
        assert (
            similar_cases_store(
                predictions=[prediction],
                neighbours={
                    prediction.id: [
                        Neighbour(case=fine, similarity=0.9, rank=1),
                        Neighbour(case=fine, similarity=2.0, rank=2),
                    ]
                },
            )
            == 0
        )
        assert (
            similar_cases_store(
                predictions=[prediction],
                neighbours={
                    prediction.id: [
                        Neighbour(
                            case=ReferenceCase(image_id="X" * 65, dx="nv", dx_type="histo"), similarity=0.8, rank=1
                        ),
                        Neighbour(
                            case=ReferenceCase(image_id="ISIC_2", dx="nv", dx_type="dermoscopy"), similarity=0.7, rank=2
                        ),
                    ]
                },
            )
            == 1
        )
    [case] = prediction.similar_cases.all()
    assert (case.reference_id, case.dx_type, case.confirmed_by) == ("ISIC_2", "", "not stated")


def test_the_build_command_names_the_model_directory_of_a_registered_model_and_the_reference_dir(settings, tmp_path):
    from predictions.models import ModelVersion
    from predictions.references import reference_build_command

    settings.SKINCLINIC_REFERENCE_DIR = str(tmp_path / "ref erence")
    ModelVersion.objects.create(
        name="skinclinic-ham10000-cnn", version="9.0.0", checksum="a" * 64, model_dir="/srv/models/9.0.0"
    )
    assert reference_build_command("skinclinic-ham10000-cnn:9.0.0") == (
        f"python -m mlcore reference --data /path/to/HAM10000 --out '{tmp_path / 'ref erence'}' "
        f"--model /srv/models/9.0.0"
    )
    assert reference_build_command("skinclinic-ham10000-cnn:2.0.0") == (
        f"python -m mlcore reference --data /path/to/HAM10000 --out '{tmp_path / 'ref erence'}'"
    )
