import io
import json

import numpy as np
import pytest
from PIL import Image

from mlcore import Classifier, LesionInput
from mlcore.data import read_dataset
from mlcore.errors import ImageError, ModelError
from mlcore.evaluate import evaluate
from mlcore.labels import CLASSES
from mlcore.modeldir import read_config


def test_training_writes_a_complete_calibrated_model_directory(tiny_model_dir):
    config = read_config(tiny_model_dir)
    assert config["version"] == "0.0.1-test" and config["temperature"] > 0
    for name in ("MODEL_CARD.md", "metrics.json", "confusion_matrix.png", "roc_curves.png", "reliability.png"):
        assert (tiny_model_dir / name).is_file(), name
    card = (tiny_model_dir / "MODEL_CARD.md").read_text()
    assert "not a diagnosis" in card and "CC BY-NC-SA 4.0" in card
    metrics = json.loads((tiny_model_dir / "metrics.json").read_text())
    assert metrics["split"] == "val" and metrics["n_images"] == 14


def test_served_prediction_equals_the_evaluation_path(tiny_model_dir, tmp_path, dataset_dir):
    classifier = Classifier.load(tiny_model_dir)
    dataset = read_dataset(dataset_dir)
    served = classifier.predict([r.as_input() for r in dataset.records])
    metrics = evaluate(dataset_dir, tmp_path / "eval", model_dir=tiny_model_dir, show_progress=False)
    served_probs = np.array([[r.probabilities[c] for c in CLASSES] for r in served])
    from mlcore.data import load_arrays

    arrays = load_arrays(dataset, classifier.image_size, show_progress=False)
    np.testing.assert_allclose(served_probs, classifier.probabilities(arrays.images, arrays.meta), atol=1e-6)
    predicted = served_probs.argmax(axis=1)
    assert metrics["accuracy"] == pytest.approx(float((predicted == dataset.labels()).mean()))


def test_prediction_result_is_consistent(tiny_model_dir, dataset_dir):
    classifier = Classifier.load(tiny_model_dir)
    image = next((dataset_dir / "images").glob("*.jpg"))
    [result] = classifier.predict([LesionInput(image=image, age=40, sex="male", site="back")], heatmap=True)
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert result.top_class == max(result.probabilities, key=result.probabilities.get)
    assert result.malignancy_risk == pytest.approx(sum(result.probabilities[c] for c in ("mel", "bcc", "akiec")))
    assert result.model_version == "skinclinic-ham10000-cnn:0.0.1-test"
    assert result.heatmap.shape == (32, 32) and 0 <= result.heatmap.min() <= result.heatmap.max() <= 1
    assert Image.open(io.BytesIO(result.heatmap_png)).format == "PNG"


def test_a_batch_with_an_unreadable_image_raises_image_error(tiny_model_dir):
    classifier = Classifier.load(tiny_model_dir)
    with pytest.raises(ImageError):
        classifier.predict([LesionInput(image=b"not an image")])


def test_loading_a_directory_that_is_not_a_model_fails_clearly(tmp_path):
    with pytest.raises(ModelError, match="not a model directory"):
        Classifier.load(tmp_path)


def test_test_time_views_are_the_eight_distinct_symmetries_of_the_square():
    from mlcore.classifier import _dihedral_views

    x = np.arange(2 * 3 * 3 * 1).reshape(2, 3, 3, 1)
    views = _dihedral_views(x, 8)
    assert len({v[0].tobytes() for v in views}) == 8
    assert np.array_equal(views[0], x) and len(_dihedral_views(x, 4)) == 4
