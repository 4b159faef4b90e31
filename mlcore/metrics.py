"""Classification metrics for a set of predicted probabilities against true labels."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

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
        {"low": float(edges[b]), "high": float(edges[b + 1]), "count": int((bins == b).sum()),
         "confidence": float(confidence[bins == b].mean()) if (bins == b).any() else None,
         "accuracy": float(correct[bins == b].mean()) if (bins == b).any() else None}
        for b in range(n_bins)
    ]


def malignancy_risk(probs: np.ndarray) -> np.ndarray:
    return probs[:, [CLASSES.index(c) for c in MALIGNANT_CLASSES]].sum(axis=1)


def compute_metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Every figure evaluate reports; `labels` are class indices, `probs` rows sum to 1."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    predicted = probs.argmax(axis=1)
    n_classes = len(CLASSES)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)

    per_class, recalls, aucs = {}, [], []
    for k, name in enumerate(CLASSES):
        support = int(confusion[k].sum())
        tp = int(confusion[k, k])
        predicted_k = int(confusion[:, k].sum())
        precision = tp / predicted_k if predicted_k else 0.0
        recall = tp / support if support else None
        f1 = (2 * precision * recall / (precision + recall)) if recall and precision else 0.0
        auc = _auc(labels == k, probs[:, k])
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "auc": auc, "support": support}
        if recall is not None:
            recalls.append(recall)
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
        "nll": float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)))),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "classes": list(CLASSES),
    }
