"""Results in plain words: risk bands and the uncertainty flag follow the thresholds in settings."""
import pytest

from predictions.models import Prediction
from predictions.portal.interpretation import entropy_of, prediction_interpret, risk_band

EVEN = {c: 1 / 7 for c in ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")}


def prediction(probabilities, status="succeeded"):
    top = max(probabilities, key=probabilities.get)
    risk = probabilities["mel"] + probabilities["bcc"] + probabilities["akiec"]
    return Prediction(status=status, probabilities=probabilities, top_class=top, malignancy_risk=risk)


@pytest.mark.parametrize("risk, band", [(0.0, "low"), (0.149, "low"), (0.15, "intermediate"), (0.399, "intermediate"),
                                        (0.40, "high"), (1.0, "high")])
def test_risk_bands_follow_the_default_thresholds(risk, band):
    assert risk_band(risk).key == band


def test_risk_bands_follow_the_settings(settings):
    settings.SKINCLINIC_RISK_INTERMEDIATE_AT, settings.SKINCLINIC_RISK_HIGH_AT = 0.05, 0.1
    assert [risk_band(r).key for r in (0.04, 0.07, 0.2)] == ["low", "intermediate", "high"]


def test_a_confident_result_is_not_flagged():
    reading = prediction_interpret(prediction({**{c: 0.01 for c in EVEN}, "nv": 0.94}))
    assert not reading.uncertain and reading.top.code == "nv" and reading.classes[0].code == "nv"
    assert [c.code for c in reading.classes if c.malignant] == ["akiec", "bcc", "mel"]


def test_a_flat_result_is_flagged_for_both_reasons():
    reading = prediction_interpret(prediction(EVEN))
    assert len(reading.uncertain_reasons) == 2
    assert entropy_of(EVEN) == pytest.approx(1.9459, abs=1e-3)


def test_the_uncertainty_thresholds_come_from_settings(settings):
    probabilities = {**{c: 0.05 for c in EVEN}, "nv": 0.70}
    assert not prediction_interpret(prediction(probabilities)).uncertain
    settings.SKINCLINIC_UNCERTAIN_TOP_PROBABILITY_BELOW = 0.75
    assert prediction_interpret(prediction(probabilities)).uncertain


@pytest.mark.parametrize("status", ["queued", "running", "failed"])
def test_an_unfinished_prediction_has_no_reading(status):
    assert prediction_interpret(prediction(EVEN, status=status)) is None
