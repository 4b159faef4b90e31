"""What a finished prediction means in plain words: the clinical question first (refer, routine follow-up, or
cannot assess), then the classes ranked, the risk band, and whether to doubt the result.

The portal, the REST API, FHIR and case triage all read results through this module, so a rule lives once.

The referral threshold and its validation figures come from the model that made the prediction (stored with
the prediction, and the operating point in its config.json), not from constants here. A model without an
operating point (the 1.x models) gives no referral advice; its risk is banded by the clinic's settings
(SKINCLINIC_RISK_*), and the reading says so.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings

from mlcore import CLASS_NAMES, CLASSES, MALIGNANT_CLASSES

from .models import ModelVersion, Prediction, PredictionStatus, Review


class Recommendation(StrEnum):
    REFER = "refer"
    ROUTINE = "routine"
    CANNOT_ASSESS = "cannot_assess"
    NONE = "none"  # the model defines no referral threshold


HEADLINES = {
    Recommendation.REFER: "Refer: suspicious for a malignant lesion",
    Recommendation.ROUTINE: "Routine follow-up",
    Recommendation.CANNOT_ASSESS: "Cannot assess this image",
    Recommendation.NONE: "No referral advice: this model version defines no referral threshold",
}
SHORT_LABELS = {
    Recommendation.REFER: "Refer",
    Recommendation.ROUTINE: "Routine follow-up",
    Recommendation.CANNOT_ASSESS: "Cannot assess",
}


@dataclass(frozen=True)
class RiskBand:
    key: str  # low / intermediate / high: also the CSS modifier
    label: str
    explanation: str


BANDS = {
    "low": RiskBand(
        "low",
        "Low",
        "The model finds little in this image that resembles melanoma, basal cell "
        "carcinoma or actinic keratosis. Weigh it with the history and examination.",
    ),
    "intermediate": RiskBand(
        "intermediate",
        "Intermediate",
        "Some features resemble a malignant or pre-malignant lesion. Consider a closer look, "
        "dermoscopic follow-up or a second opinion.",
    ),
    "high": RiskBand(
        "high",
        "High",
        "Many features resemble a malignant or pre-malignant lesion. Consider prompt specialist assessment.",
    ),
}
THRESHOLD_BANDS = {
    "low": RiskBand(
        "low",
        "Below the referral threshold",
        "The malignancy risk is below the model's referral threshold. Weigh it with the history and "
        "examination; a lesion that changes or worries the patient still deserves a closer look.",
    ),
    "high": RiskBand(
        "high",
        "At or above the referral threshold",
        "The malignancy risk reaches the model's referral threshold, which was set to miss as few "
        "malignant lesions as possible. Refer for specialist assessment.",
    ),
}


def risk_band(risk: float, threshold: float | None = None) -> RiskBand:
    """The plain-language band of a malignancy risk in [0, 1]: above or below the model's referral
    `threshold` when it has one, else by the clinic's thresholds in settings."""
    if threshold is not None:
        return THRESHOLD_BANDS["high" if risk >= threshold else "low"]
    if risk >= settings.SKINCLINIC_RISK_HIGH_AT:
        return BANDS["high"]
    if risk >= settings.SKINCLINIC_RISK_INTERMEDIATE_AT:
        return BANDS["intermediate"]
    return BANDS["low"]


def _in_100(fraction: float | None) -> int | None:
    return None if fraction is None else round(float(fraction) * 100)


def _interval(value) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(v is not None for v in value):
        return float(value[0]), float(value[1])
    return None


@dataclass(frozen=True)
class OperatingPoint:
    """The model's referral threshold and what it achieved on the validation set (fractions in [0, 1], with
    95% intervals where the model card gives them)."""

    threshold: float
    malignant_sensitivity: float | None = None
    malignant_specificity: float | None = None
    melanoma_sensitivity: float | None = None
    melanoma_specificity: float | None = None
    referral_rate: float | None = None
    malignant_sensitivity_ci95: tuple[float, float] | None = None
    melanoma_sensitivity_ci95: tuple[float, float] | None = None
    n_images: int | None = None

    FIGURES = (
        "malignant_sensitivity",
        "malignant_specificity",
        "melanoma_sensitivity",
        "melanoma_specificity",
        "referral_rate",
    )

    @classmethod
    def from_config(cls, config: dict | None) -> OperatingPoint | None:
        point = (config or {}).get("operating_point")
        if not isinstance(point, dict) or point.get("threshold") is None:
            return None
        figures = {name: (float(point[name]) if point.get(name) is not None else None) for name in cls.FIGURES}
        return cls(
            threshold=float(point["threshold"]),
            **figures,
            malignant_sensitivity_ci95=_interval(point.get("malignant_sensitivity_ci95")),
            melanoma_sensitivity_ci95=_interval(point.get("melanoma_sensitivity_ci95")),
            n_images=int(point["n_images"]) if point.get("n_images") else None,
        )

    @property
    def sentences(self) -> list[str]:
        """The operating point in words a clinician reads at a glance."""
        said = []
        found, cleared = _in_100(self.malignant_sensitivity), _in_100(self.malignant_specificity)
        if found is not None:
            interval = self.malignant_sensitivity_ci95
            said.append(
                f"At this threshold the model found {found} in 100 malignant lesions in validation"
                + (f" (95% interval {_in_100(interval[0])} to {_in_100(interval[1])})" if interval else "")
                + (f", and called {cleared} in 100 benign lesions benign." if cleared is not None else ".")
            )
        melanoma, melanoma_cleared = _in_100(self.melanoma_sensitivity), _in_100(self.melanoma_specificity)
        if melanoma is not None:
            interval = self.melanoma_sensitivity_ci95
            said.append(
                f"It found {melanoma} in 100 melanomas"
                + (f" (95% interval {_in_100(interval[0])} to {_in_100(interval[1])})" if interval else "")
                + (
                    f" and called {melanoma_cleared} in 100 non-melanomas non-melanoma."
                    if melanoma_cleared is not None
                    else "."
                )
            )
        referred = _in_100(self.referral_rate)
        if referred is not None:
            said.append(
                f"It referred {referred} in 100 of the validation images"
                + (f" ({self.n_images:,} images)." if self.n_images else ".")
            )
        return said


_CONFIG_TTL_SECONDS = 300.0
_configs: dict[str, tuple[float, dict | None]] = {}


def model_config_get(model_version: str) -> dict | None:
    """The config.json of a model version ("name:version"): the registered copy, else the configured model's
    (MODEL_DIR or the shipped one) when it is that version; None for an unknown version.

    Kept a few minutes per process: a version's config does not change (a version names one set of weights),
    and pages that list many results must not query it for each.
    """
    now = time.monotonic()
    cached = _configs.get(model_version)
    if cached is not None and now - cached[0] < _CONFIG_TTL_SECONDS:
        return cached[1]
    config = ModelVersion.objects.filter(identifier=model_version).values_list("config", flat=True).first()
    if config is None:
        config = _configured_config(model_version)
    _configs[model_version] = (now, config)
    return config


def model_config_cache_clear() -> None:
    _configs.clear()


def _configured_config(model_version: str) -> dict | None:
    from mlcore.errors import ModelError
    from mlcore.modeldir import read_config

    from .inference import configured_model_dir

    try:
        config = read_config(configured_model_dir())
    except ModelError:
        return None
    return config if f"{config.get('name')}:{config.get('version')}" == model_version else None


def operating_point_get(model_version: str) -> OperatingPoint | None:
    """The referral operating point a model version's config declares, or None (a 1.x model has none)."""
    return OperatingPoint.from_config(model_config_get(model_version))


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
class AssessmentReason:
    code: str
    message: str


@dataclass(frozen=True)
class Interpretation:
    classes: list[ClassProbability]  # most probable first
    top: ClassProbability
    risk: float
    band: RiskBand
    entropy: float
    uncertain_reasons: list[str]
    recommendation: Recommendation
    referral_threshold: float | None  # None: the model defines none
    operating_point: OperatingPoint | None
    assessment_reasons: list[AssessmentReason]

    @property
    def risk_percent(self) -> float:
        return round(self.risk * 100, 1)

    @property
    def uncertain(self) -> bool:
        return bool(self.uncertain_reasons)

    @property
    def headline(self) -> str:
        return HEADLINES[self.recommendation]

    @property
    def short_label(self) -> str:
        """The verdict in a word or two, for lists; without a threshold, the clinic's risk band."""
        return SHORT_LABELS.get(self.recommendation) or f"{self.band.label} risk"

    @property
    def refer(self) -> bool:
        return self.recommendation == Recommendation.REFER

    @property
    def assessable(self) -> bool:
        return self.recommendation != Recommendation.CANNOT_ASSESS

    @property
    def has_threshold(self) -> bool:
        return self.referral_threshold is not None

    @property
    def needs_review(self) -> bool:
        """A human should see it: the model advises referral or, without a threshold, the clinic's band is high."""
        return self.refer or (self.recommendation == Recommendation.NONE and self.band.key == "high")

    @property
    def bands_note(self) -> str:
        """Where the band comes from, in a sentence."""
        if self.referral_threshold is not None:
            return f"The model's referral threshold is a malignancy risk of {self.referral_threshold * 100:.3g}%."
        return (
            f"This model version defines no referral threshold. The bands are this clinic's settings "
            f"(low below {settings.SKINCLINIC_RISK_INTERMEDIATE_AT * 100:g}%, high from "
            f"{settings.SKINCLINIC_RISK_HIGH_AT * 100:g}%), not a validated operating point of the model."
        )


def entropy_of(probabilities: dict[str, float]) -> float:
    """Shannon entropy in nats (0: certain; ln 7 = 1.95: every class equally likely)."""
    log = math.log
    return -sum([p * log(p) for p in probabilities.values() if p > 0])  # a list sums faster than a generator


def _assessment_reasons(prediction: Prediction) -> list[AssessmentReason]:
    reasons = []
    for reason in prediction.assessment_reasons or []:
        if isinstance(reason, dict):
            reasons.append(AssessmentReason(str(reason.get("code", "")), str(reason.get("message", ""))))
        else:
            reasons.append(AssessmentReason("", str(reason)))
    return reasons


def recommendation_of(
    *, risk: float, refer: bool | None, threshold: float | None, assessable: bool | None
) -> Recommendation:
    """The verdict of a result from what its model stored: cannot assess, refer, routine, or none (no threshold)."""
    if assessable is False:
        return Recommendation.CANNOT_ASSESS
    if refer is not None:
        return Recommendation.REFER if refer else Recommendation.ROUTINE
    if threshold is not None:
        return Recommendation.REFER if risk >= threshold else Recommendation.ROUTINE
    return Recommendation.NONE


@dataclass(frozen=True)
class ResultSummary:
    """A stored result in a word and a colour, for lists that carry only its figures (no probabilities)."""

    label: str
    band_key: str
    risk: float


def result_summary(
    risk: float | None, refer: bool | None = None, threshold: float | None = None, assessable: bool | None = None
) -> ResultSummary | None:
    if risk is None:
        return None
    risk = float(risk)
    recommendation = recommendation_of(risk=risk, refer=refer, threshold=threshold, assessable=assessable)
    band = risk_band(risk, threshold)
    if recommendation == Recommendation.CANNOT_ASSESS:
        return ResultSummary(SHORT_LABELS[recommendation], "intermediate", risk)
    if recommendation == Recommendation.NONE:
        return ResultSummary(f"{band.label} risk", band.key, risk)
    return ResultSummary(
        SHORT_LABELS[recommendation], "high" if recommendation == Recommendation.REFER else "low", risk
    )


# The same rule in SQL (selectors order by it): histopathology first, then the newest.
REVIEW_STANDING_ORDER = ("-histopathology_confirmed", "-created_at", "-id")


def review_standing(reviews) -> Review | None:
    """The review whose diagnosis stands for an image or lesion: the newest histopathology-confirmed one, else
    the newest. (A later clinical opinion does not overturn a histopathology result.)"""
    reviews = list(reviews)
    if not reviews:
        return None
    return max(reviews, key=lambda r: (r.histopathology_confirmed, r.created_at, r.pk or 0))


def prediction_interpret(prediction: Prediction, *, with_operating_point: bool = False) -> Interpretation | None:
    """The reading of a succeeded prediction; None while it is queued, running, or when it failed.

    The referral verdict and threshold are those the model stored with the prediction. `with_operating_point`
    also reads the model's validation figures from its config (a page showing one result; lists skip it).
    """
    if prediction.status != PredictionStatus.SUCCEEDED or not prediction.probabilities:
        return None
    given = prediction.probabilities
    probabilities = {code: float(given.get(code, 0.0)) for code in CLASSES}
    top_code = prediction.top_class or max(probabilities, key=probabilities.__getitem__)
    # The most probable first, equal ones in CLASSES' order: a reversed sort keeps equal keys in their order,
    # with no key built per class (a page of 50 interprets 50 readings).
    ranked = sorted(CLASSES, key=probabilities.__getitem__, reverse=True)
    classes = [
        ClassProbability(code, CLASS_NAMES[code], probabilities[code], code in MALIGNANT_CLASSES, code == top_code)
        for code in ranked
    ]
    top = next(c for c in classes if c.is_top)
    entropy = entropy_of(probabilities)
    reasons = []
    low_top = settings.SKINCLINIC_UNCERTAIN_TOP_PROBABILITY_BELOW
    if top.probability < low_top:
        reasons.append(
            f"The most likely class has only {top.percent:g}% probability "
            f"(results below {low_top * 100:g}% are flagged)."
        )
    high_entropy = settings.SKINCLINIC_UNCERTAIN_ENTROPY_ABOVE
    if entropy > high_entropy:
        reasons.append(
            f"The probability is spread over several classes "
            f"(entropy {entropy:.2f} nats; above {high_entropy:.2f} is flagged)."
        )
    risk = float(
        prediction.malignancy_risk
        if prediction.malignancy_risk is not None
        else sum(probabilities[c] for c in MALIGNANT_CLASSES)
    )
    point = operating_point_get(prediction.model_version) if with_operating_point else None
    threshold = prediction.referral_threshold
    recommendation = recommendation_of(
        risk=risk, refer=prediction.refer, threshold=threshold, assessable=prediction.assessable
    )
    return Interpretation(
        classes=classes,
        top=top,
        risk=risk,
        band=risk_band(risk, threshold),
        entropy=entropy,
        uncertain_reasons=reasons,
        recommendation=recommendation,
        referral_threshold=threshold,
        operating_point=point,
        assessment_reasons=_assessment_reasons(prediction),
    )


# --- How two results for one image differ (a re-run under another model version) ---------------------------------
def prediction_pair_diff(*, old_top: str, old_risk: float, new_top: str, new_risk: float) -> dict:
    """How two results for one image differ: top class, and the risk band the clinician is shown."""
    old_band, new_band = risk_band(old_risk).key, risk_band(new_risk).key
    return {
        "from_top_class": old_top,
        "to_top_class": new_top,
        "from_band": old_band,
        "to_band": new_band,
        "from_risk": old_risk,
        "to_risk": new_risk,
        "top_class_changed": old_top != new_top,
        "band_changed": old_band != new_band,
    }


@dataclass(frozen=True)
class VersionDiffRow:
    image_id: int
    from_version: str
    from_prediction_id: int
    to_prediction_id: int
    diff: dict

    @property
    def changed(self) -> bool:
        return self.diff["top_class_changed"] or self.diff["band_changed"]


@dataclass
class VersionDiff:
    to_version: str
    rows: list[VersionDiffRow]

    @property
    def changed(self) -> list[VersionDiffRow]:
        return [row for row in self.rows if row.changed]

    def summary(self) -> dict:
        return {
            "to_version": self.to_version,
            "compared": len(self.rows),
            "unchanged": sum(not row.changed for row in self.rows),
            "top_class_changed": sum(row.diff["top_class_changed"] for row in self.rows),
            "band_changed": sum(row.diff["band_changed"] for row in self.rows),
            "top_class_transitions": {
                f"{a}->{b}": n
                for (a, b), n in sorted(
                    Counter(
                        (r.diff["from_top_class"], r.diff["to_top_class"])
                        for r in self.rows
                        if r.diff["top_class_changed"]
                    ).items()
                )
            },
            "band_transitions": {
                f"{a}->{b}": n
                for (a, b), n in sorted(
                    Counter(
                        (r.diff["from_band"], r.diff["to_band"]) for r in self.rows if r.diff["band_changed"]
                    ).items()
                )
            },
        }
