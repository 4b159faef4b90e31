"""A reader of PyTorch's legacy (pre-1.6, non-zip) checkpoint format into numpy, without torch.

The format is five pickles in a row (magic number, protocol version, system info, the object whose tensors
point at storages by key, the list of storage keys), then each storage's raw bytes behind an 8-byte element
count, in the order of that list. Only the classes a plain state dict uses are resolved; anything else in
the pickle is refused, so reading a checkpoint never runs code from it.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import ModelError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass
class _TensorRef:
    """A tensor whose storage bytes come after the pickles; resolved once they are read."""

    key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage_key, storage_offset, size, stride, *_ignored):
    return _TensorRef(storage_key, int(storage_offset), tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self.storage_types: dict[str, str] = {}  # storage key -> storage class name, from persistent_load

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise ModelError(f"unexpected object {module}.{name} in a weights file")

    def persistent_load(self, pid):
        # ("storage", storage type, key, location, element count[, view metadata])
        kind, storage_type, key = pid[0], pid[1], pid[2]
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise ModelError(f"unexpected persistent id {pid!r}")
        self.storage_types[str(key)] = storage_type.name
        return str(key)


def read_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a legacy .pth state dict into {name: numpy array} (float tensors stay float32)."""
    with open(path, "rb") as fh:
        unpickler = _Unpickler(fh)
        try:
            magic = unpickler.load()
            if magic != MAGIC_NUMBER:
                raise ModelError(f"{path}: not a legacy PyTorch file (zip-format files are not supported)")
            if unpickler.load() != PROTOCOL_VERSION:
                raise ModelError(f"{path}: unsupported legacy PyTorch protocol")
            info = unpickler.load()
            if not info.get("little_endian", True):
                raise ModelError(f"{path}: big-endian checkpoints are not supported")
            state = unpickler.load()
            keys = unpickler.load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
            raise ModelError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
        storages = {}
        for key in keys:
            dtype = np.dtype(_STORAGE_DTYPES[unpickler.storage_types[key]]).newbyteorder("<")
            count = int(np.frombuffer(fh.read(8), dtype="<i8")[0])
            raw = fh.read(count * dtype.itemsize)
            if len(raw) != count * dtype.itemsize:
                raise ModelError(f"{path}: truncated (storage {key})")
            storages[key] = np.frombuffer(raw, dtype=dtype)
    out = {}
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            continue
        flat = storages[ref.key]
        itemsize = flat.dtype.itemsize
        array = np.lib.stride_tricks.as_strided(
            flat[ref.offset :], shape=ref.shape, strides=tuple(s * itemsize for s in ref.stride)
        )
        out[name] = np.array(array, dtype=flat.dtype.newbyteorder("="))
    return out
