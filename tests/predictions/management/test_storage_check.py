"""`manage.py storage_check`: stored files no record names, records whose file is gone, and the repair."""

import io
import os
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from predictions.models import AuditEvent, HeatmapStatus, Prediction

from ..factories import LesionImageFactory, PredictionFactory

pytestmark = pytest.mark.django_db


def check(*args) -> tuple[str, bool]:
    out = io.StringIO()
    try:
        call_command("storage_check", *args, stdout=out)
    except CommandError as failed:
        return out.getvalue() + str(failed), False
    return out.getvalue(), True


def aged(path, hours=2):
    past = time.time() - hours * 3600
    os.utime(path, (past, past))
    return path


def test_a_store_in_step_with_its_records_is_reported_clean(media_root):
    prediction = PredictionFactory()
    prediction.heatmap.save("h.png", io.BytesIO(b"\x89PNG"), save=False)
    Prediction.objects.filter(pk=prediction.pk).update(heatmap=prediction.heatmap.name, heatmap_status="stored")
    output, ok = check()
    assert ok and "0 orphan file(s)" in output


def test_orphans_and_missing_files_are_reported_and_only_old_orphans_are_removed(media_root):
    kept = LesionImageFactory()
    lost = LesionImageFactory()
    (media_root / lost.file.name).unlink()  # a record whose photograph is gone
    drawn = PredictionFactory(image=kept)
    Prediction.objects.filter(pk=drawn.pk).update(
        status="succeeded",
        heatmap="heatmaps/gone.png",
        heatmap_status="stored",
        probabilities={"mel": 1.0},
        top_class="mel",
        malignancy_risk=1.0,
        finished_at=drawn.queued_at,
    )
    orphan_image = media_root / "lesion-images" / "left-by-a-crash.jpg"
    orphan_image.write_bytes(b"\xff\xd8 a patient photograph no record names")
    aged(orphan_image)
    orphan_heatmap = media_root / "heatmaps" / "old-retry.png"
    orphan_heatmap.parent.mkdir(exist_ok=True)
    orphan_heatmap.write_bytes(b"\x89PNG")
    aged(orphan_heatmap)
    in_flight = media_root / "lesion-images" / "uploading-now.jpg"
    in_flight.write_bytes(b"\xff\xd8 an upload whose transaction has not committed yet")

    output, ok = check()
    assert not ok
    assert "orphan: lesion-images/left-by-a-crash.jpg" in output and "orphan: heatmaps/old-retry.png" in output
    assert "recent: lesion-images/uploading-now.jpg" in output
    assert f"missing: the photograph of image {lost.pk}" in output
    assert f"missing: the heatmap of prediction {drawn.pk}" in output
    assert orphan_image.exists() and orphan_heatmap.exists()  # a report changes nothing

    output, ok = check("--remove")
    assert not ok  # the lost photograph cannot be made again: it stays reported
    assert not orphan_image.exists() and not orphan_heatmap.exists() and in_flight.exists()
    assert (media_root / kept.file.name).exists()
    drawn.refresh_from_db()
    assert (drawn.heatmap.name, drawn.heatmap_status) == ("", HeatmapStatus.PENDING)  # the sweep draws it again
    event = AuditEvent.objects.get(action="storage.repair")
    assert sorted(event.data["removed_files"]) == ["heatmaps/old-retry.png", "lesion-images/left-by-a-crash.jpg"]
    assert event.data["heatmaps_requeued"] == [drawn.pk]
