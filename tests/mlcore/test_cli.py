import json
import subprocess
import sys

import pytest

from mlcore.cli import main


@pytest.mark.parametrize("command", ["train", "calibrate", "evaluate", "predict", "bench"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m mlcore " + command in capsys.readouterr().out


def test_evaluate_on_a_missing_directory_exits_non_zero_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "no such directory" in capsys.readouterr().err


def test_evaluate_with_a_directory_that_is_not_a_dataset_says_why(tmp_path, capsys):
    assert main(["evaluate", "--data", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no metadata.csv" in capsys.readouterr().err


def test_evaluate_writes_metrics_and_plots(tiny_model_dir, dataset_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--data",
                str(dataset_dir),
                "--out",
                str(out),
                "--model",
                str(tiny_model_dir),
                "--split",
                "val",
                "--quiet",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "n_images",
        "accuracy",
        "balanced_accuracy",
        "macro_auc",
        "melanoma_auc",
        "malignant_auc",
        "ece",
        "per_class",
        "confusion_matrix",
        "model_version",
    ):
        assert key in metrics
    assert metrics["n_images"] == 14
    assert {"precision", "recall", "f1", "auc", "support"} <= set(metrics["per_class"]["mel"])
    assert all((out / n).stat().st_size > 1000 for n in ("confusion_matrix.png", "roc_curves.png", "reliability.png"))


def test_predict_prints_json_and_heatmaps_and_fails_on_a_bad_file(tiny_model_dir, dataset_dir, tmp_path, capsys):
    good = next((dataset_dir / "images").glob("*.jpg"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not a jpeg")
    code = main(
        ["predict", str(good), str(bad), "--json", "--model", str(tiny_model_dir), "--heatmap", str(tmp_path / "h")]
    )
    captured = capsys.readouterr()
    assert code == 1 and "bad.jpg" in captured.err
    [row] = json.loads(captured.out)
    assert row["image"] == str(good) and set(row["probabilities"]) == {"akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"}
    assert (tmp_path / "h" / f"{good.stem}_heatmap.png").is_file()


def test_module_entry_point_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mlcore", "predict", str(tmp_path / "x.jpg"), "--model", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "not a model directory" in result.stderr


def test_train_with_blocks_and_widths_of_different_lengths_exits_with_a_message(dataset_dir, tmp_path, capsys):
    code = main(
        [
            "train",
            "--data",
            str(dataset_dir),
            "--out",
            str(tmp_path / "m"),
            "--blocks",
            "1",
            "1",
            "2",
            "--widths",
            "8",
            "16",
            "16",
            "16",
            "--quiet",
        ]
    )
    assert code == 2
    assert "one number per stage" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_calibrate_chooses_views_and_temperature_again_without_touching_the_weights(tiny_model_dir, tmp_path, capsys):
    import shutil

    from mlcore.modeldir import read_config, weights_checksum

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    before = read_config(model)
    assert (
        main(["calibrate", str(model), "--data", str(tiny_model_dir.parent / "data"), "--max-views", "1", "--quiet"])
        == 0
    )
    after = read_config(model)
    assert after["tta_views"] == 1 and list(after["tta_choices"]) == ["1"]
    assert after["weights_sha256"] == weights_checksum(model) == before["weights_sha256"]
    assert after["calibration_command"].startswith("python -m mlcore calibrate")
    assert "chosen again by `python -m mlcore calibrate" in (model / "MODEL_CARD.md").read_text()
    metrics = json.loads((model / "metrics.json").read_text())
    assert json.loads(capsys.readouterr().out)["ece"] == pytest.approx(metrics["ece"])


def test_calibrate_on_a_directory_that_is_not_a_model_says_why(dataset_dir, tmp_path, capsys):
    assert main(["calibrate", str(tmp_path), "--data", str(dataset_dir), "--quiet"]) == 2
    assert "error:" in capsys.readouterr().err


def test_calibrate_with_views_uses_exactly_that_many(tiny_model_dir, tmp_path):
    import shutil

    from mlcore.modeldir import read_config

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    data = str(tiny_model_dir.parent / "data")
    assert main(["calibrate", str(model), "--data", data, "--views", "4", "--quiet"]) == 0
    config = read_config(model)
    assert config["tta_views"] == 4 and list(config["tta_choices"]) == ["4"]
