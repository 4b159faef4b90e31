"""Make a registered model version the one the workers run."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from predictions.models import ModelVersion
from predictions.selectors import model_version_active, model_version_get
from predictions.services.registry import model_version_activate

from ._governance import actor_from, add_actor_argument


class Command(BaseCommand):
    help = (
        "Activate a registered model version (name:version). Stored results stay as they are; "
        "run predictions_rerun to add the new version's results and see what changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("identifier", help="name:version of a registered model")
        add_actor_argument(parser)

    def handle(self, *args, identifier, **options):
        try:
            version = model_version_get(identifier=identifier)
        except ModelVersion.DoesNotExist as exc:
            known = ", ".join(ModelVersion.objects.values_list("identifier", flat=True)) or "none"
            raise CommandError(
                f"{identifier} is not registered (registered: {known}); use model_register first."
            ) from exc
        previous = model_version_active()
        try:
            version = model_version_activate(actor=actor_from(options), model_version=version)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if previous is not None and previous.pk == version.pk:
            self.stdout.write(f"{version.identifier} is already the active version.")
            return
        self.stdout.write(
            self.style.SUCCESS(f"Active: {version.identifier} (was {previous.identifier if previous else 'none'}).")
        )
        self.stdout.write("Stored results are unchanged; `manage.py predictions_rerun` re-runs stored images on it.")
