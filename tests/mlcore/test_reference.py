"""The similar-cases index, built with the shipped model over a small HAM10000-layout directory."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from mlcore import Classifier, LesionInput
from mlcore.cli import main
from mlcore.reference import (
    CONFIRMATIONS,
    ReferenceIndex,
    ReferenceIndexMismatch,
    ReferenceIndexMissing,
    build_index,
    index_dirname,
)

from .conftest import write_dataset


@pytest.fixture(scope="module")
def shipped():
    return Classifier.load()


@pytest.fixture(scope="module")
def reference(shipped, tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    data = write_dataset(root / "data")
    # Vary how each diagnosis was confirmed, as HAM10000 does.
    rows = list(csv.DictReader((data / "metadata.csv").open()))
    for i, row in enumerate(rows):
        row["dx_type"] = list(CONFIRMATIONS)[i % 4]
    with (data / "metadata.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    path = build_index(shipped, data, root / "out", show_progress=False)
    return data, rows, path


def test_index_holds_every_training_image_with_its_diagnosis_confirmation_and_thumbnail(reference, shipped):
    data, rows, path = reference
    assert path.name == index_dirname(shipped.version) == "skinclinic-ham10000-cnn-2.0.0"
    index = ReferenceIndex.load(path, model_version=shipped.version)
    train = {r["image_id"]: r for r in rows if r["split"] == "train"}
    assert sorted(c.image_id for c in index.cases) == sorted(train)
    for case in index.cases:
        assert (case.dx, case.dx_type) == (train[case.image_id]["dx"], train[case.image_id]["dx_type"])
        with Image.open(index.thumbnail_path(case.image_id)) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) <= 192
    assert index.info["weights_sha256"] == shipped.checksum
    assert index.embeddings.shape == (len(train), 1280)
    assert np.allclose(np.linalg.norm(index.embeddings, axis=1), 1.0, atol=1e-5)


def test_the_embedding_of_a_prediction_finds_its_own_image_first(reference, shipped):
    data, rows, path = reference
    index = ReferenceIndex.load(path, model_version=shipped.version)
    row = next(r for r in rows if r["split"] == "train" and r["dx"] == "mel")
    [result] = shipped.predict(
        [
            LesionInput(
                image=next((data / "images").glob(row["image_id"] + ".*")),
                age=float(row["age"]) if row["age"] else None,
                sex=row["sex"],
                site=row["localization"],
            )
        ]
    )
    [neighbours] = index.query(result.embedding, k=6)
    assert neighbours[0].case.image_id == row["image_id"]
    assert neighbours[0].similarity > 0.999
    assert [n.rank for n in neighbours] == [1, 2, 3, 4, 5, 6]
    similarities = [n.similarity for n in neighbours]
    assert similarities == sorted(similarities, reverse=True) and similarities[-1] < similarities[0]
    # Two photographs of one lesion are one case to compare with.
    lesions = [n.case.lesion_id for n in neighbours]
    assert len(set(lesions)) == len(lesions) == 6


def test_an_index_refuses_another_model_version_or_other_weights(reference, shipped, tmp_path):
    _, _, path = reference
    with pytest.raises(ReferenceIndexMismatch, match="built with skinclinic-ham10000-cnn:2.0.0"):
        ReferenceIndex.load(path, model_version="skinclinic-ham10000-cnn:1.2.0")
    with pytest.raises(ReferenceIndexMismatch, match="other weights"):
        ReferenceIndex.load(path, model_version=shipped.version, weights_sha256="0" * 64)
    with pytest.raises(ReferenceIndexMissing):
        ReferenceIndex.load(tmp_path / "nothing-here", model_version=shipped.version)
    index = ReferenceIndex.load(path)
    with pytest.raises(ReferenceIndexMismatch, match="width"):
        index.query(np.ones((1, 64), dtype=np.float32))


def test_thumbnail_path_answers_only_for_cases_of_the_index(reference):
    _, _, path = reference
    index = ReferenceIndex.load(path)
    assert index.thumbnail_path("../index") is None
    assert index.thumbnail_path("ISIC_unknown") is None


def test_cli_builds_the_index_of_a_split_skipping_an_unreadable_image_and_replaces_the_old_one(
    shipped, tmp_path, capsys
):
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "reference"
    assert main(["reference", "--data", str(data), "--out", str(out), "--split", "val", "--quiet"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["model_version"] == shipped.version and first["split"] == "val"
    assert first["index"] == str(out / index_dirname(shipped.version))
    val = [r for r in csv.DictReader((data / "metadata.csv").open()) if r["split"] == "val"]
    assert first["count"] == len(val)

    broken = next((data / "images").glob(val[0]["image_id"] + ".*"))
    broken.write_bytes(b"not an image")
    assert main(["reference", "--data", str(data), "--out", str(out), "--split", "all", "--quiet"]) == 0
    captured = capsys.readouterr()
    second = json.loads(captured.out)
    assert f"skipped {val[0]['image_id']}" in captured.err
    assert second["count"] == 7 * 8 - 1 and second["split"] is None
    # Rebuilt in place: one index per model version, no half-built folder left beside it.
    assert [p.name for p in out.iterdir()] == [index_dirname(shipped.version)]
    assert ReferenceIndex.load(out / index_dirname(shipped.version)).info["count"] == second["count"]


def test_cli_says_what_is_wrong_with_a_directory_without_the_split(tmp_path, capsys):
    data = write_dataset(tmp_path / "data")
    assert main(["reference", "--data", str(data), "--out", str(tmp_path / "r"), "--split", "test", "--quiet"]) == 2
    assert "no images in split 'test'" in capsys.readouterr().err
