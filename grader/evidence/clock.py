"""The scorer's virtual clock: the only time the student's code sees in the offline tier.

The worker's ``time.sleep`` (and everything that reads the time) asks this clock, which
advances by the time asked and answers at once: polling loops and botocore waiters run in
milliseconds, time limits are still honoured, and the requests the server records carry the
virtual time at which they were sent. Past `limit_s` the clock refuses to go on: the scorer
then stops the student's code ("runs forever").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class VirtualClock:
    limit_s: float = 6 * 3600
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sleep(self, seconds: float) -> float | None:
        """Advance by `seconds`; the new time, or None once the limit is passed."""
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(seconds, 0.0)
            return None if self.now > self.limit_s else self.now

    def describe_limit(self) -> str:
        return f"{self.limit_s:g}"
