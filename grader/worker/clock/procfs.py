"""What the processes of the student's code are doing, read from /proc by the scorer.

Used twice: by the clock server, to tell whether the student's code is quiescent (every thread
waits, and nothing but the scorer can end its waits), and when a call reaches its wall limit, to
say what the code was doing (computing, waiting for nothing, or waiting in real time in a way the
grader could not make virtual). Every function tolerates processes and threads that end meanwhile.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

from grader.feedback import Text

# Blocking system calls, by machine: number -> (name, index of the argument that holds the time
# limit, how to read it). "ptr": a pointer (0 = no limit), "int": a timeout in ms (< 0 = no limit),
# "always": timed by nature, "never": untimed.
_X86_64 = {
    0: ("read", 0, "never"), 7: ("poll", 2, "int"), 23: ("select", 4, "ptr"), 34: ("pause", 0, "never"),
    35: ("nanosleep", 0, "always"), 43: ("accept", 0, "never"), 45: ("recvfrom", 0, "never"),
    47: ("recvmsg", 0, "never"), 61: ("wait4", 0, "never"), 128: ("rt_sigtimedwait", 2, "ptr"),
    130: ("rt_sigsuspend", 0, "never"), 202: ("futex", 3, "futex"), 220: ("semtimedop", 3, "ptr"),
    230: ("clock_nanosleep", 0, "always"), 232: ("epoll_wait", 3, "int"), 247: ("waitid", 0, "never"),
    270: ("pselect6", 4, "ptr"), 271: ("ppoll", 2, "ptr"), 281: ("epoll_pwait", 3, "int"),
    288: ("accept4", 0, "never"), 441: ("epoll_pwait2", 3, "ptr"), 449: ("futex_waitv", 3, "ptr"),
}
_AARCH64 = {
    22: ("epoll_pwait", 3, "int"), 63: ("read", 0, "never"), 72: ("pselect6", 4, "ptr"), 73: ("ppoll", 2, "ptr"),
    95: ("waitid", 0, "never"), 98: ("futex", 3, "futex"), 101: ("nanosleep", 0, "always"),
    115: ("clock_nanosleep", 0, "always"), 133: ("rt_sigsuspend", 0, "never"), 137: ("rt_sigtimedwait", 2, "ptr"),
    192: ("semtimedop", 3, "ptr"), 202: ("accept", 0, "never"), 207: ("recvfrom", 0, "never"),
    212: ("recvmsg", 0, "never"), 242: ("accept4", 0, "never"), 260: ("wait4", 0, "never"),
    441: ("epoll_pwait2", 3, "ptr"), 449: ("futex_waitv", 3, "ptr"),
}
SYSCALLS = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}.get(platform.machine().lower(), {})
_FUTEX_WAITS = {0, 6, 9, 11, 13}  # WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2
SLEEPS = {"nanosleep", "clock_nanosleep"}
FD_WAITS = {"poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2"}


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as file:
            return file.read().decode("utf-8", "replace")
    except OSError:
        return None


def threads(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def children(pid: int) -> list[int]:
    found = []
    for tid in threads(pid):
        text = _read(f"/proc/{pid}/task/{tid}/children")
        found += [int(child) for child in (text or "").split()]
    return found


def descendants(pid: int) -> list[int]:
    found, todo = [], children(pid)
    while todo:
        child = todo.pop()
        if child not in found:
            found.append(child)
            todo += children(child)
    return found


def _stat_fields(pid: int, tid: int | None = None) -> list[str] | None:
    text = _read(f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat")
    if not text or ")" not in text:
        return None
    return text.rsplit(")", 1)[1].split()


def state(pid: int, tid: int) -> str | None:
    """The thread's state letter (R running, S sleeping, D disk, T stopped, Z zombie...)."""
    fields = _stat_fields(pid, tid)
    return fields[0] if fields else None


def run_count(pid: int, tid: int) -> int | None:
    """How many times the thread ran on a CPU: unchanged between two looks = it did not run."""
    text = _read(f"/proc/{pid}/task/{tid}/schedstat")
    if text:
        return int(text.split()[2])
    status = _read(f"/proc/{pid}/task/{tid}/status") or ""  # without schedstats: its context switches
    switches = [int(line.split()[1]) for line in status.splitlines() if line.split(":")[0].endswith("ctxt_switches")]
    return sum(switches) if switches else None


def ns_tid(pid: int, tid: int) -> int:
    """The thread's id in its innermost pid namespace (the one the student's code sees)."""
    for line in (_read(f"/proc/{pid}/task/{tid}/status") or "").splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return tid


def name(pid: int) -> str:
    return (_read(f"/proc/{pid}/comm") or "?").strip()


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of these processes (and of the children they reaped), in seconds."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Blocked:
    """The system call a thread is blocked in."""

    name: str
    timed: bool  # with a time limit: real time passes for it


def blocked_in(pid: int, tid: int) -> Blocked | None:
    """None when the thread runs or its call cannot be read; "?" for a call this table does not know."""
    text = _read(f"/proc/{pid}/task/{tid}/syscall")
    if not text or text.startswith("running"):
        return None
    parts = text.split()
    try:
        number, args = int(parts[0]), [int(a, 16) for a in parts[1:7]]
    except (ValueError, IndexError):
        return None
    if number < 0:
        return None
    known = SYSCALLS.get(number)
    if known is None:
        return Blocked(f"syscall {number}", False)
    call, index, kind = known
    value = args[index] if index < len(args) else 0
    if kind == "always":
        timed = True
    elif kind == "ptr":
        timed = value != 0
    elif kind == "int":
        timed = (value & 0xFFFFFFFF) < 0x80000000  # the low 32 bits, signed: >= 0
    elif kind == "futex":
        timed = (args[1] & ~0x180) in _FUTEX_WAITS and value != 0
    else:
        timed = False
    return Blocked(call, timed)


# --- what a call that reached its wall limit was doing ---------------------------------------------------


@dataclass
class Seen:
    pid: int
    process: str
    what: str  # "running", "virtual" (a registered virtual wait), or a system call's name
    timed: bool


@dataclass
class Finding:
    kind: str  # busy (computes without end) | untimed (waits for nothing) | real_wait
    cpu_s: float
    wall_s: float
    seen: list[Seen]

    def text(self) -> Text:
        """What was seen, in both languages."""
        shown = sorted(self.seen, key=lambda s: (s.what == "running", not s.timed))[:3]
        fr = "; ".join(_describe(s, "fr") for s in shown) or "aucun processus"
        en = "; ".join(_describe(s, "en") for s in shown) or "no process"
        cpu_fr = f"{self.cpu_s:.1f}".replace(".", ",")
        wall_fr = f"{self.wall_s:.0f}"
        return Text(f"{fr} — {wall_fr} s de temps réel, {cpu_fr} s de calcul",
                    f"{en} — {self.wall_s:.0f} s of real time, {self.cpu_s:.1f} s of CPU")


def _describe(seen: Seen, lang: str) -> str:
    who = (f"le processus « {seen.process} » (pid {seen.pid})" if lang == "fr"
           else f"process \"{seen.process}\" (pid {seen.pid})")
    if seen.what == "running":
        return f"{who} calcule" if lang == "fr" else f"{who} computing"
    if seen.what == "virtual":
        return (f"{who} attend une échéance de temps virtuel que le correcteur n'a pas pu atteindre" if lang == "fr"
                else f"{who} waiting for a virtual deadline the grader could not reach")
    if seen.what in SLEEPS:
        return (f"{who} dort en temps réel ({seen.what})" if lang == "fr"
                else f"{who} sleeping in real time ({seen.what})")
    if seen.what in FD_WAITS:
        kind_fr = "avec délai" if seen.timed else "sans délai"
        kind_en = "with a time limit" if seen.timed else "without a time limit"
        return (f"{who} attend des entrées-sorties {kind_fr} ({seen.what})" if lang == "fr"
                else f"{who} waiting for I/O {kind_en} ({seen.what})")
    kind_fr = "avec délai" if seen.timed else "sans délai"
    kind_en = "with a time limit" if seen.timed else "without a time limit"
    return (f"{who} attend {kind_fr} ({seen.what})" if lang == "fr"
            else f"{who} waiting {kind_en} ({seen.what})")


def inspect(pids: list[int], registered: set[tuple[int, int]], cpu_s: float, wall_s: float) -> Finding:
    """What the processes `pids` do now. `registered`: (pid, tid) of threads in a virtual wait.

    busy: the code computed most of the time (an endless loop); untimed: every thread waits with
    no time limit and no virtual deadline (nothing will end the wait); real_wait: something waited
    in real time (a program the shim is not in, I/O that never answered, a virtual wait the grader
    could not reach), which the grader could not make virtual.
    """
    seen = []
    for pid in pids:
        process = name(pid)
        for tid in threads(pid):
            letter = state(pid, tid)
            if letter is None or letter in "ZX":
                continue
            if (pid, tid) in registered:
                seen.append(Seen(pid, process, "virtual", True))
            elif letter in "RD":
                seen.append(Seen(pid, process, "running", True))
            else:
                blocked = blocked_in(pid, tid)
                seen.append(Seen(pid, process, blocked.name if blocked else "?", bool(blocked and blocked.timed)))
    if wall_s > 0 and cpu_s >= 0.2 * wall_s:
        kind = "busy"
    elif any(s.timed for s in seen):
        kind = "real_wait"
    else:
        kind = "untimed"
    return Finding(kind, cpu_s, wall_s, seen)
