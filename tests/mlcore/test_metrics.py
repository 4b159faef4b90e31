import numpy as np
import pytest

from mlcore.calibration import fit_temperature, softmax
from mlcore.labels import CLASSES
from mlcore.metrics import compute_metrics, expected_calibration_error, label_agreement

AKIEC, BCC, BKL, DF, MEL, NV, VASC = range(7)


def one_hot_probs(predicted, confidence):
    """Rows putting `confidence` on the predicted class and the rest evenly on the others."""
    probs = np.full((len(predicted), 7), 0.0)
    for row, (k, c) in enumerate(zip(predicted, confidence)):
        probs[row] = (1 - c) / 6
        probs[row, k] = c
    return probs


def test_accuracy_balanced_accuracy_and_confusion_match_hand_counts():
    labels = np.array([NV, NV, NV, NV, MEL, MEL, BCC])
    predicted = [NV, NV, NV, MEL, MEL, NV, BCC]
    metrics = compute_metrics(labels, one_hot_probs(predicted, [0.9] * 7))
    assert metrics["n_images"] == 7
    assert metrics["accuracy"] == pytest.approx(5 / 7)
    # recalls: nv 3/4, mel 1/2, bcc 1/1; classes without support do not count
    assert metrics["balanced_accuracy"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert metrics["confusion_matrix"][NV][NV] == 3 and metrics["confusion_matrix"][NV][MEL] == 1
    assert metrics["confusion_matrix"][MEL][NV] == 1
    mel = metrics["per_class"]["mel"]
    assert mel["precision"] == pytest.approx(1 / 2) and mel["recall"] == pytest.approx(1 / 2)
    assert mel["f1"] == pytest.approx(0.5) and mel["support"] == 2
    assert metrics["per_class"]["df"]["auc"] is None and metrics["per_class"]["df"]["support"] == 0


def test_aucs_match_hand_computed_pairs():
    labels = np.array([MEL, MEL, NV, NV, BCC])
    probs = np.zeros((5, 7))
    # mel scores: positives 0.8, 0.4; negatives 0.5, 0.1, 0.2 -> pairs won: 3 + 2 of 6 -> 5/6
    probs[:, MEL] = [0.8, 0.4, 0.5, 0.1, 0.2]
    probs[:, BCC] = [0.0, 0.0, 0.0, 0.0, 0.7]
    probs[:, NV] = 1 - probs.sum(axis=1)
    metrics = compute_metrics(labels, probs)
    assert metrics["melanoma_auc"] == pytest.approx(5 / 6)
    # malignant risk = mel + bcc + akiec: positives 0.8, 0.4, 0.7 vs negatives 0.5, 0.1 -> 5 of 6 pairs
    assert metrics["malignant_auc"] == pytest.approx(5 / 6)


def test_ece_matches_a_hand_computed_value():
    labels = np.array([NV, NV, NV, NV, MEL])
    # Four at confidence 0.9 (3 right) and one at 0.6 (right): |0.75-0.9|*4/5 + |1-0.6|*1/5
    probs = one_hot_probs([NV, NV, NV, MEL, MEL], [0.9, 0.9, 0.9, 0.9, 0.6])
    assert expected_calibration_error(labels, probs) == pytest.approx(0.15 * 0.8 + 0.4 * 0.2)


def test_a_perfectly_calibrated_model_has_near_zero_ece():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (20000, 7))
    probs = softmax(logits)
    labels = np.array([rng.choice(7, p=p) for p in probs])
    assert expected_calibration_error(labels, probs) < 0.02


def test_temperature_scaling_recovers_the_temperature_that_generated_the_labels():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (20000, len(CLASSES)))
    labels = np.array([rng.choice(7, p=p) for p in softmax(logits, 2.5)])
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.05)
    overconfident = expected_calibration_error(labels, softmax(logits))
    calibrated = expected_calibration_error(labels, softmax(logits, fit_temperature(logits, labels)))
    assert calibrated < overconfident / 3


def test_nll_is_the_mean_negative_log_probability_of_the_true_class():
    labels = np.array([NV, MEL, BCC])
    probs = one_hot_probs([NV, NV, BCC], [0.8, 0.7, 0.5])
    # true-class probabilities: 0.8, (1 - 0.7) / 6, 0.5
    expected = -np.mean(np.log([0.8, 0.3 / 6, 0.5]))
    assert compute_metrics(labels, probs)["nll"] == pytest.approx(expected)


def test_a_class_never_predicted_has_zero_precision_and_f1_and_one_never_present_has_no_recall():
    labels = np.array([NV, NV, MEL])
    metrics = compute_metrics(labels, one_hot_probs([NV, NV, NV], [0.9] * 3))
    mel = metrics["per_class"]["mel"]
    assert mel["precision"] == 0.0 and mel["recall"] == 0.0 and mel["f1"] == 0.0 and mel["support"] == 1
    assert metrics["per_class"]["nv"]["precision"] == pytest.approx(2 / 3)
    assert metrics["per_class"]["bcc"]["recall"] is None
    assert metrics["balanced_accuracy"] == pytest.approx((1.0 + 0.0) / 2)
    assert all(isinstance(n, int) for row in metrics["confusion_matrix"] for n in row)


def test_label_agreement_counts_class_name_pairs_by_hand_and_gives_no_recall_without_support():
    agreement = label_agreement(["mel", "mel", "nv", "nv", "bcc"], ["mel", "nv", "nv", "mel", "bcc"])
    assert agreement["agreed"] == 3
    matrix = agreement["confusion_matrix"]
    assert matrix[MEL][MEL] == 1 and matrix[MEL][NV] == 1 and matrix[NV][MEL] == 1 and matrix[BCC][BCC] == 1
    assert sum(map(sum, matrix)) == 5 and all(isinstance(n, int) for row in matrix for n in row)
    assert agreement["per_class"]["mel"] == {"support": 2, "correct": 1, "recall": 0.5}
    assert agreement["per_class"]["df"] == {"support": 0, "correct": 0, "recall": None}


def test_label_agreement_of_no_pairs_is_all_zero():
    agreement = label_agreement([], [])
    assert agreement["agreed"] == 0 and agreement["confusion_matrix"] == [[0] * 7 for _ in range(7)]
    assert all(figures == {"support": 0, "correct": 0, "recall": None} for figures in agreement["per_class"].values())
