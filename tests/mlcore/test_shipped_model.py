"""The model that ships in the repository: it loads, and on HAM10000 val it reaches the acceptance floor."""
import json
from pathlib import Path

import pytest

from mlcore import Classifier
from mlcore.modeldir import SHIPPED_MODEL_DIR, weights_checksum

HAM10000 = Path(__file__).resolve().parents[2].parent / "shared" / "ham10000"
needs_ham10000 = pytest.mark.skipif(not (HAM10000 / "metadata.csv").is_file(),
                                    reason="HAM10000 images not present at ../shared/ham10000")


@pytest.fixture(scope="module")
def shipped():
    return Classifier.load()


@pytest.fixture(scope="module")
def val_metrics(shipped, tmp_path_factory):
    from mlcore.evaluate import evaluate

    return evaluate(HAM10000, tmp_path_factory.mktemp("val"), split="val", show_progress=False, classifier=shipped)


def test_shipped_model_loads_with_its_card_and_checksum(shipped):
    assert shipped.version.startswith("skinclinic-ham10000-cnn:")
    assert shipped.checksum == weights_checksum(SHIPPED_MODEL_DIR)
    card = (SHIPPED_MODEL_DIR / "MODEL_CARD.md").read_text()
    assert "not a diagnosis" in card and "CC BY-NC-SA 4.0" in card
    total = sum(f.stat().st_size for f in SHIPPED_MODEL_DIR.rglob("*") if f.is_file())
    assert total < 30 * 1024 * 1024


@needs_ham10000
def test_shipped_model_card_figures_are_what_evaluate_measures(val_metrics):
    assert val_metrics["n_images"] == 1074
    card_metrics = json.loads((SHIPPED_MODEL_DIR / "metrics.json").read_text())
    for key in ("balanced_accuracy", "melanoma_auc", "malignant_auc", "ece"):
        assert card_metrics[key] == pytest.approx(val_metrics[key], abs=1e-3), key


@needs_ham10000
@pytest.mark.parametrize("metric, floor", [("balanced_accuracy", 0.65), ("malignant_auc", 0.88)])
def test_shipped_model_reaches_the_floor_on_val(val_metrics, metric, floor):
    assert val_metrics[metric] >= floor


@needs_ham10000
@pytest.mark.xfail(strict=True, reason="known gap, issue 2 open: the shipped model's val melanoma AUC is 0.876, "
                                      "below the 0.88 floor (see MODEL_CARD.md); strict, so meeting it fails this mark")
def test_shipped_model_reaches_the_melanoma_auc_floor_on_val(val_metrics):
    assert val_metrics["melanoma_auc"] >= 0.88


@needs_ham10000
def test_shipped_model_is_calibrated_on_val(val_metrics):
    assert val_metrics["ece"] <= 0.06
