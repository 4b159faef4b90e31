"""Training: fit on the train split, keep the epoch that does best on val, then calibrate on val."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import fit_temperature, softmax
from .data import Arrays, Dataset, load_arrays, read_dataset, split_by_lesion
from .errors import DataError
from .labels import CLASSES
from .metrics import compute_metrics
from .model import Architecture
from .modeldir import METRICS_FILE, WEIGHTS_FILE, read_config, weights_checksum, write_config
from .operating_point import operating_point, referral_threshold


@dataclass
class TrainOptions:
    data: Path
    out: Path
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    image_size: int | tuple[int, int] = 96  # a square side, or (height, width)
    backbone: str = "resnet"  # "efficientnet_lite0" starts from ImageNet weights
    trainable_from_block: int = 0  # efficientnet_lite0: freeze the stem and the blocks before this one
    class_weight_power: float = 0.5
    meta_dropout: float = 0.15
    mixed_precision: bool = True
    seed: int = 0
    architecture: Architecture | None = None  # default: Architecture(image_size=image_size)
    init_from: Path | None = None  # fine-tune: start from this model's weights (its architecture, at image_size)
    max_views: int = 8  # most test-time views calibration may choose (serving cost grows with them)
    name: str = "skinclinic-ham10000-cnn"
    version: str = "1.0.0"
    show_progress: bool = True
    command: str = ""


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Per-class loss weights (n_max / n_c) ** power, scaled so the average sample weight is 1."""
    counts = np.bincount(labels, minlength=len(CLASSES)).astype(np.float64)
    weights = np.where(counts > 0, (counts.max() / np.maximum(counts, 1)) ** power, 0.0)
    return weights / (weights[labels].mean())


def selection_score(metrics: dict) -> float:
    """Model selection on val: balanced accuracy and malignant AUC count equally (the referral advice is a
    threshold on malignancy risk, so how well that risk ranks lesions matters as much as the top class)."""
    return metrics["balanced_accuracy"] + (metrics["malignant_auc"] or 0.0)


def train_val_split(dataset: Dataset, seed: int, log=lambda msg: None) -> tuple[Dataset, Dataset]:
    """The dataset's own train/val split, or without one a re-split by lesion (the same for the same seed)."""
    if "train" in dataset.splits and "val" in dataset.splits:
        return dataset.split("train"), dataset.split("val")
    log("no train/val split column: re-splitting by lesion_id (15% val)")
    return split_by_lesion(dataset, seed=seed)


def _splits(options: TrainOptions, log) -> tuple[Arrays, Arrays]:
    dataset = read_dataset(options.data)
    for problem in dataset.problems:
        log(f"skipped {problem}")
    train, val = train_val_split(dataset, options.seed, log)
    if not train.records or not val.records:
        raise DataError("need images in both the train and the val split")
    show = options.show_progress
    return (
        load_arrays(train, options.image_size, "loading train", show),
        load_arrays(val, options.image_size, "loading val", show),
    )


def train(options: TrainOptions, log=lambda msg: print(msg, file=sys.stderr)) -> dict:
    """Train, select, calibrate and write a complete model directory; returns its val metrics."""
    import keras
    import tensorflow as tf

    from .augment import training_dataset
    from .model import build_model

    started = time.monotonic()
    keras.utils.set_random_seed(options.seed)
    train_arrays, val_arrays = _splits(options, log)
    log(f"train {len(train_arrays.labels)} images, val {len(val_arrays.labels)} images")

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if options.mixed_precision else "float32")
    parent = read_config(options.init_from) if options.init_from else None
    if parent:
        # The network is fully convolutional up to global pooling: its weights serve any input size.
        arch = Architecture.from_dict({**parent["architecture"], "image_size": options.image_size})
    else:
        arch = options.architecture or Architecture(
            image_size=options.image_size, backbone=options.backbone, trainable_from_block=options.trainable_from_block
        )
    model = build_model(arch)
    if parent:
        assert options.init_from is not None  # parent is the config read from it
        model.load_weights(Path(options.init_from) / WEIGHTS_FILE)
    elif arch.backbone == "efficientnet_lite0":
        from .efficientnet import imagenet_state_dict, load_torch_weights

        # The ImageNet classifier (_fc) has no place here: the lesion head starts fresh.
        load_torch_weights(model, imagenet_state_dict(), skip_missing_layers=True)
        log("backbone initialised from the ImageNet weights of EfficientNet-Lite0")
    weights = class_weights(train_arrays.labels, options.class_weight_power)
    ds = training_dataset(
        train_arrays.images,
        train_arrays.meta,
        train_arrays.labels,
        weights[train_arrays.labels].astype(np.float32),
        arch.image_size,
        options.batch_size,
        options.meta_dropout,
        options.seed,
    )
    steps = int(np.ceil(len(train_arrays.labels) / options.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=options.learning_rate / 10,
        decay_steps=max(1, steps * (options.epochs - 1)),
        warmup_target=options.learning_rate,
        warmup_steps=steps,
        alpha=0.01,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=options.weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    # A long run can be interrupted: after each epoch the model and optimizer go to resume/epoch-N.weights.h5,
    # then progress.json (the per-epoch val figures, the best epoch and N) is replaced atomically. progress.json
    # is the commit point: a kill at any moment leaves the last committed epoch intact, so the same command
    # resumes from it.
    backup_dir = out / "resume"
    progress_file = backup_dir / "progress.json"
    state = json.loads(progress_file.read_text()) if progress_file.is_file() else {}
    committed = [state.get("checkpoint"), state.get("best", {}).get("checkpoint")]
    if not all(name and (backup_dir / name).is_file() for name in committed):
        state = {}  # nothing committed yet: start over
    history: list[dict] = state.get("history", [])
    best = state.get("best", {"score": -1e9, "epoch": 0, "checkpoint": None})
    seconds_before = state.get("seconds", 0)
    initial_epoch = 0
    if state:
        model.optimizer.build(model.trainable_variables)
        model.load_weights(backup_dir / state["checkpoint"])
        initial_epoch = state["epoch"]
        log(f"resuming after epoch {initial_epoch} (best so far: epoch {best['epoch']})")

    class SelectOnVal(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logits = model.predict({"image": val_arrays.images, "meta": val_arrays.meta}, batch_size=64, verbose=0)
            metrics = compute_metrics(val_arrays.labels, softmax(logits))
            score = selection_score(metrics)
            row = {
                "epoch": epoch + 1,
                "loss": float(logs["loss"]),
                "val_balanced_accuracy": metrics["balanced_accuracy"],
                "val_macro_auc": metrics["macro_auc"],
                "val_melanoma_auc": metrics["melanoma_auc"],
                "val_malignant_auc": metrics["malignant_auc"],
            }
            history[:] = [h for h in history if h["epoch"] < epoch + 1] + [row]
            log(json.dumps(row))
            backup_dir.mkdir(exist_ok=True)
            checkpoint = f"epoch-{epoch + 1}.weights.h5"
            _save_weights_atomically(model, backup_dir / checkpoint)
            if score > best["score"]:
                # The best epoch's weights are its checkpoint, kept under resume/ until the run ends, so
                # they never get ahead of the committed progress.
                best.update(score=score, epoch=epoch + 1, checkpoint=checkpoint)
            _write_atomically(
                progress_file,
                json.dumps(
                    {
                        "history": history,
                        "best": best,
                        "epoch": epoch + 1,
                        "checkpoint": checkpoint,
                        "seconds": seconds_before + round(time.monotonic() - started),
                    }
                ),
            )
            for old in backup_dir.glob("epoch-*.weights.h5"):
                if old.name not in (checkpoint, best["checkpoint"]):
                    old.unlink()

    model.fit(
        ds,
        epochs=options.epochs,
        initial_epoch=initial_epoch,
        verbose=(1 if sys.stderr.isatty() else 2) if options.show_progress else 0,
        callbacks=[SelectOnVal()],
    )
    log(f"best epoch {best['epoch']} (score {best['score']:.4f})")
    shutil.copyfile(backup_dir / best["checkpoint"], out / WEIGHTS_FILE)

    config: dict[str, Any] = {
        "name": options.name,
        "version": options.version,
        "classes": list(CLASSES),
        "architecture": arch.to_dict(),
        "temperature": 1.0,
        "tta_views": 1,
        "training": {
            "data": str(options.data),
            "epochs": options.epochs,
            "best_epoch": best["epoch"],
            "backbone": arch.backbone,
            "trainable_from_block": arch.trainable_from_block,
            "batch_size": options.batch_size,
            "learning_rate": options.learning_rate,
            "weight_decay": options.weight_decay,
            "class_weight_power": options.class_weight_power,
            "meta_dropout": options.meta_dropout,
            "mixed_precision": options.mixed_precision,
            "seed": options.seed,
            "n_train": int(len(train_arrays.labels)),
            "n_val": int(len(val_arrays.labels)),
            "train_class_counts": dict(zip(CLASSES, np.bincount(train_arrays.labels, minlength=7).tolist())),
            "command": options.command,
            "history": history,
            "init_from": {k: v for k, v in parent["training"].items() if k != "history"} if parent else None,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }
    write_config(out, config)
    config = calibrate(out, config, val_arrays, log, max_views=options.max_views)
    config["training"]["seconds"] = seconds_before + round(time.monotonic() - started)
    write_config(out, config)
    fit_gate(out, train_arrays, val_arrays, log)
    config = read_config(out)
    metrics = write_val_report(out, config, val_arrays)
    shutil.rmtree(backup_dir, ignore_errors=True)  # finished: the model directory is what ships
    tf.keras.backend.clear_session()
    return metrics


def _durably_replace(partial: Path, path: Path) -> None:
    """Move a fully written file into place, on disk before its name is (so a power loss leaves the old one)."""
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())
    partial.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    _durably_replace(partial, path)


def _save_weights_atomically(model, path: Path) -> None:
    """Keras writes weights in place; a kill mid-write would leave a corrupt file where a good one was."""
    partial = path.with_name("partial-" + path.name)  # Keras insists on the .weights.h5 suffix
    model.save_weights(partial)
    _durably_replace(partial, path)


def write_val_report(out: Path, config: dict, val: Arrays) -> dict:
    """Evaluate the finished model on val into the model directory (with the gate's figures on the not-skin
    and unusable sets, for a model with a gate) and write its model card."""
    from .card import write_model_card
    from .classifier import Classifier
    from .evaluate import evaluate_arrays
    from .nonskin import gate_figures

    classifier = Classifier.load(out)
    metrics = evaluate_arrays(classifier, val, out, data=config["training"]["data"], split="val")
    if classifier.gate is not None:
        metrics["gate"] = gate_figures(classifier, [r.path for r in val.records])
        (Path(out) / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    write_model_card(out, config, metrics)
    return metrics


def val_arrays_of(data: Path, image_size: int | tuple[int, int], seed: int = 0, show_progress: bool = True) -> Arrays:
    """The val split of `data`; without a split column, the re-split a training with `seed` used."""
    _, val = train_val_split(read_dataset(data), seed)
    if not val.records:
        raise DataError(f"{data}: no images in the val split")
    return load_arrays(val, image_size, "loading val", show_progress)


def recalibrate(
    model_dir: Path,
    data: Path,
    max_views: int = 8,
    views: int | None = None,
    command: str = "",
    show_progress: bool = True,
    log=lambda msg: print(msg, file=sys.stderr),
) -> dict:
    """Choose the test-time views and temperature of a trained model again (e.g. with fewer views, for
    serving cost) and rewrite its config, val metrics and card; the weights are not touched."""
    config = read_config(model_dir)
    seed = config.get("training", {}).get("seed", 0)  # so a re-split val is the one the model was selected on
    val = val_arrays_of(data, Architecture.from_dict(config["architecture"]).image_size, seed, show_progress)
    config = calibrate(Path(model_dir), config, val, log, resave=False, max_views=max_views, views=views)
    config["calibration_command"] = command
    write_config(model_dir, config)
    return write_val_report(Path(model_dir), config, val)


def refit_gate(
    model_dir: Path, data: Path, show_progress: bool = True, log=lambda msg: print(msg, file=sys.stderr)
) -> dict:
    """Fit a trained model's gate again on `data` (its train and val splits, as the model was trained) and
    rewrite its val metrics and card."""
    config = read_config(model_dir)
    size = Architecture.from_dict(config["architecture"]).image_size
    train_set, val_set = train_val_split(read_dataset(data), config.get("training", {}).get("seed", 0))
    train_arrays = load_arrays(train_set, size, "loading train", show_progress)
    val_arrays = load_arrays(val_set, size, "loading val", show_progress)
    fit_gate(Path(model_dir), train_arrays, val_arrays, log)
    return write_val_report(Path(model_dir), read_config(model_dir), val_arrays)


# Test-time view counts calibration chooses from: 2 is the image and its mirror image; 8 (the quarter turns)
# only for square inputs.
VIEW_CHOICES = (1, 2, 4, 8)


def calibrate(
    out: Path, config: dict, val: Arrays, log, resave: bool = True, max_views: int = 8, views: int | None = None
) -> dict:
    """Choose test-time augmentation views (at most max_views, or exactly `views`) by val score, then fit
    the temperature on val."""
    from .classifier import Classifier

    classifier = Classifier.load(out)
    if resave:
        # Re-save from the freshly built float32 model: drops the optimizer state from the shipped file.
        classifier.keras_model.save_weights(out / WEIGHTS_FILE)
    scores, figures = {}, {}
    choices = [views] if views else [v for v in VIEW_CHOICES if v <= min(max(1, max_views), classifier.max_views)]
    for count in choices:
        classifier.tta_views = count
        logits = classifier.logits(val.images, val.meta)
        temperature = fit_temperature(logits, val.labels)
        metrics = compute_metrics(val.labels, softmax(logits, temperature))
        scores[count] = (selection_score(metrics), temperature)
        figures[str(count)] = {k: metrics[k] for k in ("balanced_accuracy", "macro_auc", "melanoma_auc", "ece")}
        shown = " ".join(f"{k}={v}" for k, v in figures[str(count)].items())
        log(f"test-time views {count}: T={temperature:.3f} {shown}")
    # Fewer views win ties: they cost less at serving time.
    views = max(scores, key=lambda v: (scores[v][0], -v))
    config.update(
        tta_views=views, temperature=scores[views][1], weights_sha256=weights_checksum(out), tta_choices=figures
    )
    classifier.tta_views = views
    probs = softmax(classifier.logits(val.images, val.meta), scores[views][1])
    config["operating_point"] = operating_point(
        val.labels,
        probs,
        referral_threshold(val.labels, probs),
        groups=[r.lesion_id or r.image_id for r in val.records],
    )
    log(
        f"referral threshold {config['operating_point']['threshold']:.4f}: malignant sensitivity "
        f"{config['operating_point']['malignant_sensitivity']:.3f}, specificity "
        f"{config['operating_point']['malignant_specificity']:.3f}"
    )
    return config


# The share of val images the embedding gate lets through (the rest are refused as unlike the training data).
GATE_VAL_QUANTILE = 0.985


def fit_gate(model_dir: Path, train: Arrays, val: Arrays, log=lambda msg: None) -> dict:
    """Fit the gate's embedding Gaussian on train and its threshold on val; writes gate.npz and records the
    gate in config.json. Returns the gate's figures on val."""
    from .classifier import Classifier
    from .gate import EmbeddingGate

    classifier = Classifier.load(model_dir)
    classifier.tta_views = 1  # the gate looks at the image as given
    _, train_embeddings = classifier.outputs(train.images, train.meta)
    _, val_embeddings = classifier.outputs(val.images, val.meta)
    gate = EmbeddingGate.fit(train_embeddings, val_embeddings, GATE_VAL_QUANTILE)
    gate.save(model_dir)
    config = read_config(model_dir)
    config["gate"] = {
        "embedding": "global-average-pooled backbone features",
        "dimensions": int(gate.mean.shape[0]),
        "distance": "Mahalanobis, Ledoit-Wolf shrinkage, fitted on train",
        "threshold": gate.threshold,
        "val_quantile": GATE_VAL_QUANTILE,
    }
    write_config(model_dir, config)
    log(f"gate threshold {gate.threshold:.2f} (val quantile {GATE_VAL_QUANTILE})")
    return config["gate"]
