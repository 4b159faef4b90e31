"""Real services for the integration tests: PostgreSQL, Redis and Celery worker processes.

The fixtures (`real_services`, `start_worker`) are offered to every test by tests/conftest.py; a package of
integration tests puts `fake_classifier` back to None in its conftest, so that the real model answers.

They run when DATABASE_URL points at PostgreSQL and CELERY_BROKER_URL at Redis (as .ci/run sets them),
and are skipped otherwise, unless SKINCLINIC_REQUIRE_INTEGRATION=1 turns a skip into a failure.
The workers load the configured model (the shipped one unless MODEL_DIR says otherwise).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from predictions.models import Prediction, PredictionStatus

ROOT = Path(__file__).resolve().parents[1]
SHARED_IMAGES = ROOT.parent / "shared" / "ham10000" / "images"
# kombu's Redis transport keeps unacknowledged messages under these keys of the broker database.
KOMBU_UNACKED_KEYS = ("unacked", "unacked_index", "unacked_mutex")


def _unavailable(reason: str):
    if os.environ.get("SKINCLINIC_REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"integration tests are required but {reason}")
    pytest.skip(reason)


def _redis():
    import redis

    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def _purge_broker() -> None:
    client = _redis()
    client.delete(settings.CELERY_TASK_DEFAULT_QUEUE, *KOMBU_UNACKED_KEYS)


@pytest.fixture
def real_services(transactional_db):
    """PostgreSQL and Redis, both reachable, with an empty task queue."""
    if connection.vendor != "postgresql":
        _unavailable("DATABASE_URL does not point at PostgreSQL")
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        _unavailable("CELERY_BROKER_URL does not point at Redis")
    try:
        _redis().ping()
    except Exception as exc:
        _unavailable(f"Redis does not answer at {settings.CELERY_BROKER_URL} ({exc})")
    _purge_broker()
    yield
    _purge_broker()


class Worker:
    """A `celery worker` process (and its pool process), its output collected as it runs."""

    def __init__(self, env: dict, beat: bool):
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "skinclinic",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--hostname",
            f"it-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if beat:
            command.append("--beat")
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 240, after: int = 0) -> re.Match:
        """Wait until a line (from the `after`-th on) matches; fail with the worker's output if none does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                match = re.search(pattern, line)
                if match:
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"worker never logged {pattern!r}; its output:\n{self.output[-6000:]}")

    def wait_until_model_loaded(self, after: int = 0) -> int:
        """Wait for a pool process to load the model; returns that process's pid."""
        return int(self.wait_for(r"loaded in worker process (\d+)", after=after).group(1))

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once: no shutdown, no acknowledgement."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass


def _test_database_url() -> str:
    """The URL of the database these tests run in (pytest-django's test database)."""
    db = connection.settings_dict
    user = urllib.parse.quote(db["USER"] or "")
    password = f":{urllib.parse.quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def start_worker(real_services, tmp_path):
    """Start real workers on the test database, broker and media folder; all stopped after the test."""
    workers: list[Worker] = []

    def start(beat: bool = False, **env) -> Worker:
        worker_env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "SKINCLINIC_VAR_DIR": str(tmp_path / "worker-var"),
            "SECRET_KEY": "integration-test-secret-key",
            "WARM_MODEL_ON_WORKER_START": "1",
            "PYTHONUNBUFFERED": "1",
            **{key: str(value) for key, value in env.items()},
        }
        worker = Worker(worker_env, beat=beat)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_for(probe, what: str, timeout: float = 300):
    """Wait until `probe()` returns something true, and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what} after {timeout} s")


def wait_for_predictions(ids, timeout: float = 300) -> list[Prediction]:
    """Wait until every prediction has finished (succeeded or failed)."""
    deadline = time.monotonic() + timeout
    finished = (PredictionStatus.SUCCEEDED, PredictionStatus.FAILED)
    while time.monotonic() < deadline:
        predictions = list(Prediction.objects.filter(id__in=ids).order_by("id"))
        if len(predictions) == len(ids) and all(p.status in finished for p in predictions):
            return predictions
        time.sleep(0.2)
    states = list(Prediction.objects.filter(id__in=ids).values_list("id", "status", "attempts"))
    pytest.fail(f"predictions did not finish in {timeout} s: {states}")


def wait_for_running(timeout: float = 120) -> set[int]:
    """Wait until some prediction is being run by a worker; returns the running ids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = set(Prediction.objects.filter(status=PredictionStatus.RUNNING).values_list("id", flat=True))
        if running:
            return running
        time.sleep(0.01)
    pytest.fail("no prediction was ever seen running")


def sample_images(count: int) -> list[bytes]:
    """Real HAM10000 photographs when ../shared has them, otherwise drawn test lesions."""
    paths = sorted(SHARED_IMAGES.glob("*.jpg"))[:count] if SHARED_IMAGES.is_dir() else []
    if len(paths) == count:
        return [path.read_bytes() for path in paths]
    from tests.predictions.images import jpeg_bytes

    return [jpeg_bytes(seed=seed, size=(600, 450)) for seed in range(count)]
