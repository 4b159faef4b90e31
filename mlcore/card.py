"""The model card: what the shipped model is, how it was made and how well it does on val."""
from __future__ import annotations

from pathlib import Path

from .labels import CLASS_NAMES, CLASSES
from .modeldir import CARD_FILE


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# SkinClinic's acceptance floor for a shipped model, on val.
FLOORS = (("balanced_accuracy", ">=", 0.65), ("melanoma_auc", ">=", 0.88), ("malignant_auc", ">=", 0.88),
          ("ece", "<=", 0.06))


def floor_table(metrics: dict) -> str:
    rows = []
    for key, op, floor in FLOORS:
        value = metrics[key]
        met = value is not None and (value >= floor if op == ">=" else value <= floor)
        rows.append(f"| {key} | {op} {floor} | {_fmt(value)} | {'met' if met else '**not met**'} |")
    return "| metric | floor | val | |\n|---|---|---|---|\n" + "\n".join(rows)


def _architecture_line(arch: dict) -> str:
    return (f"residual CNN from scratch (no pretrained weights), input {arch['image_size']}x{arch['image_size']} RGB, "
            f"stem width {arch['stem_width']}, stage widths {list(arch['widths'])}, blocks {list(arch['blocks'])}")


def _training_line(training: dict) -> str:
    return (f"{training['epochs']} epochs (best val epoch {training['best_epoch']}), batch {training['batch_size']}, "
            f"AdamW lr {training['learning_rate']} with cosine decay, weight decay {training['weight_decay']}, "
            f"class loss weights (n_max / n_class) ^ {training['class_weight_power']}, metadata blanked at random "
            f"(p={training['meta_dropout']}), seed {training['seed']}, mixed bfloat16: {training['mixed_precision']}; "
            f"command `{training.get('command') or 'python -m mlcore train'}`")


def _training_lines(training: dict, prefix: str = "") -> tuple[str, float]:
    """How one network was trained (its starting point too, when fine-tuned), and its minutes of training."""
    minutes = training.get("seconds", 0) / 60
    parent = training.get("init_from")
    if not parent:
        return f"- {prefix}{_training_line(training)}", minutes
    minutes += parent.get("seconds", 0) / 60
    return (f"- {(prefix + 'starting point').capitalize()}: {_training_line(parent)}\n"
            f"- {(prefix + 'then fine-tuned').capitalize()}: {_training_line(training)}"), minutes


def _views_line(config: dict) -> str:
    """The val figures of each test-time view count calibration tried: the cost-accuracy trade it made."""
    choices = config.get("tta_choices")
    if not choices:
        return ""
    tried = "; ".join(f"{views}: balanced accuracy {_fmt(m['balanced_accuracy'])}, melanoma AUC "
                      f"{_fmt(m['melanoma_auc'])}" for views, m in choices.items())
    redone = config.get("calibration_command")
    again = f"\n  Views and temperature chosen again by `{redone}`." if redone else ""
    return f"\n  Views tried on val: {tried}.{again}"


def render_model_card(config: dict, metrics: dict) -> str:
    arch = config["architecture"]
    training = config["training"]
    members = training.get("members") or [{"architecture": arch, **training}]
    if config.get("members"):
        design = (f"- An ensemble of {len(members)} networks whose logits are averaged:\n"
                  + "\n".join(f"  - member {i}: {_architecture_line(m['architecture'])}" for i, m in enumerate(members, 1)))
        parts = [_training_lines(m, prefix=f"member {i}, ") for i, m in enumerate(members, 1)]
        how = ("\n".join(text for text, _ in parts)
               + f"\n- Ensemble and calibration: `{training.get('command') or 'python -m mlcore ensemble'}`")
        minutes = sum(m for _, m in parts)
    else:
        design = f"- Architecture: {_architecture_line(arch)}."
        how, minutes = _training_lines(training)
    per_class = "\n".join(
        f"| {c} | {CLASS_NAMES[c]} | {m['support']} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | "
        f"{_fmt(m['f1'])} | {_fmt(m['auc'])} |"
        for c, m in ((c, metrics["per_class"][c]) for c in CLASSES)
    )
    counts = ", ".join(f"{c} {n}" for c, n in training["train_class_counts"].items())
    return f"""# Model card: {config['name']} {config['version']}

**Decision support only, not a diagnosis.** This model estimates how much a dermatoscopic image resembles
each of seven lesion classes. A clinician decides; the model never does.

## Model
- Version string stored with every prediction: `{config['name']}:{config['version']}`;
  weights SHA-256 `{config.get('weights_sha256', 'n/a')}`.
{design}
- Preprocessing (one function for training, evaluation and serving): EXIF orientation applied, RGB, centre
  square crop, bilinear resize; age, sex and anatomic site join after global pooling (each may be missing).
- Augmentation: flips, 90° rotations, scale crops, brightness/contrast/saturation/hue jitter.
- Calibration: temperature scaling on val, T = {config['temperature']:.3f}. Test-time augmentation: logits averaged over {config.get('tta_views', 1)} flipped/rotated view(s).{_views_line(config)}
- Heatmaps: Grad-CAM on the last convolutional block (computed in closed form for the pooled linear head).

## Data
- HAM10000 (Tschandl, Rosendahl, Kittler, *Sci. Data* 5, 180161, 2018, doi:10.1038/sdata.2018.161),
  licensed CC BY-NC-SA 4.0; this model is a derivative work under the same licence.
- Images downsampled to 200x150. Split by lesion (all images of a lesion on one side):
  train {training['n_train']} images ({counts}); val {training['n_val']} images, used for epoch selection and calibration.

## Training
{how}
- Wall time {minutes:.0f} min of training on a 2-core CPU (no GPU), shared with other work while it ran.

## Val metrics ({metrics['n_images']} images, `python -m mlcore evaluate --split val`)
| metric | value |
|---|---|
| balanced accuracy (mean recall) | {_fmt(metrics['balanced_accuracy'])} |
| accuracy | {_fmt(metrics['accuracy'])} |
| macro AUC | {_fmt(metrics['macro_auc'])} |
| melanoma AUC (mel vs rest) | {_fmt(metrics['melanoma_auc'])} |
| malignant AUC (mel+bcc+akiec vs rest) | {_fmt(metrics['malignant_auc'])} |
| ECE (15 bins, top class) | {_fmt(metrics['ece'])} |

| class | name | support | precision | recall | F1 | AUC |
|---|---|---|---|---|---|---|
{per_class}

Acceptance floor:

{floor_table(metrics)}

Plots: `confusion_matrix.png`, `roc_curves.png`, `reliability.png`; figures in `metrics.json`.
Val was used to pick the epoch, the test-time views and the temperature, so these figures are slightly
optimistic.

## Intended use and limits
- Intended: second opinion for clinicians reviewing dermatoscopic images of pigmented lesions, in a
  workflow where every result is reviewed by a person.
- Not intended: screening without a clinician, non-dermatoscopic photos, non-pigmented or mucosal lesions,
  children, or any class outside the seven above.
- HAM10000 comes mostly from fair-skinned patients in Austria and Australia; performance on darker skin
  types, other devices and other populations is unknown. Rare classes (df, vasc, akiec) have few val images,
  so their figures are uncertain. Low-resolution input ({arch['image_size']} px) loses fine structure.
"""


def write_model_card(model_dir: Path, config: dict, metrics: dict) -> Path:
    path = Path(model_dir) / CARD_FILE
    path.write_text(render_model_card(config, metrics))
    return path
