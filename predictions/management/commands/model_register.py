"""Register a model directory (or the shipped model) in the model registry."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from predictions.services.registry import model_version_register

from ._governance import actor_from, add_actor_argument

HEADLINE = ("balanced_accuracy", "accuracy", "macro_auc", "melanoma_auc", "malignant_auc", "ece")


class Command(BaseCommand):
    help = (
        "Register a model directory (config.json, weights, MODEL_CARD.md, metrics.json) in the registry. "
        "Without a directory: the model shipped in mlcore. The first version registered becomes active."
    )

    def add_arguments(self, parser):
        parser.add_argument("model_dir", nargs="?", help="the model directory (default: the shipped model)")
        parser.add_argument("--activate", action="store_true", help="also make it the active version")
        add_actor_argument(parser)

    def handle(self, *args, model_dir=None, activate=False, **options):
        try:
            version, created = model_version_register(actor=actor_from(options), model_dir=model_dir, activate=activate)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{'Registered' if created else 'Already registered'}: "
                f"{version.identifier}{' (active)' if version.is_active else ''}"
            )
        )
        self.stdout.write(f"weights SHA-256 {version.checksum}")
        figures = ", ".join(
            f"{key} {version.metrics[key]:.3f}"
            for key in HEADLINE
            if isinstance(version.metrics.get(key), (int, float))
        )
        if figures:
            self.stdout.write(f"val: {figures}")
