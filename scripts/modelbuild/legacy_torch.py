"""Read a legacy (non-zip) ``torch.save`` file into NumPy arrays, without torch.

The legacy format is a sequence of pickles followed by raw data:

1. the magic number ``0x1950a86a20f9469cfc6c``;
2. the protocol version (1001);
3. system info (endianness, C type sizes);
4. the main pickle, whose storages are persistent ids
   ``("storage", <torch.XStorage class>, key, location, numel, view_metadata)``
   and whose tensors are ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``;
5. the list of storage keys in the order their data follows;
6. for each key: a little-endian int64 element count, then the raw bytes.

Only the globals a state dict needs are allowed: anything else in the pickle is
refused, so reading an untrusted file cannot run code.
"""
from __future__ import annotations

import collections
import pickle
import struct
from typing import Any, BinaryIO

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class LegacyFormatError(ValueError):
    """The file is not a legacy torch pickle this reader understands."""


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """A storage whose bytes follow the pickles; filled in by :func:`load`."""

    def __init__(self, dtype: np.dtype, numel: int) -> None:
        self.dtype = dtype
        self.numel = numel
        self.array: np.ndarray | None = None


class _StorageView:
    def __init__(self, base: _Storage, offset: int, numel: int) -> None:
        self.base, self.offset, self.numel = base, offset, numel


class _LazyTensor:
    def __init__(self, storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self) -> np.ndarray:
        storage, offset = self.storage, self.offset
        if isinstance(storage, _StorageView):
            offset += storage.offset
            storage = storage.base
        data = storage.array
        if data is None:
            raise LegacyFormatError("tensor refers to a storage with no data")
        itemsize = data.dtype.itemsize
        if len(self.size) != len(self.stride):
            raise LegacyFormatError("tensor size and stride differ in length")
        if self.size:
            last = offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
            if min(self.size) > 0 and (offset < 0 or last >= data.size):
                raise LegacyFormatError("tensor goes past the end of its storage")
        view = np.lib.stride_tricks.as_strided(
            data[offset:],
            shape=self.size,
            strides=tuple(s * itemsize for s in self.stride),
        )
        return np.array(view, copy=True)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *_):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, *_):
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _MainUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file, encoding="latin1")
        self.storages: dict[str, _Storage] = {}
        self._views: dict[str, _StorageView] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise LegacyFormatError(f"unsupported global in checkpoint: {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise LegacyFormatError(f"unsupported persistent id: {pid!r}")
        _, storage_type, key, _location, numel, view_metadata = pid
        if not isinstance(storage_type, _StorageType):
            raise LegacyFormatError(f"unsupported storage type: {storage_type!r}")
        storage = self.storages.setdefault(key, _Storage(storage_type.dtype, int(numel)))
        if view_metadata is None:
            return storage
        view_key, offset, view_numel = view_metadata
        return self._views.setdefault(view_key, _StorageView(storage, int(offset), int(view_numel)))


def _materialize(obj: Any) -> Any:
    if isinstance(obj, _LazyTensor):
        return obj.materialize()
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _materialize(v)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v) for v in obj)
    return obj


def load(path: str) -> Any:
    """Load a legacy torch checkpoint; tensors come back as NumPy arrays."""
    with open(path, "rb") as f:
        if f.read(2)[:1] == b"PK":
            raise LegacyFormatError(f"{path} is a zip-format torch file, not the legacy format")
        f.seek(0)
        plain = lambda: pickle.Unpickler(f, encoding="latin1")  # noqa: E731
        try:
            magic = plain().load()
            protocol = plain().load()
            sys_info = plain().load()
        except Exception as exc:  # noqa: BLE001 - any failure means "not this format"
            raise LegacyFormatError(f"{path}: not a legacy torch pickle ({exc})") from exc
        if magic != MAGIC_NUMBER:
            raise LegacyFormatError(f"{path}: bad magic number {magic!r}")
        if protocol != PROTOCOL_VERSION:
            raise LegacyFormatError(f"{path}: unsupported protocol version {protocol!r}")
        if not sys_info.get("little_endian", False):
            raise LegacyFormatError(f"{path}: big-endian checkpoints are not supported")

        main = _MainUnpickler(f)
        result = main.load()
        keys = plain().load()
        for key in keys:
            storage = main.storages.get(key)
            if storage is None:
                raise LegacyFormatError(f"{path}: data for unknown storage {key!r}")
            (numel,) = struct.unpack("<q", f.read(8))
            nbytes = numel * storage.dtype.itemsize
            raw = f.read(nbytes)
            if len(raw) != nbytes:
                raise LegacyFormatError(f"{path}: truncated data for storage {key!r}")
            storage.array = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
        return _materialize(result)
