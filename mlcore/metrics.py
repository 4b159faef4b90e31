"""Classification metrics for a set of predicted probabilities against true labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, log_loss, precision_recall_fscore_support, roc_auc_score

from .labels import CLASSES, MALIGNANT_CLASSES


def _auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC, or None when only one kind of label is present (it is undefined then)."""
    if positive.all() or not positive.any():
        return None
    return float(roc_auc_score(positive, score))


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE: the gap between confidence and accuracy, averaged over equal-width bins."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin i holds confidences in (edges[i], edges[i+1]]; a confidence of exactly 0 goes to bin 0.
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def reliability_bins(labels: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> list[dict]:
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    return [
        {
            "low": float(edges[b]),
            "high": float(edges[b + 1]),
            "count": int((bins == b).sum()),
            "confidence": float(confidence[bins == b].mean()) if (bins == b).any() else None,
            "accuracy": float(correct[bins == b].mean()) if (bins == b).any() else None,
        }
        for b in range(n_bins)
    ]


def malignancy_risk(probs: np.ndarray) -> np.ndarray:
    return probs[:, [CLASSES.index(c) for c in MALIGNANT_CLASSES]].sum(axis=1)


def label_agreement(truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str] = CLASSES) -> dict:
    """How predicted class names agree with the true ones, pair by pair: `confusion_matrix` (rows the true class,
    columns the predicted one, both in `classes` order; all zeros for no pairs), `agreed` (pairs that match) and
    `per_class` (each class's `support` in `truth`, `correct` predictions of it and `recall`, None without support).
    Plain Python numbers, ready for JSON."""
    labels = list(classes)
    if len(truth):
        confusion = confusion_matrix(list(truth), list(predicted), labels=labels)
    else:  # scikit-learn refuses an empty sample; the figures of none are all zero
        confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    support, correct = confusion.sum(axis=1).tolist(), np.diag(confusion).tolist()
    return {
        "confusion_matrix": confusion.tolist(),
        "agreed": int(sum(correct)),
        "per_class": {
            name: {
                "support": support[k],
                "correct": correct[k],
                "recall": correct[k] / support[k] if support[k] else None,
            }
            for k, name in enumerate(labels)
        },
    }


def compute_metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Every figure evaluate reports; `labels` are class indices, `probs` rows sum to 1."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    predicted = probs.argmax(axis=1)
    indices = list(range(len(CLASSES)))
    confusion = confusion_matrix(labels, predicted, labels=indices)
    # A class never predicted has precision 0 (and F1 0), not a warning.
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=indices, zero_division=0)

    per_class, recalls, aucs = {}, [], []
    for k, name in enumerate(CLASSES):
        # Recall is undefined for a class absent from the labels: None, and it does not count towards the mean.
        class_recall = float(recall[k]) if support[k] else None
        auc = _auc(labels == k, probs[:, k])
        per_class[name] = {
            "precision": float(precision[k]),
            "recall": class_recall,
            "f1": float(f1[k]),
            "auc": auc,
            "support": int(support[k]),
        }
        if class_recall is not None:
            recalls.append(class_recall)
        if auc is not None:
            aucs.append(auc)

    malignant = np.isin(labels, [CLASSES.index(c) for c in MALIGNANT_CLASSES])
    return {
        "n_images": int(len(labels)),
        "accuracy": float((predicted == labels).mean()),
        "balanced_accuracy": float(np.mean(recalls)),
        "macro_auc": float(np.mean(aucs)) if aucs else None,
        "melanoma_auc": _auc(labels == CLASSES.index("mel"), probs[:, CLASSES.index("mel")]),
        "malignant_auc": _auc(malignant, malignancy_risk(probs)),
        "ece": expected_calibration_error(labels, probs),
        "nll": float(log_loss(labels, probs, labels=indices)),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "classes": list(CLASSES),
    }
