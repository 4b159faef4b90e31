"""The referral threshold: a sensitivity-first operating point on malignancy risk (mel + bcc + akiec).

Chosen on val as the highest threshold at which the model still flags at least `target` of val's
malignant lesions; sensitivity and specificity at it come with 95% intervals from a bootstrap that
resamples lesions (the images of one lesion are not independent).
"""

from __future__ import annotations

import numpy as np

from .labels import CLASSES, MALIGNANT_CLASSES
from .metrics import malignancy_risk

TARGET_SENSITIVITY = 0.95
_MALIGNANT = [CLASSES.index(c) for c in MALIGNANT_CLASSES]
_MEL = CLASSES.index("mel")


def referral_threshold(labels: np.ndarray, probs: np.ndarray, target: float = TARGET_SENSITIVITY) -> float:
    """The highest risk threshold t with sensitivity(risk >= t) >= target on these images."""
    risk = malignancy_risk(np.asarray(probs))
    positives = np.sort(risk[np.isin(labels, _MALIGNANT)])[::-1]
    if not len(positives):
        raise ValueError("no malignant images: a referral threshold needs some")
    # Flagging the k highest-risk malignant images needs t <= the k-th highest risk.
    needed = int(np.ceil(target * len(positives)))
    return float(positives[needed - 1])


def _rates(labels: np.ndarray, risk: np.ndarray, threshold: float) -> dict[str, float | None]:
    refer = risk >= threshold
    malignant = np.isin(labels, _MALIGNANT)
    melanoma = labels == _MEL

    def share(mask, flagged):
        return float((refer[mask] == flagged).mean()) if mask.any() else None

    return {
        "malignant_sensitivity": share(malignant, True),
        "malignant_specificity": share(~malignant, False),
        "melanoma_sensitivity": share(melanoma, True),
        "melanoma_specificity": share(~melanoma, False),
        "referral_rate": float(refer.mean()),
    }


def operating_point(
    labels: np.ndarray, probs: np.ndarray, threshold: float, groups=None, n_boot: int = 1000, seed: int = 0
) -> dict:
    """Sensitivity and specificity (malignant and melanoma) and referral rate at `threshold`, each with a
    95% interval from a bootstrap over `groups` (lesion ids; each image its own group when None)."""
    labels = np.asarray(labels)
    risk = malignancy_risk(np.asarray(probs))
    point = _rates(labels, risk, threshold)
    groups = np.asarray(groups if groups is not None else np.arange(len(labels)), dtype=object)
    keys, inverse = np.unique(groups.astype(str), return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(keys))]
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(n_boot):
        index = np.concatenate([members[k] for k in rng.integers(0, len(keys), len(keys))])
        for key, value in _rates(labels[index], risk[index], threshold).items():
            if value is not None:
                samples[key].append(value)
    result: dict = {
        "threshold": float(threshold),
        "target_sensitivity": TARGET_SENSITIVITY,
        "n_images": int(len(labels)),
        "n_lesions": int(len(keys)),
    }
    for key, value in point.items():
        result[key] = value
        result[f"{key}_ci95"] = (
            [float(np.percentile(samples[key], 2.5)), float(np.percentile(samples[key], 97.5))]
            if samples[key]
            else None
        )
    return result
