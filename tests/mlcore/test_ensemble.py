import numpy as np
import pytest

from mlcore import Classifier
from mlcore.calibration import softmax
from mlcore.cli import main
from mlcore.data import load_arrays, read_dataset
from mlcore.ensemble import build_ensemble
from mlcore.errors import ModelError
from mlcore.train import TrainOptions, train

from .conftest import TINY_ARCH


@pytest.fixture(scope="module")
def second_tiny_model(tmp_path_factory, tiny_model_dir):
    out = tmp_path_factory.mktemp("tiny2") / "model"
    data = tiny_model_dir.parent / "data"
    train(
        TrainOptions(
            data=data,
            out=out,
            epochs=1,
            batch_size=16,
            image_size=32,
            architecture=TINY_ARCH,
            seed=1,
            mixed_precision=False,
            show_progress=False,
        ),
        log=lambda _: None,
    )
    return out


def test_ensemble_averages_member_logits_under_one_temperature(tiny_model_dir, second_tiny_model, tmp_path):
    data = tiny_model_dir.parent / "data"
    out = tmp_path / "ensemble"
    metrics = build_ensemble(
        [tiny_model_dir, second_tiny_model], data, out, name="ens", version="2", show_progress=False, log=lambda _: None
    )
    assert metrics["n_images"] == 14 and (out / "MODEL_CARD.md").is_file()
    assert "ensemble of 2 networks" in (out / "MODEL_CARD.md").read_text()

    ensemble = Classifier.load(out)
    members = [Classifier.load(tiny_model_dir), Classifier.load(second_tiny_model)]
    arrays = load_arrays(read_dataset(data), 32, show_progress=False)
    for member in members:
        member.tta_views = ensemble.tta_views
    expected = softmax(np.mean([m.logits(arrays.images, arrays.meta) for m in members], axis=0), ensemble.temperature)
    np.testing.assert_allclose(ensemble.probabilities(arrays.images, arrays.meta), expected, atol=1e-5)
    assert ensemble.version == "ens:2" and len(ensemble.checksum) == 64
    [result] = ensemble.predict([read_dataset(data).records[0].as_input()], heatmap=True)
    assert result.heatmap.max() == pytest.approx(1.0) or result.heatmap.max() == 0


def test_ensemble_of_one_model_is_refused(tiny_model_dir, tmp_path):
    with pytest.raises(ModelError, match="at least two"):
        build_ensemble([tiny_model_dir], tiny_model_dir.parent / "data", tmp_path / "e", name="e", version="1")


def test_ensemble_command_has_help(capsys):
    with pytest.raises(SystemExit):
        main(["ensemble", "--help"])
    assert "usage: python -m mlcore ensemble" in capsys.readouterr().out


def test_ensemble_command_keeps_test_time_views_within_max_views_and_records_what_it_tried(
    tiny_model_dir, second_tiny_model, tmp_path, capsys
):
    out = tmp_path / "ensemble"
    assert (
        main(
            [
                "ensemble",
                str(tiny_model_dir),
                str(second_tiny_model),
                "--data",
                str(tiny_model_dir.parent / "data"),
                "--out",
                str(out),
                "--max-views",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    ensemble = Classifier.load(out)
    assert ensemble.tta_views in (1, 2)
    assert set(ensemble.config["tta_choices"]) == {"1", "2"}
    assert "Views tried on val: 1: balanced accuracy" in (out / "MODEL_CARD.md").read_text()
