"""Virtual time for every process of the student's code (offline tier): an LD_PRELOAD shim.

`timeshim.c` (beside this file) is compiled at first use into a cache keyed by the hash of its
source, its compiler flags and the machine; `server.ClockServer` is the scorer's side (the page
the shim reads the time from, the socket it registers its waits on, the decision to advance).

    library()            # the compiled shim, or None where it cannot be used (why_not() says why)
    build(directory)     # compile it ahead of time (setup scripts, Docker images without a compiler)

The cache is $ECS_LAB_TIMESHIM_DIR when set, else ~/.cache/ecs-lab/timeshim ($XDG_CACHE_HOME). A
setup script builds it with the user who grades:

    python -m grader.worker.clock            # or: from grader.worker.clock import build; build()

An image without a compiler gets it from a build stage that has one (the same C library and
machine): ``build("/opt/ecs-lab/timeshim")`` there, the folder copied into the image, and
ECS_LAB_TIMESHIM_DIR=/opt/ecs-lab/timeshim where it grades. The file's name carries the key of
its source: a shim built from another version of timeshim.c is not used. Importing this module
loads nothing else of the grader. ECS_LAB_TIMESHIM=off turns the shim off (the fallback below),
to compare.
Where the shim cannot be used (not Linux with glibc on 64 bits, no C compiler and no prebuilt
library), the worker keeps its Python-level clock (time.sleep, time.time, datetime, monotonic,
perf_counter, Event.wait), and the report says so.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("timeshim.c")
LIBRARY_NAME = "libecslabtime.so"  # its name in the worker's clock folder
CACHE_ENV = "ECS_LAB_TIMESHIM_DIR"
SWITCH_ENV = "ECS_LAB_TIMESHIM"  # "off": the Python-level clock, as where the shim cannot be built (comparisons)
FLAGS = ("-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-U_FORTIFY_SOURCE", "-Wall")
LIBRARIES = ("-ldl", "-lpthread")


class BuildError(RuntimeError):
    """The shim cannot be compiled here (no compiler, or it refused the source)."""


def supported() -> str:
    """"" where the shim can work; otherwise why not."""
    if os.environ.get(SWITCH_ENV) == "off":
        return f"turned off ({SWITCH_ENV}=off)"
    if sys.platform != "linux":
        return f"not Linux ({sys.platform})"
    if sys.maxsize <= 2**32:
        return "a 32-bit Python"
    if platform.libc_ver()[0] != "glibc":
        return "not the GNU C library"
    return ""


def key() -> str:
    """What the compiled file depends on: the source, the flags, the machine."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update(" ".join(FLAGS + LIBRARIES).encode())
    digest.update(platform.machine().encode())
    return digest.hexdigest()[:16]


def file_name() -> str:
    return f"ecs-lab-timeshim-{key()}.so"


def cache_directories() -> list[Path]:
    """Where a compiled shim is looked for, the first being where one is built."""
    found = []
    if os.environ.get(CACHE_ENV):
        found.append(Path(os.environ[CACHE_ENV]))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    found.append(Path(base) / "ecs-lab" / "timeshim")
    return found


def compiler() -> str | None:
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def build(directory: Path | str | None = None) -> Path:
    """Compile the shim into `directory` (default: the first cache directory); its path.

    Nothing is done when it is already there. Raises BuildError when it cannot be built.
    """
    reason = supported()
    if reason:
        raise BuildError(f"the time shim needs Linux with glibc on 64 bits: {reason}")
    folder = Path(directory) if directory is not None else cache_directories()[0]
    target = folder / file_name()
    if target.is_file():
        return target
    program = compiler()
    if program is None:
        raise BuildError("no C compiler (cc, gcc or clang) to build the time shim")
    folder.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=folder, prefix=".timeshim-", suffix=".so")
    os.close(handle)
    try:
        done = subprocess.run([program, *FLAGS, "-o", partial, str(SOURCE), *LIBRARIES], capture_output=True,
                              text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise BuildError(f"{program} could not build the time shim: {done.stderr.strip()[-1500:]}")
        # Loaded into a throwaway program first: a shim that breaks programs is not used.
        probe = subprocess.run(["/bin/true"], env={"LD_PRELOAD": partial, "PATH": "/usr/bin:/bin"},
                               capture_output=True, text=True, timeout=30, check=False)
        if probe.returncode != 0:
            raise BuildError(f"the time shim does not load: {probe.stderr.strip()[-500:]}")
        os.chmod(partial, 0o644)
        os.replace(partial, target)  # atomic: parallel runs may build it at once
    except (OSError, subprocess.SubprocessError) as error:
        raise BuildError(f"the time shim could not be built: {error}") from error
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


@functools.cache
def _located() -> tuple[Path | None, str]:
    reason = supported()
    if reason:
        return None, reason
    for folder in cache_directories():
        if (folder / file_name()).is_file():
            return folder / file_name(), ""
    try:
        return build(), ""
    except BuildError as error:
        return None, str(error)


def library() -> Path | None:
    """The compiled shim (built now if needed and possible), or None where it cannot be used."""
    return _located()[0]


def why_not() -> str:
    """Why `library()` is None ("" when it is not)."""
    return _located()[1]
