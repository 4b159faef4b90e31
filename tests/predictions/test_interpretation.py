"""Results in plain words: the referral verdict from the model's operating point, the risk bands, and the
uncertainty flag."""

import pytest

from predictions.interpretation import (
    Recommendation,
    entropy_of,
    model_config_cache_clear,
    operating_point_get,
    prediction_interpret,
    risk_band,
)
from predictions.models import ModelVersion, Prediction

EVEN = {c: 1 / 7 for c in ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")}


def prediction(probabilities, status="succeeded"):
    top = max(probabilities, key=probabilities.get)
    risk = probabilities["mel"] + probabilities["bcc"] + probabilities["akiec"]
    return Prediction(status=status, probabilities=probabilities, top_class=top, malignancy_risk=risk)


@pytest.mark.parametrize(
    "risk, band",
    [(0.0, "low"), (0.149, "low"), (0.15, "intermediate"), (0.399, "intermediate"), (0.40, "high"), (1.0, "high")],
)
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


# --- The clinical question first: refer, routine follow-up, cannot assess ---------------------------------------

NEVUS_WITH_SOME_MELANOMA = {"akiec": 0.02, "bcc": 0.02, "bkl": 0.04, "df": 0.01, "mel": 0.16, "nv": 0.73, "vasc": 0.02}
OPERATING_POINT = {
    "threshold": 0.12,
    "malignant_sensitivity": 0.95,
    "malignant_specificity": 0.61,
    "melanoma_sensitivity": 0.9,
    "melanoma_specificity": 0.7,
}


@pytest.fixture(autouse=True)
def no_cached_model_configs():
    model_config_cache_clear()
    yield
    model_config_cache_clear()


def test_a_result_the_model_refers_is_headlined_refer_whatever_its_top_class():
    reading = prediction_interpret(
        Prediction(
            **vars_of(prediction(NEVUS_WITH_SOME_MELANOMA)), refer=True, referral_threshold=0.12, assessable=True
        )
    )
    assert reading.top.code == "nv"  # the class is not the headline
    assert reading.recommendation == Recommendation.REFER
    assert reading.headline == "Refer: suspicious for a malignant lesion"
    assert reading.band.key == "high" and reading.needs_review


def test_a_result_below_the_models_threshold_is_routine_follow_up_whatever_the_clinics_bands_say(settings):
    settings.SKINCLINIC_RISK_INTERMEDIATE_AT, settings.SKINCLINIC_RISK_HIGH_AT = 0.01, 0.02
    reading = prediction_interpret(
        Prediction(
            **vars_of(prediction(NEVUS_WITH_SOME_MELANOMA)), refer=False, referral_threshold=0.5, assessable=True
        )
    )
    assert reading.headline == "Routine follow-up" and reading.band.key == "low" and not reading.needs_review
    assert "referral threshold is a malignancy risk of 50%" in reading.bands_note


def test_an_image_the_model_refused_cannot_be_assessed_and_says_why():
    reasons = [{"code": "blur", "message": "The image is out of focus."}]
    reading = prediction_interpret(
        Prediction(
            **vars_of(prediction(NEVUS_WITH_SOME_MELANOMA)),
            assessable=False,
            assessment_reasons=reasons,
            refer=True,
            referral_threshold=0.12,
        )
    )
    assert reading.headline == "Cannot assess this image" and not reading.assessable and not reading.refer
    assert [r.message for r in reading.assessment_reasons] == ["The image is out of focus."]


def test_a_model_without_an_operating_point_gives_no_referral_advice_and_says_the_bands_are_the_clinics(db):
    reading = prediction_interpret(prediction(NEVUS_WITH_SOME_MELANOMA), with_operating_point=True)
    assert reading.recommendation == Recommendation.NONE and not reading.has_threshold
    assert reading.headline == "No referral advice: this model version defines no referral threshold"
    assert "defines no referral threshold" in reading.bands_note and "clinic's settings" in reading.bands_note
    assert reading.band.key == "intermediate"  # 20% by the clinic's default bands


def test_the_operating_point_is_read_from_the_models_config_and_put_in_words(db):
    ModelVersion.objects.create(
        name="skinclinic",
        version="2.0.0",
        checksum="0" * 64,
        config={"name": "skinclinic", "version": "2.0.0", "operating_point": OPERATING_POINT},
    )
    stored = Prediction(
        **vars_of(prediction(NEVUS_WITH_SOME_MELANOMA)),
        model_version="skinclinic:2.0.0",
        refer=True,
        referral_threshold=0.12,
        assessable=True,
    )
    reading = prediction_interpret(stored, with_operating_point=True)
    assert reading.operating_point.threshold == pytest.approx(0.12)
    assert reading.operating_point.sentences == [
        "At this threshold the model found 95 in 100 malignant lesions in validation, and called 61 in 100 benign "
        "lesions benign.",
        "It found 90 in 100 melanomas and called 70 in 100 non-melanomas non-melanoma.",
    ]


def test_the_operating_point_gives_its_intervals_and_referral_rate_when_the_card_has_them(db):
    from predictions.interpretation import OperatingPoint

    point = OperatingPoint.from_config(
        {
            "operating_point": {
                **OPERATING_POINT,
                "malignant_sensitivity_ci95": [0.91, 0.98],
                "melanoma_sensitivity_ci95": None,
                "referral_rate": 0.42,
                "n_images": 1503,
            }
        }
    )
    assert point.sentences[0].startswith(
        "At this threshold the model found 95 in 100 malignant lesions in "
        "validation (95% interval 91 to 98), and called 61 in 100"
    )
    assert point.sentences[2] == "It referred 42 in 100 of the validation images (1,503 images)."


def test_the_shipped_1x_model_declares_no_operating_point(db):
    from mlcore.modeldir import SHIPPED_MODEL_DIR, read_config

    config = read_config(SHIPPED_MODEL_DIR)
    if "operating_point" in config:
        pytest.skip("the shipped model now declares an operating point")
    assert operating_point_get(f"{config['name']}:{config['version']}") is None


def vars_of(p: Prediction) -> dict:
    return {name: getattr(p, name) for name in ("status", "probabilities", "top_class", "malignancy_risk")}
