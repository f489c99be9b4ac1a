"""Is a process still there (the sandbox's daemon and registry, the owner of a local ECS's containers),
and a lock that processes share (what one makes, the others wait for: an image, a shared grading).

Light on purpose (the standard library only): `ecs-lab`'s parser imports it through standin.sandbox.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created with its folder), held while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pid_exists(pid: int) -> bool:
    """In the process table, zombie or not (what `kill -0` sees)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_alive(pid: int) -> bool:
    """Running (a zombie, dead but not reaped yet, is not)."""
    if not pid_exists(pid):
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal said it exists
