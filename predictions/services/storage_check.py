"""Files and records kept in step: stored files no record names, and records whose file is gone.

Uploads and heatmaps are written before the transaction that records them commits and removed if it
rolls back (services.files), so neither should happen; a process killed between the write and the
commit, a restored backup, or a hand-edited disk can still leave either. The operator's command
`manage.py storage_check` reports them and, with --remove, removes the orphans.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.core.files.storage import Storage, default_storage
from django.db import transaction
from django.utils import timezone

from ..models import HeatmapStatus, LesionImage, Prediction, PredictionHeatmap
from ..models.audit import AuditAction
from .audit import audit_record

# Where the app writes (models.records.lesion_image_path, models.predictions.heatmap_name, class_heatmap_name).
STORED_FOLDERS = ("lesion-images", "heatmaps")
# A file younger than this may belong to an upload whose transaction has not committed yet: never removed.
ORPHAN_GRACE = datetime.timedelta(hours=1)


@dataclass
class StorageReport:
    orphan_files: list[str] = field(default_factory=list)  # stored, named by no record
    young_orphans: list[str] = field(default_factory=list)  # named by no record yet, within the grace period
    missing_images: list[int] = field(default_factory=list)  # LesionImage ids whose photograph is gone
    missing_heatmaps: list[int] = field(default_factory=list)  # Prediction ids whose stored heatmap is gone
    # PredictionHeatmap ids (the evidence for other classes than the top one) whose stored file is gone
    missing_class_heatmaps: list[int] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    heatmaps_requeued: list[int] = field(default_factory=list)
    class_heatmaps_requeued: list[int] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        unresolved = set(self.orphan_files) - set(self.removed)
        return not (
            unresolved
            or self.missing_images
            or set(self.missing_heatmaps) - set(self.heatmaps_requeued)
            or set(self.missing_class_heatmaps) - set(self.class_heatmaps_requeued)
        )


def _listed(storage: Storage, folder: str) -> set[str]:
    if not storage.exists(folder):
        return set()
    directories, files = storage.listdir(folder)
    names = {f"{folder}/{name}" for name in files}
    for directory in directories:
        names |= _listed(storage, f"{folder}/{directory}")
    return names


def storage_check(
    *, remove: bool = False, now: datetime.datetime | None = None, storage: Storage | None = None
) -> StorageReport:
    """Compare the stored files with the records that name them.

    With `remove`, orphan files older than ORPHAN_GRACE are deleted (audited, by name only), and
    heatmaps whose file is missing are set pending again so the sweep draws them anew. A photograph
    whose file is missing cannot be made again: it is reported, for a restore from backup.
    """
    storage = storage or default_storage
    now = now or timezone.now()
    stored = set().union(*(_listed(storage, folder) for folder in STORED_FOLDERS))
    images = dict(LesionImage.objects.values_list("file", "id"))
    heatmaps = dict(Prediction.objects.exclude(heatmap="").values_list("heatmap", "id"))
    class_heatmaps = dict(PredictionHeatmap.objects.exclude(file="").values_list("file", "id"))
    report = StorageReport()
    for name in sorted(stored - images.keys() - heatmaps.keys() - class_heatmaps.keys()):
        young = storage.get_modified_time(name) > now - ORPHAN_GRACE
        (report.young_orphans if young else report.orphan_files).append(name)
    report.missing_images = sorted(pk for name, pk in images.items() if name not in stored and not storage.exists(name))
    report.missing_heatmaps = sorted(
        pk for name, pk in heatmaps.items() if name not in stored and not storage.exists(name)
    )
    report.missing_class_heatmaps = sorted(
        pk for name, pk in class_heatmaps.items() if name not in stored and not storage.exists(name)
    )
    if remove:
        _repair(report, storage)
    return report


@transaction.atomic
def _repair(report: StorageReport, storage: Storage) -> None:
    for name in report.orphan_files:
        storage.delete(name)
        report.removed.append(name)
    if report.missing_heatmaps:
        Prediction.objects.filter(id__in=report.missing_heatmaps).update(
            heatmap="", heatmap_status=HeatmapStatus.PENDING, heatmap_attempts=0, heatmap_queued_at=None
        )
        report.heatmaps_requeued = list(report.missing_heatmaps)
    if report.missing_class_heatmaps:
        PredictionHeatmap.objects.filter(id__in=report.missing_class_heatmaps).update(
            file="", status=HeatmapStatus.PENDING, attempts=0, queued_at=None
        )
        report.class_heatmaps_requeued = list(report.missing_class_heatmaps)
    if report.removed or report.heatmaps_requeued or report.class_heatmaps_requeued:
        # System-wide: an orphan names no record, so no clinic; its name is all that is known of it.
        audit_record(
            actor=None,
            clinic=None,
            action=AuditAction.STORAGE_REPAIR,
            target_type="storage",
            target_id="default",
            data={
                "removed_files": report.removed,
                "heatmaps_requeued": report.heatmaps_requeued,
                "class_heatmaps_requeued": report.class_heatmaps_requeued,
            },
        )
