"""The mlcore command line: train, evaluate, predict, bench, reference."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from .errors import DataError, ImageError, ModelError


def _cmd_train(args) -> int:
    from .model import Architecture
    from .train import TrainOptions, train

    architecture = None
    if args.blocks or args.widths:
        default = Architecture(image_size=args.image_size)
        architecture = Architecture(
            image_size=args.image_size,
            blocks=tuple(args.blocks or default.blocks),
            widths=tuple(args.widths or default.widths),
        )
        if len(architecture.blocks) != len(architecture.widths):
            raise DataError("--blocks and --widths need one number per stage each")
    metrics = train(
        TrainOptions(
            data=args.data,
            out=args.out,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            image_size=args.image_size,
            class_weight_power=args.class_weight_power,
            mixed_precision=not args.float32,
            seed=args.seed,
            version=args.version,
            name=args.name,
            architecture=architecture,
            init_from=args.init_from,
            backbone=args.backbone,
            trainable_from_block=args.trainable_from_block,
            max_views=args.max_views,
            show_progress=not args.quiet,
            command=args.invocation,
        )
    )
    print(json.dumps({k: metrics[k] for k in ("balanced_accuracy", "melanoma_auc", "malignant_auc", "ece")}, indent=2))
    return 0


def _cmd_ensemble(args) -> int:
    from .ensemble import build_ensemble

    metrics = build_ensemble(
        args.members,
        args.data,
        args.out,
        name=args.name,
        version=args.version,
        command=args.invocation,
        show_progress=not args.quiet,
        max_views=args.max_views,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    print(json.dumps({k: metrics[k] for k in ("balanced_accuracy", "melanoma_auc", "malignant_auc", "ece")}, indent=2))
    return 0


def _cmd_calibrate(args) -> int:
    from .train import recalibrate

    metrics = recalibrate(
        args.model,
        args.data,
        max_views=args.max_views,
        views=args.views,
        show_progress=not args.quiet,
        command=args.invocation,
    )
    print(json.dumps({k: metrics[k] for k in ("balanced_accuracy", "melanoma_auc", "malignant_auc", "ece")}, indent=2))
    return 0


def _cmd_gate(args) -> int:
    from .train import refit_gate

    metrics = refit_gate(args.model, args.data, show_progress=not args.quiet)
    print(
        json.dumps(
            {
                "val_assessable_rate": metrics["assessable_rate"],
                **{f"{name}_refused_rate": metrics["gate"][name]["refused_rate"] for name in ("not_skin", "unusable")},
            },
            indent=2,
        )
    )
    return 0


def _cmd_evaluate(args) -> int:
    from .evaluate import evaluate

    metrics = evaluate(args.data, args.out, model_dir=args.model, split=args.split, show_progress=not args.quiet)
    for problem in metrics["skipped"]:
        print(f"skipped {problem}", file=sys.stderr)
    summary = {
        k: metrics[k]
        for k in (
            "n_images",
            "accuracy",
            "balanced_accuracy",
            "macro_auc",
            "melanoma_auc",
            "malignant_auc",
            "ece",
            "assessable_rate",
            "model_version",
        )
    }
    if metrics["operating_point"]:
        summary["operating_point"] = {
            k: metrics["operating_point"][k]
            for k in (
                "threshold",
                "malignant_sensitivity",
                "malignant_specificity",
                "melanoma_sensitivity",
                "melanoma_specificity",
            )
        }
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_predict(args) -> int:
    from .classifier import Classifier
    from .preprocess import LesionInput

    classifier = Classifier.load(args.model)
    if args.heatmap:
        args.heatmap.mkdir(parents=True, exist_ok=True)
    rows, failed = [], 0
    for path in args.images:
        try:
            [result] = classifier.predict(
                [LesionInput(image=path, age=args.age, sex=args.sex, site=args.site)], heatmap=bool(args.heatmap)
            )
        except ImageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        row = {"image": str(path), **result.as_dict()}
        if args.heatmap:
            heatmap_path = args.heatmap / f"{Path(path).stem}_heatmap.png"
            heatmap_path.write_bytes(result.heatmap_png)
            row["heatmap"] = str(heatmap_path)
        rows.append(row)
        if not args.json:
            top = ", ".join(f"{c} {p:.2f}" for c, p in sorted(result.probabilities.items(), key=lambda x: -x[1])[:3])
            if result.assessable is False:
                verdict = "CANNOT ASSESS (" + "; ".join(r["message"] for r in result.reasons) + "); "
            elif result.refer is not None:
                verdict = "REFER (suspicious for a malignant lesion); " if result.refer else "routine follow-up; "
            else:
                verdict = ""
            print(
                f"{path}: {verdict}{result.top_class} ({result.top_probability:.2f}); malignancy risk "
                f"{result.malignancy_risk:.2f}; top 3: {top}"
            )
    if args.json:
        print(json.dumps(rows, indent=2))
    return 1 if failed else 0


def _cmd_bench(args) -> int:
    from .bench import run_bench

    figures = run_bench(args.model, single_runs=args.runs, batch_size=args.batch_size, views=args.views)
    if not args.json:
        print(f"model {figures['model_version']} (test-time views: {figures['tta_views']})", file=sys.stderr)
        print(
            f"single-image latency p50 {figures['single_image_latency_ms']['p50']:.1f} ms, "
            f"p95 {figures['single_image_latency_ms']['p95']:.1f} ms",
            file=sys.stderr,
        )
        print(
            f"batch throughput {figures['batch_throughput_images_per_s']['median']:.0f} images/s "
            f"(batch {args.batch_size})",
            file=sys.stderr,
        )
        print(
            f"with heatmap p50 {figures['single_image_with_heatmap_ms']['p50']:.1f} ms; "
            f"peak RSS {figures['peak_rss_mb']:.0f} MB",
            file=sys.stderr,
        )
    print(json.dumps(figures, indent=2))
    return 0


def _cmd_reference(args) -> int:
    from .classifier import Classifier
    from .reference import build_index

    classifier = Classifier.load(args.model)
    split = None if args.split == "all" else args.split
    path = build_index(
        classifier,
        args.data,
        args.out,
        split=split,
        show_progress=not args.quiet,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    info = json.loads((path / "index.json").read_text())
    print(
        json.dumps(
            {"index": str(path), **{k: info[k] for k in ("model_version", "count", "split", "seconds")}}, indent=2
        )
    )
    return 0


def _image_size(value: str) -> int | tuple[int, int]:
    try:
        parts = [int(v) for v in value.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 32:
        raise argparse.ArgumentTypeError(f"{value}: expected a side such as 96 or HxW such as 192x256 (>= 32)")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def _existing_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: no such directory")
    return path


def _add_max_views(parser) -> None:
    parser.add_argument(
        "--max-views",
        type=int,
        choices=[1, 2, 4, 8],
        default=8,
        help="most test-time views (flips/rotations) calibration may choose; each costs a "
        "forward pass when serving (default 8)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlcore", description="SkinClinic lesion classifier.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train, select and calibrate a model; writes the model directory and card")
    p.add_argument("--data", type=_existing_dir, required=True, help="directory in the HAM10000 layout")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument(
        "--image-size",
        type=_image_size,
        default=96,
        metavar="SIDE|HxW",
        help="model input: a square side (96) or height x width (192x256); default 96",
    )
    p.add_argument(
        "--backbone",
        choices=["resnet", "efficientnet_lite0"],
        default="resnet",
        help="efficientnet_lite0: fine-tune EfficientNet-Lite0 from its ImageNet weights "
        "(needs requirements-train.txt); resnet: a small CNN from scratch (default)",
    )
    p.add_argument(
        "--trainable-from-block",
        type=int,
        default=0,
        metavar="N",
        help="efficientnet_lite0: keep the stem and blocks 0..N-1 frozen (default 0: train all)",
    )
    p.add_argument(
        "--class-weight-power",
        type=float,
        default=0.5,
        help="loss weight per class (n_max/n_class)^power; 1 = fully balanced, 0 = none",
    )
    p.add_argument("--blocks", type=int, nargs="+", metavar="N", help="residual blocks per stage (default 1 1 1 1)")
    p.add_argument("--widths", type=int, nargs="+", metavar="C", help="channels per stage (default 32 64 128 256)")
    p.add_argument(
        "--init-from",
        type=_existing_dir,
        metavar="MODEL_DIR",
        help="fine-tune: start from this model's weights (e.g. at a larger --image-size)",
    )
    p.add_argument("--float32", action="store_true", help="train in float32 instead of mixed bfloat16")
    _add_max_views(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="skinclinic-ham10000-cnn")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "gate",
        help="fit a trained model's gate for images it cannot assess again (embedding "
        "statistics on train, threshold on val) and rewrite its metrics and card",
    )
    p.add_argument("model", type=_existing_dir, help="trained model directory")
    p.add_argument("--data", type=_existing_dir, required=True, help="the training data (train and val splits)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_gate)

    p = sub.add_parser("ensemble", help="average trained models; calibrates on val and writes the model card")
    p.add_argument("members", nargs="+", type=_existing_dir, help="trained model directories")
    p.add_argument("--data", type=_existing_dir, required=True, help="the training data (its val split calibrates)")
    _add_max_views(p)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name", default="skinclinic-ham10000-cnn")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_ensemble)

    p = sub.add_parser(
        "calibrate",
        help="choose a trained model's test-time views and temperature on val again; "
        "rewrites its config, metrics and card",
    )
    p.add_argument("model", type=_existing_dir, help="trained model directory (changed in place)")
    p.add_argument("--data", type=_existing_dir, required=True, help="the training data (its val split calibrates)")
    views = p.add_mutually_exclusive_group()
    _add_max_views(views)
    views.add_argument(
        "--views",
        type=int,
        choices=[1, 2, 4, 8],
        help="use exactly this many test-time views instead of choosing (e.g. to keep a serving cost)",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser("evaluate", help="evaluate a model; writes OUT/metrics.json and plots")
    p.add_argument("--data", type=_existing_dir, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--model", type=Path, help="model directory (default: the shipped model)")
    p.add_argument("--split", help="evaluate only this split (e.g. val)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="classify images")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--model", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--heatmap", type=Path, metavar="OUT_DIR", help="write Grad-CAM overlays here")
    p.add_argument("--age", type=float)
    p.add_argument("--sex", choices=["male", "female"])
    p.add_argument("--site", help="anatomic site (HAM10000 localization)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "reference",
        help="build the similar-cases index of a model (embeddings and thumbnails "
        "of a reference set) under OUT/<model version>/",
    )
    p.add_argument(
        "--data",
        type=_existing_dir,
        required=True,
        help="reference images in the HAM10000 layout (metadata.csv with dx and dx_type, images/)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("var/reference"),
        help="the reference root the app reads (its REFERENCE_DIR; default var/reference)",
    )
    p.add_argument("--model", type=Path, help="model directory (default: the shipped model)")
    p.add_argument("--split", default="train", help="the split to index, or 'all' (default train)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_reference)

    p = sub.add_parser("bench", help="inference latency, throughput and memory; prints JSON")
    p.add_argument("--model", type=Path)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--views",
        type=int,
        choices=[1, 2, 4, 8],
        help="measure with this many test-time views instead of the model's own",
    )
    p.add_argument("--json", action="store_true", help="print only JSON")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    # Recorded in model configs, so a model says how it was made.
    args.invocation = "python -m mlcore " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except (DataError, ImageError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
