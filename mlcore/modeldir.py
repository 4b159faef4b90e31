"""The on-disk model directory: weights, config.json, the model card and its val metrics."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import ModelError

WEIGHTS_FILE = "weights.weights.h5"
CONFIG_FILE = "config.json"
CARD_FILE = "MODEL_CARD.md"
METRICS_FILE = "metrics.json"

# The model that ships with the repository.
SHIPPED_MODEL_DIR = Path(__file__).resolve().parent / "shipped"


def read_config(model_dir: str | Path) -> dict:
    model_dir = Path(model_dir)
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        raise ModelError(f"{model_dir}: not a model directory (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{config_path}: invalid JSON ({exc})") from exc
    for directory in member_dirs(model_dir, config):
        if not (directory / WEIGHTS_FILE).is_file():
            raise ModelError(f"{model_dir}: not a model directory (no {directory / WEIGHTS_FILE})")
    return config


def write_config(model_dir: str | Path, config: dict) -> None:
    Path(model_dir, CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def member_dirs(model_dir: str | Path, config: dict) -> list[Path]:
    """The directories holding weights: the model itself, or each member of an ensemble."""
    return [Path(model_dir, m) for m in config["members"]] if config.get("members") else [Path(model_dir)]


def weights_checksum(model_dir: str | Path) -> str:
    """SHA-256 over the weights file(s): identifies exactly which parameters produced a prediction."""
    config = json.loads(Path(model_dir, CONFIG_FILE).read_text())
    digest = hashlib.sha256()
    for directory in member_dirs(model_dir, config):
        with open(directory / WEIGHTS_FILE, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
