"""Real faults for the tests: a full disk, a read-only disk, a database that stops answering.

The disks are small tmpfs mounts where the test may mount one (root in CI and the dev container); where it
may not, the same OSError the kernel gives (ENOSPC, EROFS) comes from a storage that refuses every write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.db import connection


class RefusingStorage(FileSystemStorage):
    """A filesystem storage on a disk that refuses writes as a full or read-only disk does: the file is
    created, then writing it fails (that is what leaves empty files behind on a real full disk)."""

    refusal = errno.ENOSPC

    def _save(self, name, content):
        path = Path(self.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.refusal == errno.ENOSPC:
            path.touch()
        raise OSError(self.refusal, os.strerror(self.refusal), str(path))


class ReadOnlyStorage(RefusingStorage):
    refusal = errno.EROFS


def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    except FileNotFoundError:
        return False
    return done.returncode == 0


def _fill(root: Path) -> None:
    with contextlib.suppress(OSError), open(root / "filler", "wb") as filler:
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()


@contextlib.contextmanager
def _disk(settings, tmp_path: Path, refusing: type[RefusingStorage], fill: bool, read_only: bool):
    """MEDIA_ROOT on a disk that refuses writes, real where a tmpfs can be mounted."""
    with _small_disk(settings, tmp_path) as (root, mounted):
        if not mounted:
            _refuse_writes(settings, refusing)
        elif fill:
            _fill(root)
        elif read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
        yield root


def _refuse_writes(settings, refusing: type[RefusingStorage]) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": f"{refusing.__module__}.{refusing.__qualname__}"}}


@contextlib.contextmanager
def _small_disk(settings, tmp_path: Path):
    root = tmp_path / "faulty-media"
    mounted = _mount(root, "size=1m")
    (root / "lesion-images").mkdir(exist_ok=True)
    (root / "heatmaps").mkdir(exist_ok=True)
    settings.MEDIA_ROOT = str(root)
    try:
        yield root, mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)


@pytest.fixture
def disk_to_fill(settings, tmp_path):
    """MEDIA_ROOT on a small disk, and a function that fills it when the test chooses (returns its root)."""
    with _small_disk(settings, tmp_path) as (root, mounted):

        def fill() -> Path:
            if mounted:
                _fill(root)
            else:
                _refuse_writes(settings, RefusingStorage)
            return root

        yield fill


@pytest.fixture
def full_disk(settings, tmp_path):
    """MEDIA_ROOT on a full disk (ENOSPC on every write)."""
    with _disk(settings, tmp_path, RefusingStorage, fill=True, read_only=False) as root:
        yield root


@pytest.fixture
def read_only_disk(settings, tmp_path):
    """MEDIA_ROOT on a disk mounted read-only (EROFS on every write)."""
    with _disk(settings, tmp_path, ReadOnlyStorage, fill=False, read_only=True) as root:
        yield root


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "filler") if root.exists() else []


@contextlib.contextmanager
def database_unreachable():
    """Point the app's connection at a port where no database listens, as when PostgreSQL is down.

    PostgreSQL only: an in-memory SQLite test database cannot be closed without losing it.
    """
    if connection.vendor != "postgresql":
        if os.environ.get("SKINCLINIC_REQUIRE_INTEGRATION") == "1":
            pytest.fail("this test needs DATABASE_URL to point at PostgreSQL")
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there: connecting is refused at once
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
