"""Write small checkpoints in torch's legacy (non-zip) format without torch, for the reader's tests."""
from __future__ import annotations

import collections
import pickle
import struct
import sys
import types
from contextlib import contextmanager

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C


class StorageRef:
    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, np.ascontiguousarray(data, dtype=np.float32).ravel()


class TensorRef:
    """Pickles as ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``."""

    def __init__(self, storage: StorageRef, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict())


@contextmanager
def _fake_torch():
    """Let pickle name ``torch.FloatStorage`` and ``torch._utils._rebuild_tensor_v2``."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage = type("FloatStorage", (), {"__module__": "torch", "__qualname__": "FloatStorage"})
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def write(path, state, storages: list[StorageRef], extra_object=None) -> None:
    """Write ``state`` (a dict of TensorRef) with ``storages`` as a legacy torch checkpoint."""
    with _fake_torch() as torch, open(path, "wb") as f:
        class Main(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, StorageRef):
                    return ("storage", torch.FloatStorage, obj.key, "cpu", obj.data.size, None)
                return None

        for header in (MAGIC, 1001, {"protocol_version": 1001, "little_endian": True,
                                      "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, f, protocol=2)
        Main(f, protocol=2).dump(state if extra_object is None else (state, extra_object))
        pickle.dump([s.key for s in storages], f, protocol=2)
        for s in storages:
            f.write(struct.pack("<q", s.data.size))
            f.write(s.data.astype("<f4").tobytes())
