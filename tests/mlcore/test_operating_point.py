"""The referral threshold is the highest at which the model still finds the target share of malignant lesions."""

import numpy as np
import pytest

from mlcore.labels import CLASSES
from mlcore.operating_point import operating_point, referral_threshold

MEL, NV, BCC = CLASSES.index("mel"), CLASSES.index("nv"), CLASSES.index("bcc")


def _probs(risks):
    """Rows whose malignancy risk (mel) is each given value, the rest nv."""
    probs = np.zeros((len(risks), len(CLASSES)))
    probs[:, MEL] = risks
    probs[:, NV] = 1 - np.asarray(risks)
    return probs


def test_threshold_is_the_highest_that_still_flags_95_percent_of_malignant_images():
    rng = np.random.default_rng(0)
    labels = np.array([MEL] * 40 + [BCC] * 20 + [NV] * 200)
    risks = np.concatenate([rng.uniform(0.2, 1.0, 60), rng.uniform(0.0, 0.6, 200)])
    probs = _probs(risks)
    threshold = referral_threshold(labels, probs)
    malignant_risks = risks[:60]
    assert (malignant_risks >= threshold).mean() >= 0.95
    # Any higher threshold (the next malignant risk up) misses more than 5%.
    higher = np.sort(malignant_risks)[np.searchsorted(np.sort(malignant_risks), threshold) + 1]
    assert (malignant_risks >= higher).mean() < 0.95


def test_operating_point_reports_rates_with_intervals_that_contain_them():
    rng = np.random.default_rng(1)
    labels = np.array([MEL] * 50 + [NV] * 150)
    risks = np.concatenate([rng.uniform(0.3, 1.0, 50), rng.uniform(0.0, 0.5, 150)])
    lesions = [f"L{i // 2}" for i in range(200)]  # two images per lesion, resampled together
    point = operating_point(labels, _probs(risks), 0.35, groups=lesions, n_boot=200)
    assert point["malignant_sensitivity"] == pytest.approx((risks[:50] >= 0.35).mean())
    assert point["malignant_specificity"] == pytest.approx((risks[50:] < 0.35).mean())
    assert point["melanoma_sensitivity"] == point["malignant_sensitivity"]
    assert point["n_lesions"] == 100 and point["threshold"] == 0.35
    for key in ("malignant_sensitivity", "malignant_specificity", "referral_rate"):
        low, high = point[f"{key}_ci95"]
        assert low <= point[key] <= high and low < high


def test_a_set_without_malignant_images_has_no_threshold():
    with pytest.raises(ValueError):
        referral_threshold(np.array([NV, NV]), _probs([0.1, 0.2]))
