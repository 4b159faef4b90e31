"""Report stored files that no record names and records whose file is missing; --remove removes the orphans."""

from django.core.management.base import BaseCommand, CommandError

from predictions.services.storage_check import ORPHAN_GRACE, storage_check


class Command(BaseCommand):
    help = (
        "Compare the stored images and heatmaps with the records that name them. Reports orphan files "
        "(no record names them) and records whose file is missing; exits 1 while any remains. --remove "
        f"deletes orphans older than {ORPHAN_GRACE} and has missing heatmaps drawn again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--remove",
            action="store_true",
            help="delete orphan files (audited) and queue missing heatmaps to be drawn again",
        )

    def handle(self, *args, remove=False, **options):
        report = storage_check(remove=remove)
        for name in report.orphan_files:
            state = "removed" if name in report.removed else "orphan"
            self.stdout.write(f"{state}: {name} (no record names it)")
        for name in report.young_orphans:
            self.stdout.write(f"recent: {name} (no record yet; left alone for {ORPHAN_GRACE})")
        for pk in report.missing_images:
            self.stdout.write(f"missing: the photograph of image {pk} (restore it from a backup)")
        for pk in report.missing_heatmaps:
            state = "requeued" if pk in report.heatmaps_requeued else "missing"
            self.stdout.write(f"{state}: the heatmap of prediction {pk}")
        for pk in report.missing_class_heatmaps:
            state = "requeued" if pk in report.class_heatmaps_requeued else "missing"
            self.stdout.write(f"{state}: the class heatmap {pk}")
        summary = (
            f"{len(report.orphan_files)} orphan file(s), {len(report.removed)} removed; "
            f"{len(report.missing_images)} image(s) and "
            f"{len(report.missing_heatmaps) + len(report.missing_class_heatmaps)} heatmap(s) missing "
            f"their file"
        )
        if not report.clean:
            raise CommandError(summary + ("" if remove else "; run with --remove to remove the orphans"))
        self.stdout.write(self.style.SUCCESS(summary))
