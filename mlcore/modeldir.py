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
    if not (config_path.is_file() and (model_dir / WEIGHTS_FILE).is_file()):
        raise ModelError(f"{model_dir}: not a model directory (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
    try:
        return json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{config_path}: invalid JSON ({exc})") from exc


def write_config(model_dir: str | Path, config: dict) -> None:
    Path(model_dir, CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def weights_checksum(model_dir: str | Path) -> str:
    """SHA-256 of the weights file: identifies exactly which parameters produced a prediction."""
    digest = hashlib.sha256()
    with open(Path(model_dir, WEIGHTS_FILE), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
