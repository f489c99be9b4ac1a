"""Is a process still there: the sandbox's daemon and registry, the owner of a local ECS's containers.

Light on purpose (the standard library only): `ecs-lab`'s parser imports it through standin.sandbox.
"""

from __future__ import annotations

import os
from pathlib import Path


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
