"""Faults of the services a worker stands on, injected for real, with the default settings: nothing is lost,
and the time to recover (quoted in README's operations section) is measured.

The database "restarts" for this test's database only (connections refused and every session ended, as a
restart does) so that other users of the PostgreSQL server are not disturbed; the disk is a real tmpfs
filled to the last byte.
"""

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from predictions.models import HeatmapStatus, Prediction, PredictionHeatmap, PredictionStatus
from tests.integration import sample_images, wait_for, wait_for_predictions, wait_for_running

from .test_worker_pipeline import upload_all

pytestmark = pytest.mark.integration


def _admin():
    db = connection.settings_dict
    return psycopg.connect(
        dbname="postgres",
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        autocommit=True,
    )


@contextlib.contextmanager
def database_restarting():
    """While inside, the test database refuses connections and every open session is ended."""
    name = connection.settings_dict["NAME"]
    connection.close()
    with _admin() as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def heatmaps_settled(ids):
    states = set(Prediction.objects.filter(id__in=ids).values_list("heatmap_status", flat=True))
    # The class-of-concern heatmaps the worker draws in the same pass count too.
    states |= set(PredictionHeatmap.objects.filter(prediction_id__in=ids).values_list("status", flat=True))
    return HeatmapStatus.PENDING not in states


def test_a_database_restart_while_the_worker_runs_loses_no_prediction_and_no_heatmap(staff, start_worker):
    worker = start_worker()
    worker.wait_until_model_loaded()
    ids = upload_all(staff, sample_images(40))
    wait_for_running()
    with database_restarting():
        time.sleep(15)
    back = time.monotonic()

    predictions = wait_for_predictions(ids, timeout=400)
    results_in = time.monotonic() - back
    wait_for(lambda: heatmaps_settled(ids), "every heatmap to be drawn or given up", timeout=600)
    heatmaps_in = time.monotonic() - back

    assert [p.status for p in predictions] == [PredictionStatus.SUCCEEDED] * len(ids), [p.error for p in predictions]
    heatmaps = list(Prediction.objects.filter(id__in=ids).values_list("heatmap_status", flat=True))
    print(
        f"\ndatabase down 15 s: {len(ids)} results done {results_in:.0f} s and heatmaps {heatmaps_in:.0f} s "
        f"after it came back"
    )
    assert heatmaps == [HeatmapStatus.STORED] * len(ids)
    assert worker.process.poll() is None


@pytest.fixture
def small_disk(settings, tmp_path):
    """MEDIA_ROOT on a real 64 MB tmpfs the test can fill and free (root only, as in CI and the dev box)."""
    root = tmp_path / "media-disk"
    root.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(root)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    settings.MEDIA_ROOT = str(root)
    yield root
    subprocess.run(["umount", "-l", str(root)], check=False)


def test_a_full_disk_delays_heatmaps_and_they_are_drawn_once_space_is_freed(staff, start_worker, small_disk):
    worker = start_worker()
    worker.wait_until_model_loaded()
    ids = upload_all(staff, sample_images(12))
    filler = small_disk / "filler"
    with contextlib.suppress(OSError), open(filler, "wb") as out:  # the disk fills before any heatmap is written
        while True:
            out.write(b"\0" * (1 << 20))
            out.flush()

    predictions = wait_for_predictions(ids, timeout=400)  # results live in the database: unaffected
    assert [p.status for p in predictions] == [PredictionStatus.SUCCEEDED] * len(ids)
    wait_for(lambda: "heatmaps of predictions" in worker.output, "a heatmap write to fail", timeout=120)
    time.sleep(20)
    filler.unlink()
    freed = time.monotonic()
    wait_for(lambda: heatmaps_settled(ids), "every heatmap after space was freed", timeout=600)
    heatmaps_in = time.monotonic() - freed

    heatmaps = list(Prediction.objects.filter(id__in=ids).values_list("heatmap_status", flat=True))
    stored = sorted(p.name for p in (small_disk / "heatmaps").iterdir())
    print(f"\nfull disk: {len(ids)} heatmaps drawn {heatmaps_in:.0f} s after space was freed")
    assert heatmaps == [HeatmapStatus.STORED] * len(ids)
    named = {Path(n).name for n in Prediction.objects.filter(id__in=ids).values_list("heatmap", flat=True)}
    named |= {
        Path(n).name
        for n in PredictionHeatmap.objects.filter(prediction_id__in=ids, status=HeatmapStatus.STORED).values_list(
            "file", flat=True
        )
    }
    assert stored == sorted(named)  # one file per heatmap: no orphan, no empty file from the failed writes
    assert all((small_disk / "heatmaps" / name).stat().st_size > 0 for name in stored)


class PrivateRedis:
    """A redis-server of this test's own, on a free port, that the test can stop and start (empty) again."""

    def __init__(self, tmp_path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tmp_path
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(
            lambda: (
                subprocess.run(
                    ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
                ).stdout.strip()
                == "PONG"
            ),
            "the private Redis",
            timeout=30,
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # as a crash: whatever it held is gone
            self.process.wait(timeout=30)


@pytest.fixture
def private_broker(real_services, tmp_path):
    """The app's broker moved to a private Redis for this test (the web side here and the workers it starts)."""
    from celery import current_app

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    broker = PrivateRedis(tmp_path)
    broker.start()
    saved = current_app.conf.broker_url

    def point_at(url):
        current_app.conf.broker_url = url
        current_app._pool = None  # the producer pool is made again for the new URL on the next send
        current_app.amqp._producer_pool = None

    point_at(broker.url)
    try:
        yield broker
    finally:
        point_at(saved)
        broker.stop()


def test_a_broker_outage_at_upload_delays_the_predictions_until_it_is_back_and_loses_none(
    staff, start_worker, private_broker
):
    def worker_under_a_supervisor():
        return start_worker(beat=True, CELERY_BROKER_URL=private_broker.url)

    worker = worker_under_a_supervisor()
    worker.wait_until_model_loaded()
    private_broker.stop()  # killed: whatever it held is gone
    ids = upload_all(staff, sample_images(12))  # committed as queued; their messages cannot be sent
    assert set(Prediction.objects.filter(id__in=ids).values_list("status", flat=True)) == {PredictionStatus.QUEUED}
    time.sleep(20)
    # Celery 5.7.0's worker exits when its Redis connection drops while it holds a message (it fails closing
    # the dead connection); its supervisor starts it again (compose: restart: unless-stopped), and a worker
    # started while the broker is down waits for it.
    if worker.process.poll() is not None:
        worker = worker_under_a_supervisor()
    private_broker.start()  # back, and empty: the messages were never there
    back = time.monotonic()

    try:
        predictions = wait_for_predictions(ids, timeout=240)
    except BaseException:
        print(worker.output[-6000:])
        raise
    results_in = time.monotonic() - back
    assert [p.status for p in predictions] == [PredictionStatus.SUCCEEDED] * len(ids)
    print(f"\nbroker down at upload (20 s): {len(ids)} results done {results_in:.0f} s after it came back")
    assert results_in < 120
