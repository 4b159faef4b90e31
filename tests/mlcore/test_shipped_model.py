"""The model that ships in the repository: it loads, and on HAM10000 val it reaches the acceptance floor."""
import json
from pathlib import Path

import pytest

from mlcore import Classifier
from mlcore.modeldir import SHIPPED_MODEL_DIR, weights_checksum

HAM10000 = Path(__file__).resolve().parents[2].parent / "shared" / "ham10000"


@pytest.fixture(scope="module")
def shipped():
    return Classifier.load()


def test_shipped_model_loads_with_its_card_and_checksum(shipped):
    assert shipped.version.startswith("skinclinic-ham10000-cnn:")
    assert shipped.checksum == weights_checksum(SHIPPED_MODEL_DIR)
    card = (SHIPPED_MODEL_DIR / "MODEL_CARD.md").read_text()
    assert "not a diagnosis" in card
    total = sum(f.stat().st_size for f in SHIPPED_MODEL_DIR.iterdir())
    assert total < 30 * 1024 * 1024


@pytest.mark.skipif(not (HAM10000 / "metadata.csv").is_file(),
                    reason="HAM10000 images not present at ../shared/ham10000")
def test_shipped_model_reaches_the_floor_on_val(shipped, tmp_path):
    from mlcore.evaluate import evaluate

    metrics = evaluate(HAM10000, tmp_path, split="val", show_progress=False, classifier=shipped)
    assert metrics["n_images"] == 1074
    assert metrics["balanced_accuracy"] >= 0.65
    assert metrics["melanoma_auc"] >= 0.88
    assert metrics["malignant_auc"] >= 0.88
    assert metrics["ece"] <= 0.06
    # The card's figures are the ones this evaluation gives.
    card_metrics = json.loads((SHIPPED_MODEL_DIR / "metrics.json").read_text())
    assert card_metrics["balanced_accuracy"] == pytest.approx(metrics["balanced_accuracy"], abs=1e-6)
