"""What a finished prediction means in plain words: the classes ranked, the risk band, and whether to doubt it.

Thresholds come from settings (SKINCLINIC_RISK_*, SKINCLINIC_UNCERTAIN_*) so a clinic can set them from
its own validation of the model; nothing here is hard-coded clinical policy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from mlcore import CLASS_NAMES, CLASSES, MALIGNANT_CLASSES

from ..models import Prediction, PredictionStatus


@dataclass(frozen=True)
class RiskBand:
    key: str  # low / intermediate / high: also the CSS modifier
    label: str
    explanation: str


BANDS = {
    "low": RiskBand("low", "Low", "The model finds little in this image that resembles melanoma, basal cell "
                                  "carcinoma or actinic keratosis. Weigh it with the history and examination."),
    "intermediate": RiskBand("intermediate", "Intermediate",
                             "Some features resemble a malignant or pre-malignant lesion. Consider a closer look, "
                             "dermoscopic follow-up or a second opinion."),
    "high": RiskBand("high", "High", "Many features resemble a malignant or pre-malignant lesion. Consider prompt "
                                     "specialist assessment."),
}


def risk_band(risk: float) -> RiskBand:
    """The plain-language band of a malignancy risk in [0, 1], by the thresholds in settings."""
    if risk >= settings.SKINCLINIC_RISK_HIGH_AT:
        return BANDS["high"]
    if risk >= settings.SKINCLINIC_RISK_INTERMEDIATE_AT:
        return BANDS["intermediate"]
    return BANDS["low"]


@dataclass(frozen=True)
class ClassProbability:
    code: str
    name: str
    probability: float
    malignant: bool
    is_top: bool

    @property
    def percent(self) -> float:
        return round(self.probability * 100, 1)

    @property
    def bar_width(self) -> str:
        # A string with a dot for the style attribute whatever the active locale.
        return f"{self.probability * 100:.1f}"


@dataclass(frozen=True)
class Interpretation:
    classes: list[ClassProbability]  # most probable first
    top: ClassProbability
    risk: float
    band: RiskBand
    entropy: float
    uncertain_reasons: list[str]

    @property
    def risk_percent(self) -> float:
        return round(self.risk * 100, 1)

    @property
    def uncertain(self) -> bool:
        return bool(self.uncertain_reasons)


def entropy_of(probabilities: dict[str, float]) -> float:
    """Shannon entropy in nats (0: certain; ln 7 = 1.95: every class equally likely)."""
    return -sum(p * math.log(p) for p in probabilities.values() if p > 0)


def prediction_interpret(prediction: Prediction) -> Interpretation | None:
    """The reading of a succeeded prediction; None while it is queued, running, or when it failed."""
    if prediction.status != PredictionStatus.SUCCEEDED or not prediction.probabilities:
        return None
    probabilities = {code: float(prediction.probabilities.get(code, 0.0)) for code in CLASSES}
    top_code = prediction.top_class or max(probabilities, key=probabilities.get)
    ranked = sorted(CLASSES, key=lambda code: (-probabilities[code], CLASSES.index(code)))
    classes = [ClassProbability(code, CLASS_NAMES[code], probabilities[code], code in MALIGNANT_CLASSES,
                                code == top_code) for code in ranked]
    top = next(c for c in classes if c.is_top)
    entropy = entropy_of(probabilities)
    reasons = []
    low_top = settings.SKINCLINIC_UNCERTAIN_TOP_PROBABILITY_BELOW
    if top.probability < low_top:
        reasons.append(f"The most likely class has only {top.percent:g}% probability "
                       f"(results below {low_top * 100:g}% are flagged).")
    high_entropy = settings.SKINCLINIC_UNCERTAIN_ENTROPY_ABOVE
    if entropy > high_entropy:
        reasons.append(f"The probability is spread over several classes "
                       f"(entropy {entropy:.2f} nats; above {high_entropy:.2f} is flagged).")
    risk = float(prediction.malignancy_risk if prediction.malignancy_risk is not None
                 else sum(probabilities[c] for c in MALIGNANT_CLASSES))
    return Interpretation(classes=classes, top=top, risk=risk, band=risk_band(risk), entropy=entropy,
                          uncertain_reasons=reasons)
