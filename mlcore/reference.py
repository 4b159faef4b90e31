"""Similar reference cases: nearest neighbours of an image in the served model's own embedding.

A reference index is a directory built once per model version from any HAM10000-layout dataset (by default
the training split): each image's L2-normalised pooled embedding (`embeddings.npy`), the case's published
facts (`cases.json`: diagnosis, how it was confirmed, age, sex, site; no patient data), a small thumbnail per
case (`thumbs/<image_id>.jpg`) and `index.json` naming the model version and weights it was built with. An
index answers only for that model: another model's embedding space is a different space.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .data import Record, read_dataset
from .errors import DataError, ImageError, ModelError
from .preprocess import load_image
from .progress import progress

FORMAT = 1
INDEX_FILE = "index.json"
CASES_FILE = "cases.json"
EMBEDDINGS_FILE = "embeddings.npy"
THUMBS_DIR = "thumbs"
THUMB_SIDE = 192  # px, the longer side: enough for a panel tile, small enough to ship 7.5k of them
DEFAULT_K = 6

# HAM10000's `dx_type`: how each diagnosis was established (Tschandl et al. 2018).
CONFIRMATIONS = {
    "histo": "histopathology",
    "follow_up": "follow-up",
    "consensus": "expert consensus",
    "confocal": "confocal microscopy",
}


class ReferenceIndexError(ModelError):
    """A reference index is missing, unreadable or was built with another model."""


class ReferenceIndexMissing(ReferenceIndexError):
    """No reference index has been built at the place asked."""


class ReferenceIndexMismatch(ReferenceIndexError):
    """The reference index was built with another model version (or other weights)."""


@dataclass(frozen=True)
class ReferenceCase:
    """One image of the reference set, as published with it."""

    image_id: str
    dx: str
    dx_type: str  # one of CONFIRMATIONS, or "" when the dataset does not say
    lesion_id: str | None = None
    age: float | None = None
    sex: str | None = None
    site: str | None = None


@dataclass(frozen=True)
class Neighbour:
    case: ReferenceCase
    similarity: float  # cosine similarity of the embeddings, in [-1, 1]
    rank: int  # 1 for the most similar


def index_dirname(model_version: str) -> str:
    """The folder name of a model version's index under a reference root ("name:1.0" -> "name-1.0")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model_version).strip("-.") or "model"


def _normalised(embeddings: np.ndarray) -> np.ndarray:
    embeddings = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


class ReferenceIndex:
    """A loaded index: query it with embeddings of the model it was built with."""

    def __init__(self, directory: Path, info: dict, cases: list[ReferenceCase], embeddings: np.ndarray):
        if len(cases) != len(embeddings):
            raise ReferenceIndexError(f"{directory}: {len(cases)} cases but {len(embeddings)} embeddings")
        self.directory = Path(directory)
        self.info = info
        self.cases = cases
        self.embeddings = _normalised(embeddings)

    @property
    def model_version(self) -> str:
        return self.info["model_version"]

    @staticmethod
    def read_info(directory: str | Path) -> dict:
        """index.json alone (cheap: no embeddings read). Raises ReferenceIndexMissing or ReferenceIndexError."""
        path = Path(directory) / INDEX_FILE
        if not path.is_file():
            raise ReferenceIndexMissing(f"no reference index in {directory}")
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ReferenceIndexError(f"{path}: unreadable ({exc})") from exc
        if info.get("format") != FORMAT or "model_version" not in info:
            raise ReferenceIndexError(f"{path}: not a reference index of format {FORMAT}")
        return info

    @staticmethod
    def check_info(info: dict, model_version: str, weights_sha256: str | None = None) -> None:
        """Raise ReferenceIndexMismatch unless the index was built with this model version (and weights)."""
        if info["model_version"] != model_version:
            raise ReferenceIndexMismatch(
                f"the reference index was built with {info['model_version']}, not {model_version}"
            )
        built_with = info.get("weights_sha256")
        if weights_sha256 and built_with and built_with != weights_sha256:
            raise ReferenceIndexMismatch(
                f"the reference index was built with other weights of {model_version} ({built_with[:12]}…)"
            )

    @classmethod
    def load(
        cls, directory: str | Path, model_version: str | None = None, weights_sha256: str | None = None
    ) -> ReferenceIndex:
        """Load an index; with `model_version`, refuse (ReferenceIndexMismatch) one built with another model."""
        directory = Path(directory)
        info = cls.read_info(directory)
        if model_version is not None:
            cls.check_info(info, model_version, weights_sha256)
        try:
            cases = [ReferenceCase(**row) for row in json.loads((directory / CASES_FILE).read_text())]
            embeddings = np.load(directory / EMBEDDINGS_FILE, allow_pickle=False)
        except (OSError, ValueError, TypeError) as exc:
            raise ReferenceIndexError(f"{directory}: unreadable reference index ({exc})") from exc
        return cls(directory, info, cases, embeddings)

    def thumbnail_path(self, image_id: str) -> Path | None:
        """The thumbnail of a case of this index, or None (an id not in it never names another file)."""
        if not any(case.image_id == image_id for case in self.cases):
            return None
        path = self.directory / THUMBS_DIR / f"{image_id}.jpg"
        return path if path.is_file() else None

    def query(self, embeddings: np.ndarray, k: int = DEFAULT_K) -> list[list[Neighbour]]:
        """The `k` most similar cases to each embedding (rows of one per query image), most similar first.

        HAM10000 holds several photographs of many lesions; each lesion counts once (its most similar
        photograph), so six neighbours are six lesions a clinician can compare with.
        """
        queries = _normalised(np.atleast_2d(embeddings))
        if queries.shape[1] != self.embeddings.shape[1]:
            raise ReferenceIndexMismatch(
                f"embeddings of width {queries.shape[1]} do not fit this index ({self.embeddings.shape[1]})"
            )
        similarities = queries @ self.embeddings.T
        answers = []
        for row in similarities:
            order = np.argsort(-row, kind="stable")
            picked: list[Neighbour] = []
            lesions: set[str] = set()
            for i in order:
                case = self.cases[int(i)]
                lesion = case.lesion_id or case.image_id
                if lesion in lesions:
                    continue
                lesions.add(lesion)
                picked.append(Neighbour(case=case, similarity=float(np.clip(row[i], -1.0, 1.0)), rank=len(picked) + 1))
                if len(picked) == k:
                    break
            answers.append(picked)
        return answers


def _dx_types(data_dir: Path) -> dict[str, str]:
    # mlcore.data reads what training needs; how a diagnosis was confirmed matters only here.
    with (data_dir / "metadata.csv").open(newline="", encoding="utf-8-sig") as fh:
        return {
            (row.get("image_id") or "").strip(): (row.get("dx_type") or "").strip().lower()
            for row in csv.DictReader(fh)
        }


def _readable(record: Record, log: Callable[[str], None]) -> bool:
    try:
        load_image(record.path)
    except ImageError as exc:
        log(f"skipped {record.image_id}: {exc}")
        return False
    return True


def _thumbnail(record: Record, path: Path) -> None:
    from PIL import Image

    image = load_image(record.path)
    image.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    image.save(path, "JPEG", quality=85, optimize=True)


def build_index(
    classifier,
    data_dir: str | Path,
    out_root: str | Path,
    split: str | None = "train",
    batch_size: int = 32,
    show_progress: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> Path:
    """Embed every image of `split` of a HAM10000-layout dataset (all images when `split` is None or the
    dataset has no split column) with `classifier` (an mlcore Classifier), and write the index to
    OUT_ROOT/<model version>/, replacing an older one only once the new one is complete. Returns its path."""
    data_dir = Path(data_dir)
    dataset = read_dataset(data_dir)
    for problem in dataset.problems:
        log(f"skipped {problem}")
    records = dataset.records
    if split and dataset.splits:
        records = dataset.split(split).records
        if not records:
            raise DataError(f"{data_dir}: no images in split {split!r} (splits: {', '.join(sorted(dataset.splits))})")
    dx_types = _dx_types(data_dir)
    out_root = Path(out_root)
    target = out_root / index_dirname(classifier.version)
    staging = out_root / f".{target.name}.building-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / THUMBS_DIR).mkdir(parents=True)
    started = time.monotonic()
    embeddings, cases = [], []
    try:
        batches = range(0, len(records), batch_size)
        for start in progress(batches, "reference index", enabled=show_progress, total=len(batches)):
            batch = records[start : start + batch_size]
            try:
                images, meta, _ = classifier.prepare([r.as_input() for r in batch])
            except ImageError:
                # One unreadable file leaves out that case only.
                batch = [r for r in batch if _readable(r, log)]
                if not batch:
                    continue
                images, meta, _ = classifier.prepare([r.as_input() for r in batch])
            _, pooled = classifier.outputs(images, meta, batch_size=batch_size)
            embeddings.append(_normalised(pooled))
            for record in batch:
                _thumbnail(record, staging / THUMBS_DIR / f"{record.image_id}.jpg")
                cases.append(
                    ReferenceCase(
                        image_id=record.image_id,
                        dx=record.dx,
                        dx_type=dx_types.get(record.image_id, ""),
                        lesion_id=record.lesion_id,
                        age=record.age,
                        sex=record.sex,
                        site=record.site,
                    )
                )
        if not cases:
            raise DataError(f"{data_dir}: no readable images to index")
        matrix = np.concatenate(embeddings).astype(np.float32)
        np.save(staging / EMBEDDINGS_FILE, matrix, allow_pickle=False)
        (staging / CASES_FILE).write_text(json.dumps([asdict(c) for c in cases]))
        info = {
            "format": FORMAT,
            "model_version": classifier.version,
            "weights_sha256": getattr(classifier, "checksum", None),
            "source": str(data_dir.resolve()),
            "split": split if dataset.splits else None,
            "count": len(cases),
            "dimensions": int(matrix.shape[1]),
            "built_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - started, 1),
        }
        # index.json last: a reader never sees an index without its embeddings.
        (staging / INDEX_FILE).write_text(json.dumps(info, indent=2))
        previous = out_root / f".{target.name}.previous-{os.getpid()}"
        if target.exists():
            target.rename(previous)
        staging.rename(target)
        if previous.exists():
            shutil.rmtree(previous)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def query_batch(
    index: ReferenceIndex, embeddings: Sequence[np.ndarray | None], k: int = DEFAULT_K
) -> list[list[Neighbour] | None]:
    """Neighbours of each embedding, None where there is none to query with."""
    present = [(i, e) for i, e in enumerate(embeddings) if e is not None]
    answers: list[list[Neighbour] | None] = [None] * len(embeddings)
    if present:
        queried = index.query(np.stack([e for _, e in present]), k=k)
        for (i, _), neighbours in zip(present, queried):
            answers[i] = neighbours
    return answers
