"""The scorer's virtual clock: the only time the student's code sees in the offline tier.

One per check, starting at 0. Time advances only when the scorer says so, by the time the student's
code waits: polling loops and botocore waiters run in milliseconds, time limits are still
honoured, and the requests the servers record carry the virtual time at which they arrived. Past
`limit_s` the clock refuses to go on: the scorer then stops the student's code ("runs forever").

Two ways it is driven (grader/worker/clock/):
- the time shim (Linux): every process of the student's code reads the time from a page the
  scorer writes, and registers every wait with a time limit (sleeps, locks, conditions, queues,
  selectors, asyncio, timers, alarm, child processes...) with the scorer's clock server, which
  calls :meth:`advance` once the code is quiescent: nothing runs, no request is being served;
- the Python-level fallback (no shim here): the worker's ``time.sleep`` asks :meth:`sleep`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class VirtualClock:
    limit_s: float = 6 * 3600
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)  # the fallback's time.sleep calls, as asked
    in_flight: int = 0  # requests of the student's code the scorer's servers are serving
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sleep(self, seconds: float) -> float | None:
        """Advance by `seconds`; the new time, or None once the limit is passed (the fallback)."""
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(seconds, 0.0)
            return None if self.now > self.limit_s else self.now

    def advance(self, now: float) -> bool:
        """Move to `now` (the clock server, when the student's code waits); False past the limit."""
        with self._lock:
            self.now = max(self.now, now)
            return self.now <= self.limit_s

    @contextmanager
    def serving(self) -> Iterator[None]:
        """A request of the student's code being served: time does not advance meanwhile."""
        with self._lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def describe_limit(self) -> str:
        return f"{self.limit_s:g}"
