"""The app's doorway to the similar-cases reference index that `python -m mlcore reference` builds.

Each model version has its own index at REFERENCE_DIR/<model version>/ (settings.SKINCLINIC_REFERENCE_DIR),
outside the repository. The worker loads it once per process (again when it is rebuilt) to find the
neighbours of each result; the web only reads its small index.json (to say why a result has no similar
cases) and serves the thumbnails of cases stored with a prediction.
"""

from __future__ import annotations

import enum
import re
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

_cache: dict[str, tuple[float, object]] = {}  # index directory -> (index.json mtime, ReferenceIndex)
_lock = threading.Lock()
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class IndexStatus(enum.StrEnum):
    READY = "ready"
    MISSING = "missing"
    MISMATCHED = "mismatched"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class IndexState:
    status: IndexStatus
    message: str  # for a clinician or an administrator, in words
    build_command: str
    built_at: str | None = None
    count: int | None = None


def reference_dir(model_version: str) -> Path:
    from mlcore.reference import index_dirname

    return Path(settings.SKINCLINIC_REFERENCE_DIR) / index_dirname(model_version)


def reference_build_command(model_version: str) -> str:
    """The command that builds this model version's index where the app looks for it."""
    from mlcore import ModelError
    from mlcore.modeldir import SHIPPED_MODEL_DIR

    from . import inference

    parts = [
        "python",
        "-m",
        "mlcore",
        "reference",
        "--data",
        "/path/to/HAM10000",
        "--out",
        str(settings.SKINCLINIC_REFERENCE_DIR),
    ]
    model_dir: Path | str
    try:
        model_dir = inference._model_dir_of(model_version)  # the worker's own lookup of a version's files
    except ModelError:  # a version neither registered nor configured: name it, the operator knows where it is
        model_dir = f"<directory of {model_version}>"
    if Path(model_dir) != SHIPPED_MODEL_DIR:
        parts += ["--model", str(model_dir)]
    return shlex.join(parts)


def reference_index_state(model_version: str) -> IndexState:
    """Whether this model version has a usable index, from its index.json alone (no embeddings read)."""
    from mlcore.reference import ReferenceIndex, ReferenceIndexError, ReferenceIndexMismatch, ReferenceIndexMissing

    directory = reference_dir(model_version)
    command = reference_build_command(model_version)
    try:
        info = ReferenceIndex.read_info(directory)
        ReferenceIndex.check_info(info, model_version)
    except ReferenceIndexMissing:
        return IndexState(IndexStatus.MISSING, f"No reference index has been built for model {model_version}.", command)
    except ReferenceIndexMismatch as exc:
        return IndexState(
            IndexStatus.MISMATCHED,
            f"The reference index in {directory} does not fit model {model_version}: {exc}. Build it again.",
            command,
        )
    except ReferenceIndexError as exc:
        return IndexState(
            IndexStatus.UNREADABLE, f"The reference index cannot be read: {exc}. Build it again.", command
        )
    return IndexState(
        IndexStatus.READY,
        f"Reference index of {info['count']} cases, built {info['built_at']}.",
        command,
        built_at=info["built_at"],
        count=info["count"],
    )


def reference_index_get(model_version: str, weights_sha256: str | None = None):
    """The loaded index of a model version (mlcore.reference.ReferenceIndex), read again when rebuilt.

    Raises mlcore.reference.ReferenceIndexError (missing, mismatched, unreadable)."""
    from mlcore.reference import INDEX_FILE, ReferenceIndex, ReferenceIndexMissing

    directory = reference_dir(model_version)
    try:
        mtime = (directory / INDEX_FILE).stat().st_mtime
    except OSError as exc:
        raise ReferenceIndexMissing(f"no reference index in {directory}") from exc
    key = str(directory)
    with _lock:
        cached = _cache.get(key)
        if cached is None or cached[0] != mtime:
            cached = (mtime, ReferenceIndex.load(directory))
            _cache[key] = cached
    index = cached[1]
    ReferenceIndex.check_info(index.info, model_version, weights_sha256)  # type: ignore[attr-defined]
    return index


def reference_thumbnail_path(model_version: str, reference_id: str) -> Path | None:
    """The thumbnail file of a reference case in the index of `model_version`, or None."""
    from mlcore.reference import THUMBS_DIR

    if not _SAFE_ID.match(reference_id):
        return None
    path = reference_dir(model_version) / THUMBS_DIR / f"{reference_id}.jpg"
    return path if path.is_file() else None
