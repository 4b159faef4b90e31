"""The model card says how every network was made, fine-tuned ensemble members included."""

from mlcore.card import render_model_card
from mlcore.labels import CLASSES
from mlcore.model import Architecture


def _training(seconds, seed, **extra):
    return {
        "epochs": 10,
        "best_epoch": 9,
        "batch_size": 64,
        "learning_rate": 0.003,
        "weight_decay": 1e-4,
        "class_weight_power": 0.5,
        "meta_dropout": 0.15,
        "seed": seed,
        "mixed_precision": True,
        "command": f"python -m mlcore train --seed {seed}",
        "seconds": seconds,
        **extra,
    }


def _metrics():
    per_class = {c: {"support": 1, "precision": 0.5, "recall": 0.5, "f1": 0.5, "auc": 0.9} for c in CLASSES}
    return {
        "n_images": 7,
        "balanced_accuracy": 0.7,
        "accuracy": 0.8,
        "macro_auc": 0.9,
        "melanoma_auc": 0.87,
        "malignant_auc": 0.91,
        "ece": 0.03,
        "per_class": per_class,
    }


def test_card_of_an_ensemble_of_fine_tuned_members_names_each_starting_point_and_counts_all_training_time():
    arch = Architecture(image_size=128).to_dict()
    members = [
        {"architecture": arch, **_training(600, seed=2, init_from=_training(1800, seed=0))},
        {"architecture": arch, **_training(1200, seed=8, init_from=_training(2400, seed=7))},
    ]
    config = {
        "name": "m",
        "version": "2",
        "members": ["members/m1", "members/m2"],
        "architecture": arch,
        "temperature": 0.9,
        "tta_views": 4,
        "training": {
            "n_train": 5,
            "n_val": 7,
            "train_class_counts": {c: 1 for c in CLASSES},
            "command": "python -m mlcore ensemble a b",
            "members": members,
        },
    }
    card = render_model_card(config, _metrics())
    assert "Member 1, starting point: " in card and "--seed 0" in card and "--seed 7" in card
    assert "Member 2, then fine-tuned: " in card
    assert "Wall time 100 min" in card  # (600 + 1800 + 1200 + 2400) s
    assert "melanoma_auc | >= 0.92 | 0.870 | **not met**" in card
    assert "Low-resolution input (128x128 px)" in card
