"""A virtual clock: the student's polling loops run in milliseconds, never in real time.

`time.sleep` advances the clock instead of waiting; `time.time`, `time.monotonic` and
`time.perf_counter` read it. The functions are patched in the `time` module (so botocore's
waiters use them too) and in any module that imported them by name (`from time import sleep`).
A loop that runs far past any sensible deadline is stopped with `VirtualTimeExceeded`, a
BaseException so that a student's `except Exception` cannot swallow it.
"""

from __future__ import annotations

import time
from types import ModuleType

_REAL = {name: getattr(time, name) for name in ("sleep", "time", "monotonic", "perf_counter")}


class VirtualTimeExceeded(BaseException):
    """The code under test kept running past the clock's limit (virtual seconds)."""


class VirtualClock:
    def __init__(self, limit_s: float = 6 * 3600) -> None:
        self.start_wall = _REAL["time"]()
        self.now = 0.0
        self.limit_s = limit_s
        self.sleeps: list[float] = []
        self._patched: list[tuple[object, str, object]] = []

    # --- the patched functions ---------------------------------------------------
    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        self.sleeps.append(float(seconds))
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.now += float(seconds)
        if self.now > self.limit_s:
            raise VirtualTimeExceeded(f"virtual time passed {self.limit_s:.0f} s")

    def time(self) -> float:
        return self.start_wall + self.now

    def monotonic(self) -> float:
        return 1000.0 + self.now

    def perf_counter(self) -> float:
        return 1000.0 + self.now

    # --- installation -------------------------------------------------------------
    def install(self, *modules: ModuleType) -> "VirtualClock":
        replacements = {name: getattr(self, name) for name in _REAL}
        for name, fake in replacements.items():
            self._patch(time, name, fake)
        for module in modules:
            for attr, value in list(vars(module).items()):
                for name, real in _REAL.items():
                    if value is real:
                        self._patch(module, attr, replacements[name])
        return self

    def _patch(self, owner: object, attr: str, value: object) -> None:
        self._patched.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, value)

    def uninstall(self) -> None:
        while self._patched:
            owner, attr, original = self._patched.pop()
            setattr(owner, attr, original)

    def __enter__(self) -> "VirtualClock":
        return self

    def __exit__(self, *exc) -> None:
        self.uninstall()
