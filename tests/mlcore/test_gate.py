"""The gate refuses images the model must not judge, says why, and lets dermoscopic lesions through."""

import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from mlcore import LesionInput
from mlcore.gate import EmbeddingGate, quality_reasons
from mlcore.preprocess import preprocess_image

from .conftest import lesion_image


def _codes(image, source_size=None):
    return [r["code"] for r in quality_reasons(preprocess_image(image, (96, 128)), source_size or image.size)]


def test_a_lesion_photo_passes_the_quality_checks():
    assert _codes(lesion_image(4, seed=1, size=(600, 450))) == []


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda img: Image.eval(img, lambda v: v // 20), "too_dark"),
        (lambda img: Image.eval(img, lambda v: min(255, v * 3 + 100)), "overexposed"),
        (lambda img: Image.new("RGB", img.size, (200, 150, 130)), "no_detail"),
        (lambda img: img.filter(ImageFilter.GaussianBlur(20)), "out_of_focus"),
        (lambda img: img.resize((40, 30)), "too_small"),
    ],
)
def test_unusable_photos_are_refused_with_their_reason(make, code):
    assert code in _codes(make(lesion_image(4, seed=1, size=(600, 450))))


def test_each_reason_has_a_message_a_clinician_can_read():
    [reason] = quality_reasons(
        preprocess_image(Image.new("RGB", (40, 30), (200, 150, 130)).filter(ImageFilter.GaussianBlur(1)), (96, 128)),
        (40, 30),
    )[:1]
    assert reason["code"] == "too_small" and "40x30" in reason["message"]


def test_embedding_gate_threshold_lets_the_val_quantile_through_and_refuses_far_points(tmp_path):
    rng = np.random.default_rng(0)
    train, val = rng.normal(0, 1, (500, 8)), rng.normal(0, 1, (200, 8))
    gate = EmbeddingGate.fit(train, val, 0.98)
    assert (gate.distances(val) > gate.threshold).mean() == pytest.approx(0.02, abs=0.011)
    assert (gate.distances(rng.normal(6, 1, (50, 8))) > gate.threshold).all()
    gate.save(tmp_path)
    again = EmbeddingGate.load(tmp_path)
    assert again.threshold == gate.threshold and np.allclose(again.distances(val), gate.distances(val))
    assert EmbeddingGate.load(tmp_path / "none") is None


def test_a_trained_model_ships_its_gate_and_threshold_and_reports_them(tiny_model_dir):
    from mlcore import Classifier

    config = json.loads((tiny_model_dir / "config.json").read_text())
    metrics = json.loads((tiny_model_dir / "metrics.json").read_text())
    assert (tiny_model_dir / "gate.npz").is_file() and config["gate"]["threshold"] > 0
    assert 0 < config["operating_point"]["threshold"] <= 1
    assert metrics["operating_point"]["threshold"] == config["operating_point"]["threshold"]
    assert 0 <= metrics["assessable_rate"] <= 1
    assert {"not_skin", "unusable"} <= set(metrics["gate"])
    classifier = Classifier.load(tiny_model_dir)
    [blank, lesion] = classifier.predict(
        [LesionInput(image=Image.new("RGB", (600, 450), (0, 0, 255))), LesionInput(image=lesion_image(4, seed=2))]
    )
    assert blank.assessable is False and blank.refer is None and blank.reasons
    assert sum(blank.probabilities.values()) == pytest.approx(1.0)  # still computed, never hidden
    assert lesion.referral_threshold == config["operating_point"]["threshold"]
    assert lesion.refer is None or lesion.refer == (lesion.malignancy_risk >= lesion.referral_threshold)
    assert not (tiny_model_dir / "resume").exists()  # a finished run leaves only what ships
