"""Ensembles: several trained models averaged in logit space, then calibrated together on val."""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import ModelError
from .labels import CLASSES
from .model import Architecture
from .modeldir import CONFIG_FILE, WEIGHTS_FILE, read_config, write_config
from .train import calibrate, val_arrays_of, write_val_report


def build_ensemble(
    members: list[Path],
    data: Path,
    out: Path,
    name: str,
    version: str,
    command: str = "",
    show_progress: bool = True,
    log=print,
    max_views: int = 8,
) -> dict:
    """Copy the members' weights into OUT/members/, calibrate the average on val, write the card."""
    if len(members) < 2:
        raise ModelError("an ensemble needs at least two model directories")
    configs = [read_config(m) for m in members]
    sizes = {Architecture.from_dict(c["architecture"]).image_size for c in configs}
    if len(sizes) != 1:
        raise ModelError(f"ensemble members must share one input size, got {sorted(sizes)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for index, member in enumerate(members, start=1):
        target = out / "members" / f"m{index}"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(member) / WEIGHTS_FILE, target / WEIGHTS_FILE)
        shutil.copyfile(Path(member) / CONFIG_FILE, target / CONFIG_FILE)
        names.append(f"members/m{index}")
    first = configs[0]["training"]
    config = {
        "name": name,
        "version": version,
        "classes": list(CLASSES),
        "members": names,
        "architecture": configs[0]["architecture"],
        "temperature": 1.0,
        "tta_views": 1,
        "training": {
            "data": str(data),
            "n_train": first["n_train"],
            "n_val": first["n_val"],
            "train_class_counts": first["train_class_counts"],
            "command": command,
            "seconds": sum(c["training"].get("seconds", 0) for c in configs),
            "members": [
                {"architecture": c["architecture"], **{k: v for k, v in c["training"].items() if k != "history"}}
                for c in configs
            ],
        },
    }
    write_config(out, config)
    val_arrays = val_arrays_of(
        data, Architecture.from_dict(config["architecture"]).image_size, show_progress=show_progress
    )
    config = calibrate(out, config, val_arrays, log, resave=False, max_views=max_views)
    write_config(out, config)
    return write_val_report(out, config, val_arrays)
