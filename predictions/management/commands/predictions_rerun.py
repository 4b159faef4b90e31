"""Re-run stored images on a model version (default: the active one), keep both results, report the differences."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from predictions import inference
from predictions.models import Clinic, LesionImage, ModelVersion
from predictions.selectors import model_version_active, model_version_get, prediction_version_diff
from predictions.services.reruns import predictions_rerun

from ._governance import actor_from, add_actor_argument


class Command(BaseCommand):
    help = (
        "Run every stored image that has no result of the model version yet through it (in this process), "
        "keeping the older versions' results. Reports changed top classes and risk bands; changed cases "
        "go to the review queue."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model-version", dest="identifier", help="name:version (default: the active version)")
        parser.add_argument(
            "--from", dest="from_version", help="compare with this version (default: each image's newest other result)"
        )
        parser.add_argument("--clinic", help="only this clinic's images (its slug)")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--report-only", action="store_true", help="run nothing; report the stored differences")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print the report as JSON")
        parser.add_argument("--show", type=int, default=50, help="list at most this many changed images")
        add_actor_argument(parser)

    def handle(
        self,
        *args,
        identifier=None,
        from_version=None,
        clinic=None,
        batch_size=32,
        report_only=False,
        as_json=False,
        show=50,
        **options,
    ):
        version = self._version(identifier)
        images = LesionImage.objects.all()
        if clinic:
            if not Clinic.objects.filter(slug=clinic).exists():
                raise CommandError(f"--clinic {clinic}: no such clinic")
            images = images.filter(lesion__patient__clinic__slug=clinic)
        run = None
        if not report_only:
            classifier = inference.classifier_get(version.identifier)
            try:
                run = predictions_rerun(
                    actor=actor_from(options),
                    model_version=version,
                    classifier=classifier,
                    images=images,
                    batch_size=batch_size,
                    progress=self._progress,
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
        diff = prediction_version_diff(to_version=version.identifier, images=images, from_version=from_version)
        summary = diff.summary()
        changed = [{"image_id": row.image_id, "from_version": row.from_version, **row.diff} for row in diff.changed]
        if run is not None:
            summary.update(
                images_run=run.images,
                succeeded=run.succeeded,
                failed=run.failed,
                errors=run.errors,
                cases_queued=run.cases_opened,
            )
        if as_json:
            self.stdout.write(json.dumps({"summary": summary, "changed": changed}, indent=2, sort_keys=True))
        else:
            self._print(summary, changed, show)
        if run is not None and run.errors:
            raise CommandError(f"{len(run.errors)} batch(es) failed and went back to the queue.")

    def _version(self, identifier):
        if identifier is None:
            version = model_version_active()
            if version is None:
                raise CommandError("The registry is empty: register a model with model_register first.")
            return version
        try:
            return model_version_get(identifier=identifier)
        except ModelVersion.DoesNotExist as exc:
            raise CommandError(f"{identifier} is not registered.") from exc

    def _progress(self, done, total):
        self.stderr.write(f"\r{done}/{total} images", ending="")
        if done == total:
            self.stderr.write("")

    def _print(self, summary, changed, show):
        write = self.stdout.write
        if "images_run" in summary:
            write(
                f"Ran {summary['images_run']} image(s) on {summary['to_version']}: {summary['succeeded']} succeeded, "
                f"{summary['failed']} failed; {summary['cases_queued']} case(s) queued for review."
            )
        write(
            f"Compared {summary['compared']} image(s) with an earlier result: {summary['unchanged']} unchanged, "
            f"{summary['top_class_changed']} changed top class, {summary['band_changed']} changed risk band."
        )
        for label, key in (("Top class", "top_class_transitions"), ("Risk band", "band_transitions")):
            for transition, count in summary[key].items():
                write(f"  {label} {transition}: {count}")
        for row in changed[:show]:
            write(
                f"  image {row['image_id']}: {row['from_version']} {row['from_top_class']}/{row['from_band']} -> "
                f"{row['to_top_class']}/{row['to_band']}"
            )
        if len(changed) > show:
            write(f"  … and {len(changed) - show} more (--show, --json)")
