"""Model versions end to end, with real models and real images: the registry, activation (exactly one
active, the worker runs it), and re-running stored images on a new version, keeping both results and
reporting the differences, with the changed cases queued for review.

The two versions are the model shipped in mlcore (when present) and a tiny model trained here; without
the shipped model, two tiny models trained with different seeds.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError, transaction

from predictions import inference
from predictions.models import AuditEvent, ModelVersion, Prediction, PredictionStatus, ReviewCase, ReviewReason
from predictions.selectors import prediction_version_diff
from predictions.services import image_upload
from predictions.services.registry import model_version_activate, model_version_register
from predictions.tasks import prediction_run_task
from tests.predictions.images import jpeg_bytes

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "ham10000"
N_IMAGES = 12


def _real_images(count: int) -> list[dict]:
    """HAM10000 photographs with their metadata when ../shared has them, else drawn lesions."""
    metadata = SHARED / "metadata.csv"
    if metadata.is_file():
        with metadata.open() as fh:
            rows = [row for row in csv.DictReader(fh) if (SHARED / "images" / f"{row['image_id']}.jpg").is_file()]
        # Every class represented, in a fixed order.
        rows.sort(key=lambda row: (row["dx"], row["image_id"]))
        by_class: dict[str, list] = {}
        for row in rows:
            by_class.setdefault(row["dx"], []).append(row)
        picked = [by_class[dx][i] for i in range(count) for dx in sorted(by_class) if i < len(by_class[dx])][:count]
        if len(picked) == count:
            return [
                {
                    "name": f"{row['image_id']}.jpg",
                    "data": (SHARED / "images" / f"{row['image_id']}.jpg").read_bytes(),
                    "age": int(float(row["age"])) if row["age"] else None,
                    "sex": row["sex"],
                    "site": row["localization"],
                }
                for row in picked
            ]
    return [
        {
            "name": f"drawn-{n}.jpg",
            "data": jpeg_bytes(seed=n, size=(600, 450)),
            "age": 40 + n,
            "sex": "female",
            "site": "back",
        }
        for n in range(count)
    ]


def _upload(staff, image: dict):
    stored, created = image_upload(
        actor=staff.clinician,
        lesion=staff.lesion,
        file=SimpleUploadedFile(image["name"], image["data"], content_type="image/jpeg"),
        age=image["age"],
        sex=image["sex"],
        site=image["site"],
    )
    assert created
    return stored


def _run_queued_like_a_worker() -> None:
    for prediction_id in Prediction.objects.filter(status=PredictionStatus.QUEUED).values_list("id", flat=True):
        prediction_run_task.apply(args=[prediction_id], task_id=f"task-{prediction_id}")


def _expected(model_dir: Path, image) -> dict:
    from mlcore import Classifier, LesionInput

    with image.file.open("rb") as fh:
        data = fh.read()
    [out] = Classifier.load(model_dir).predict(
        [
            LesionInput(
                image=data,
                age=float(image.age) if image.age else None,
                sex=image.sex if image.sex != "unknown" else None,
                site=image.site if image.site != "unknown" else None,
            )
        ]
    )
    return out.probabilities


def test_activation_and_rerun_keep_both_results_and_queue_the_changed_cases(staff, operator, two_model_dirs):
    from mlcore.modeldir import weights_checksum

    first_dir, second_dir = two_model_dirs
    images = _real_images(N_IMAGES + 1)

    # The first version registered becomes active, and new predictions are made with it.
    out = io.StringIO()
    call_command("model_register", str(first_dir), "--by", operator.username, stdout=out)
    first = ModelVersion.objects.get()
    assert first.is_active and first.activated_by == operator and f"{first.identifier} (active)" in out.getvalue()
    assert first.checksum == weights_checksum(first_dir)
    assert first.metrics == json.loads((first_dir / "metrics.json").read_text())
    assert first.model_card.startswith("# Model card")
    assert inference.model_version() == first.identifier

    stored = [_upload(staff, image) for image in images[:N_IMAGES]]
    assert set(Prediction.objects.values_list("model_version", flat=True)) == {first.identifier}
    _run_queued_like_a_worker()
    assert inference._classifier.version == first.identifier
    assert Prediction.objects.filter(status=PredictionStatus.SUCCEEDED).count() == N_IMAGES
    first_result = Prediction.objects.get(image=stored[0])
    assert first_result.probabilities == pytest.approx(_expected(first_dir, stored[0]), abs=1e-5)
    late = _upload(staff, images[N_IMAGES])  # queued under the first version, not yet run

    # Registering a second version does not activate it; activating it is recorded and retargets queued work.
    call_command("model_register", str(second_dir), stdout=io.StringIO())
    second = ModelVersion.objects.get(is_active=False)
    out = io.StringIO()
    call_command("model_activate", second.identifier, "--by", operator.username, stdout=out)
    assert f"Active: {second.identifier} (was {first.identifier})" in out.getvalue()
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.is_active, second.is_active) == (False, True)
    assert ModelVersion.objects.filter(is_active=True).count() == 1
    assert (second.activated_by, second.activated_at is not None) == (operator, True)
    event = AuditEvent.objects.get(action="model_version.activate", target_id=str(second.pk))
    assert (event.actor, event.data["previous"], event.data["requeued_predictions"]) == (operator, first.identifier, 1)
    assert Prediction.objects.get(image=late).model_version == second.identifier
    assert inference.model_version() == second.identifier
    first_results = {
        p.image_id: (p.top_class, p.malignancy_risk) for p in Prediction.objects.filter(model_version=first.identifier)
    }

    # Re-run: every stored image gets a result of the new version beside the old one.
    out = io.StringIO()
    call_command("predictions_rerun", "--json", stdout=out, stderr=io.StringIO())
    report = json.loads(out.getvalue())
    summary = report["summary"]
    assert (summary["images_run"], summary["succeeded"], summary["failed"]) == (N_IMAGES + 1, N_IMAGES + 1, 0)
    for image in stored:
        versions = dict(Prediction.objects.filter(image=image).values_list("model_version", "status"))
        assert versions == {first.identifier: "succeeded", second.identifier: "succeeded"}
    assert {
        p.image_id: (p.top_class, p.malignancy_risk) for p in Prediction.objects.filter(model_version=first.identifier)
    } == first_results  # the old results are untouched
    assert Prediction.objects.get(image=stored[1], model_version=second.identifier).probabilities == pytest.approx(
        _expected(second_dir, stored[1]), abs=1e-5
    )

    # The reported differences are the stored ones, counted by hand.
    from predictions.interpretation import risk_band

    changed_class, changed_band = set(), set()
    for image in stored:
        old = Prediction.objects.get(image=image, model_version=first.identifier)
        new = Prediction.objects.get(image=image, model_version=second.identifier)
        if old.top_class != new.top_class:
            changed_class.add(image.pk)
        if risk_band(old.malignancy_risk).key != risk_band(new.malignancy_risk).key:
            changed_band.add(image.pk)
    assert summary["compared"] == N_IMAGES  # the late image has no result of the first version
    assert summary["top_class_changed"] == len(changed_class)
    assert summary["band_changed"] == len(changed_band)
    assert summary["unchanged"] == N_IMAGES - len(changed_class | changed_band)
    assert {row["image_id"] for row in report["changed"]} == changed_class | changed_band

    # Exactly the changed images are queued for review because the versions disagree.
    disagreeing = set(
        ReviewCase.objects.filter(reasons__code=ReviewReason.VERSION_DISAGREEMENT).values_list("image_id", flat=True)
    )
    assert disagreeing == changed_class | changed_band
    assert summary["cases_queued"] == len(disagreeing)
    for case in ReviewCase.objects.filter(reasons__code=ReviewReason.VERSION_DISAGREEMENT):
        detail = case.reasons.get(code=ReviewReason.VERSION_DISAGREEMENT).detail
        assert (detail["from_version"], detail["to_version"]) == (first.identifier, second.identifier)
        assert detail["from_top_class"] == first_results[case.image_id][0]
    print(f"\n{first.identifier} -> {second.identifier}: {summary}")

    # A second re-run has nothing left to do; the worker now runs the new version.
    out = io.StringIO()
    call_command("predictions_rerun", "--json", stdout=out, stderr=io.StringIO())
    assert json.loads(out.getvalue())["summary"]["images_run"] == 0
    newest = _upload(staff, {**images[0], "data": jpeg_bytes(seed=99, size=(300, 225)), "name": "new.jpg"})
    _run_queued_like_a_worker()
    assert Prediction.objects.get(image=newest).model_version == second.identifier
    assert inference._classifier.version == second.identifier
    assert prediction_version_diff(to_version=second.identifier).summary()["compared"] == N_IMAGES


def test_the_database_allows_one_active_version(operator, two_model_dirs):
    first, _ = model_version_register(actor=operator, model_dir=two_model_dirs[0])
    second, _ = model_version_register(actor=operator, model_dir=two_model_dirs[1])
    assert first.is_active and not second.is_active
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=second.pk).update(is_active=True)


def test_weights_changed_on_disk_are_refused_and_a_version_names_one_set_of_weights(operator, two_model_dirs, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(two_model_dirs[1], copy)
    config = json.loads((copy / "config.json").read_text())
    config["version"] = "9.9.9-copy"
    (copy / "config.json").write_text(json.dumps(config))
    model_version_register(actor=operator, model_dir=two_model_dirs[1])
    copied, created = model_version_register(actor=operator, model_dir=copy)
    assert created and not copied.is_active
    assert model_version_register(actor=operator, model_dir=copy) == (copied, False)  # idempotent

    with (copy / "weights.weights.h5").open("ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ValidationError, match="weights changed since registration"):
        model_version_activate(actor=operator, model_version=copied)
    copied.refresh_from_db()
    assert not copied.is_active
    config.pop("weights_sha256")
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValidationError, match="already registered with other weights"):
        model_version_register(actor=operator, model_dir=copy)


def test_only_operators_change_the_registry(staff, two_model_dirs):
    for user in (staff.admin, staff.reviewer, staff.clinician):
        with pytest.raises(PermissionDenied):
            model_version_register(actor=user, model_dir=two_model_dirs[1])
    assert not ModelVersion.objects.exists()


def test_an_empty_registry_falls_back_to_the_configured_model(settings, two_model_dirs):
    from mlcore.modeldir import read_config

    settings.SKINCLINIC_MODEL_DIR = str(two_model_dirs[1])
    config = read_config(two_model_dirs[1])
    assert inference.model_version() == f"{config['name']}:{config['version']}"
    assert inference.classifier_get().version == inference.model_version()


def test_a_versions_files_are_its_registered_directory_or_else_the_shipped_model(operator, two_model_dirs):
    from mlcore.modeldir import SHIPPED_MODEL_DIR

    registered, _ = model_version_register(actor=operator, model_dir=two_model_dirs[0])
    assert registered.files_dir == Path(two_model_dirs[0]).resolve()
    assert inference.classifier_get(registered.identifier).version == registered.identifier
    assert ModelVersion(model_dir="").files_dir == SHIPPED_MODEL_DIR


def test_the_sweep_moves_work_left_queued_for_a_version_no_longer_active(staff, django_capture_on_commit_callbacks):
    from predictions.tasks import predictions_sweep_task
    from tests.predictions.factories import PredictionFactory

    ModelVersion.objects.create(
        name="new", version="2", checksum="c" * 64, is_active=True, activated_at="2026-01-01T00:00:00Z"
    )
    stranded = PredictionFactory(image__lesion=staff.lesion, model_version="old:1")  # e.g. released after activation
    already = PredictionFactory(image__lesion=staff.lesion, model_version="old:1")
    PredictionFactory(
        image=already.image,
        model_version="new:2",
        status=PredictionStatus.SUCCEEDED,
        probabilities={"nv": 1.0},
        top_class="nv",
        malignancy_risk=0.0,
        finished_at=already.queued_at,
        heatmap_status="unavailable",
    )  # no heatmap for the sweep to send as well
    with django_capture_on_commit_callbacks() as callbacks:
        predictions_sweep_task.apply()
    stranded.refresh_from_db(), already.refresh_from_db()
    assert (stranded.model_version, stranded.status) == ("new:2", PredictionStatus.QUEUED)
    assert (already.model_version, already.status) == ("old:1", PredictionStatus.FAILED)
    assert "Superseded" in already.error
    assert len(callbacks) == 1
    assert AuditEvent.objects.filter(action="prediction.retargeted", target_id=str(stranded.pk)).exists()
