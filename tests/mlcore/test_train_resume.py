"""A long training run can be interrupted and resumes from its last finished epoch with the same command."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import write_dataset

ROOT = Path(__file__).resolve().parents[2]


def _train_command(data: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlcore",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--image-size",
        "32",
        "--blocks",
        "1",
        "1",
        "1",
        "1",
        "--widths",
        "8",
        "16",
        "16",
        "16",
        "--float32",
        "--max-views",
        "1",
        "--quiet",
    ]


def _kill_when(command: list[str], env: dict, ready) -> None:
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not ready() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)  # as a machine losing power would: no chance to clean up
    first.wait()


def test_training_killed_while_writing_its_first_checkpoint_starts_again_and_finishes(tmp_path):
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "model"
    command = _train_command(data, out)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # The first file to appear under resume/ is the checkpoint being written: the kill lands mid-write.
    _kill_when(command, env, lambda: (out / "resume").is_dir() and any((out / "resume").iterdir()))
    assert not (out / "config.json").exists()

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert [row["epoch"] for row in config["training"]["history"]] == [1, 2, 3]
    assert not (out / "resume").exists()


def test_training_killed_after_an_epoch_resumes_from_it_and_finishes(tmp_path):
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "model"
    command = _train_command(data, out)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    progress = out / "resume" / "progress.json"
    _kill_when(command, env, progress.is_file)
    done = json.loads(progress.read_text())["history"]
    assert done and not (out / "config.json").exists()

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"resuming after epoch {done[-1]['epoch']}" in second.stderr
    config = json.loads((out / "config.json").read_text())
    assert [row["epoch"] for row in config["training"]["history"]] == [1, 2, 3]
    assert not (out / "resume").exists()
