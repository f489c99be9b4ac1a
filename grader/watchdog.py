"""A CPU-time watchdog for checks that run student code in-process.

pytest-timeout raises once, at its wall-clock limit; a student's loop that catches
everything (`except BaseException`, a bare `except:`) swallows that one exception and the
run hangs without a report. This watchdog counts the process's CPU time (ITIMER_VIRTUAL,
its own signal, so it does not disturb pytest-timeout's SIGALRM) and, past the limit,
raises `CheckTimeout` again every half CPU-second until the check gives up.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

REPEAT_S = 0.5


class CheckTimeout(BaseException):
    """The check used more CPU time than its limit (an endless loop in the code under test)."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(f"more than {limit_s:g} s of CPU time")
        self.limit_s = limit_s


@contextlib.contextmanager
def cpu_watchdog(limit_s: float) -> Iterator[None]:
    if not hasattr(signal, "setitimer"):  # not on this platform: pytest-timeout remains
        yield
        return

    def expire(_signum, _frame) -> None:
        raise CheckTimeout(limit_s)

    previous = signal.signal(signal.SIGVTALRM, expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, limit_s, REPEAT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
