"""Evaluation plots as PNG: confusion matrix, one-vs-rest ROC curves, reliability diagram."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .labels import CLASSES, MALIGNANT_CLASSES
from .metrics import malignancy_risk, reliability_bins


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(confusion: np.ndarray, path: Path) -> None:
    plt = _pyplot()
    confusion = np.asarray(confusion)
    normalised = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(CLASSES)), CLASSES)
    ax.set_yticks(range(len(CLASSES)), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (row-normalised, counts shown)")
    for i in range(len(CLASSES)):
        for j in range(len(CLASSES)):
            ax.text(
                j,
                i,
                str(confusion[i, j]),
                ha="center",
                va="center",
                color="white" if normalised[i, j] > 0.5 else "black",
                fontsize=8,
            )
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_roc_curves(labels: np.ndarray, probs: np.ndarray, path: Path) -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    curves = [(name, labels == k, probs[:, k]) for k, name in enumerate(CLASSES)]
    malignant = np.isin(labels, [CLASSES.index(c) for c in MALIGNANT_CLASSES])
    curves.append(("malignant", malignant, malignancy_risk(probs)))
    for name, positive, score in curves:
        if positive.any() and not positive.all():
            fpr, tpr, _ = roc_curve(positive, score)
            style = "--" if name == "malignant" else "-"
            ax.plot(fpr, tpr, style, label=f"{name} (AUC {roc_auc_score(positive, score):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC, one class vs rest")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(labels: np.ndarray, probs: np.ndarray, ece: float, path: Path) -> None:
    plt = _pyplot()
    bins = [b for b in reliability_bins(labels, probs) if b["count"]]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, label="perfect calibration")
    ax.bar(
        [b["low"] for b in bins],
        [b["accuracy"] for b in bins],
        width=1 / 15,
        align="edge",
        edgecolor="black",
        alpha=0.7,
        label="accuracy",
    )
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="C3", label="bin mean")
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability diagram (ECE {ece:.3f})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(labels: np.ndarray, probs: np.ndarray, metrics: dict, out: Path) -> list[Path]:
    paths = [out / "confusion_matrix.png", out / "roc_curves.png", out / "reliability.png"]
    plot_confusion_matrix(np.array(metrics["confusion_matrix"]), paths[0])
    plot_roc_curves(labels, probs, paths[1])
    plot_reliability(labels, probs, metrics["ece"], paths[2])
    return paths
