"""The scorer's clock server: when, and how far, the student's code moves on in virtual time.

One per worker (zygote). Its folder (bound read-only into the sandbox, named by ECS_LAB_CLOCK)
holds the shim (``libecslabtime.so``), the page (the virtual time, nanoseconds since the worker
started, which every process of the student's code reads through the shim) and ``clock.sock``: each
thread of the student's code that waits with a time limit connects there once and registers
each wait's virtual deadline, and each process its alarm. Those are hints from untrusted code: the
server alone decides.

It advances the time to the earliest registered deadline only when the student's code is
quiescent: a call (or an import) is in progress; no request of its is being served by the
scorer's servers; every thread of its processes is in a registered virtual wait or blocked without
a time limit (nothing runs, nothing waits on the real clock); and that looks the same twice, a
moment apart, with no message in between and no thread having run (the fast path: the only
thread of the only process of the check is in a registered wait, which nothing else can
disturb). It then writes the page, tells the threads whose deadline has come, and sends SIGALRM
to the processes whose alarm has.

Sessions: the zygote's (its imports: a virtual clock of its own, 600 s at most) and one per
check (the check's :class:`~grader.evidence.clock.VirtualClock`, which starts at 0 where the
worker's time then is: the student's time never goes back). Past a clock's limit the session's
`on_limit` stops the code (the check's "runs forever", an endless import).
"""

from __future__ import annotations

import mmap
import os
import select
import shutil
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from grader.evidence.clock import VirtualClock
from grader.worker.clock import LIBRARY_NAME, procfs

# Shared with timeshim.c (struct page, struct message): keep both in step.
PAGE = struct.Struct("<IIQqqq")  # magic, version, seq, now_ns, realtime_base_ns, monotonic_base_ns
PAGE_MAGIC, PAGE_VERSION = 0x4B4C4345, 1
MESSAGE = struct.Struct("<IIQqq")  # type, kind, seq, deadline_ns, extra
HELLO, WAIT, DONE, TIMER, WAKE = 1, 2, 3, 4, 10
NS = 1_000_000_000
MONOTONIC_START_NS = 100_000 * NS  # what time.monotonic() reads when the worker starts
IMPORT_LIMIT_S = 600.0
MAX_PEERS = 1024
SETTLE_S = 0.0003  # between the two looks at code that seems quiescent
RETRY_S = (0.0005, 0.005)  # first and longest pause before looking again at busy code
MAX_DEADLINE = 2**62


@dataclass
class Wait:
    seq: int
    deadline: int  # worker nanoseconds
    kind: int


@dataclass(eq=False)
class Session:
    """The zygote's imports, or one check: its clock, and whether its time may advance now."""

    server: "ClockServer"
    kind: str  # zygote | check
    clock: VirtualClock
    on_limit: Callable[[], None]
    base_ns: int = 0  # worker time at which this clock read 0
    running: bool = False  # a call (check) or an import (zygote) is in progress
    ended: bool = False
    over_limit: bool = False  # its clock passed its limit: its code was stopped
    last_advance: float = 0.0  # when (time.monotonic) its time last moved
    timers: dict[int, tuple[int, int]] = field(default_factory=dict)  # pid -> (deadline, interval) ns

    def calling(self, running: bool) -> None:
        """A call of the check starts (True) or ends: time advances only during calls."""
        self.server._set(self, running=running)

    def end(self) -> None:
        self.server._set(self, ended=True)

    def registered(self) -> set[tuple[int, int]]:
        """(pid, tid) of this session's threads in a virtual wait (for what a stopped call was doing)."""
        return self.server._registered(self)


@dataclass(eq=False)
class Peer:
    sock: socket.socket
    pid: int  # the connected process, in the scorer's pid namespace (SO_PEERCRED)
    session: Session
    tid: int = 0  # the connected thread, in the scorer's pid namespace (0: not known)
    greeted: bool = False
    wait: Wait | None = None


class ClockServer:
    def __init__(self, folder: Path, library: Path, *, namespaced: bool) -> None:
        """`namespaced`: the worker has its own pid namespace (its tids differ from the scorer's)."""
        self.folder = folder
        self.namespaced = namespaced
        folder.mkdir()
        os.chmod(folder, 0o755)  # the worker may run as another user
        shutil.copyfile(library, folder / LIBRARY_NAME)
        os.chmod(folder / LIBRARY_NAME, 0o644)
        page = folder / "page"
        page.write_bytes(bytes(mmap.PAGESIZE))
        os.chmod(page, 0o644)
        with open(page, "r+b") as file:
            self._page = mmap.mmap(file.fileno(), mmap.PAGESIZE)
        self._seq = 0
        self.now_ns = 0
        PAGE.pack_into(self._page, 0, PAGE_MAGIC, PAGE_VERSION, 0, 0, time.time_ns(), MONOTONIC_START_NS)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        path = str(folder / "clock.sock")
        if len(path.encode()) >= 104:
            raise OSError(f"path too long for a Unix socket: {path}")
        self._listener.bind(path)
        os.chmod(path, 0o666)
        self._listener.listen(128)
        self._listener.setblocking(False)
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._lock = threading.Lock()
        self._peers: dict[int, Peer] = {}  # by descriptor
        self._messages = 0  # any message changes what the code is doing
        self._closed = False
        self._retry = RETRY_S[0]
        self.zygote_pid: int | None = None
        self._importing = False
        self.zygote = Session(self, "zygote", VirtualClock(limit_s=IMPORT_LIMIT_S), self._import_over, running=True)
        self.import_over_limit: float | None = None  # virtual seconds, when an import never ended
        self._check: Session | None = None
        self._thread = threading.Thread(target=self._serve, name="clock-server", daemon=True)
        self._thread.start()

    # --- the scorer's side (the thread that runs the checks) ---------------------------------------
    def attach(self, zygote_pid: int) -> None:
        """The worker is ready: its zygote (in the scorer's pid namespace)."""
        with self._lock:
            self.zygote_pid = zygote_pid
            self.zygote.running = self._importing
        self._poke()

    @contextmanager
    def importing(self) -> Iterator[None]:
        """An import in the zygote: its virtual time may advance (600 s at most over the worker's life)."""
        self._set(self.zygote, running=True, importing=True)
        try:
            yield
        finally:
            self._set(self.zygote, running=False, importing=False)

    def begin_check(self, clock: VirtualClock, on_limit: Callable[[], None]) -> Session:
        """A check starts (before its process is forked): its clock starts at the worker's time now."""
        with self._lock:
            session = Session(self, "check", clock, on_limit, base_ns=self.now_ns)
            if self._check is not None:
                self._check.ended = True
            self._check = session
        self._poke()
        return session

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._poke()
        self._thread.join(timeout=5)
        for peer in list(self._peers.values()):
            peer.sock.close()
        self._peers.clear()
        self._listener.close()
        for fd in (self._wake_read, self._wake_write):
            os.close(fd)
        self._page.close()

    def _set(self, session: Session, *, running: bool | None = None, ended: bool | None = None,
             importing: bool | None = None) -> None:
        with self._lock:
            if importing is not None:
                self._importing = importing
            if running is not None:
                if session is self.zygote and running and not session.running:
                    # its clock goes on from where it stopped, the worker's time from where it is
                    session.base_ns = self.now_ns - int(session.clock.now * NS)
                session.running = running
            if ended:
                session.ended, session.running = True, False
                if self._check is session:
                    self._check = None
        self._poke()

    def _registered(self, session: Session) -> set[tuple[int, int]]:
        with self._lock:
            return {(p.pid, p.tid) for p in self._peers.values() if p.session is session and p.wait and p.tid}

    def _import_over(self) -> None:
        self.import_over_limit = self.zygote.clock.now
        if self.zygote_pid is not None:
            try:
                os.kill(self.zygote_pid, signal.SIGKILL)
            except OSError:
                pass

    def _poke(self) -> None:
        try:
            os.write(self._wake_write, b"x")
        except OSError:
            pass

    # --- the server's thread -----------------------------------------------------------------------
    def _serve(self) -> None:
        poller = select.poll()
        poller.register(self._listener.fileno(), select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        retry_at: float | None = None
        while not self._closed:
            timeout = None if retry_at is None else max(0.0, (retry_at - time.monotonic()) * 1000)
            try:
                events = poller.poll(timeout)
            except InterruptedError:
                continue
            changed = bool(events)
            for fd, _mask in events:
                if fd == self._listener.fileno():
                    self._accept(poller)
                elif fd == self._wake_read:
                    try:
                        while os.read(self._wake_read, 4096):
                            pass
                    except OSError:
                        pass
                else:
                    self._receive(fd, poller)
            if self._closed:
                return
            if changed:
                self._retry = RETRY_S[0]
            if changed or (retry_at is not None and time.monotonic() >= retry_at):
                try:
                    delay = self._decide(poller)
                except Exception:  # noqa: BLE001 - a bug here must not stop the clock for good
                    delay = RETRY_S[1]
                retry_at = None if delay is None else time.monotonic() + delay

    def _accept(self, poller: select.poll) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                pid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))[0]
            except OSError:
                sock.close()
                continue
            with self._lock:
                if len(self._peers) >= MAX_PEERS:
                    sock.close()  # the shim then waits in real time
                    continue
                check = self._check
                # the zygote's own threads, and whatever runs while no check does, are the zygote's
                session = check if check is not None and pid != self.zygote_pid and self.zygote_pid else self.zygote
                sock.setblocking(False)
                self._peers[sock.fileno()] = Peer(sock, pid, session)
            poller.register(sock.fileno(), select.POLLIN)

    def _receive(self, fd: int, poller: select.poll) -> None:
        peer = self._peers.get(fd)
        if peer is None:
            return
        while True:
            try:
                data = peer.sock.recv(MESSAGE.size + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if len(data) != MESSAGE.size:  # gone, or not the shim's
                self._drop(peer, poller)
                return
            kind, wait_kind, seq, deadline, extra = MESSAGE.unpack(data)
            if kind not in (HELLO, WAIT, DONE, TIMER):
                self._drop(peer, poller)
                return
            with self._lock:
                self._messages += 1
                if kind == HELLO and not peer.greeted:
                    peer.greeted = True
                    peer.tid = self._host_tid(peer.pid, seq)
                elif kind == WAIT:
                    peer.wait = Wait(seq, min(max(deadline, 0), MAX_DEADLINE), wait_kind)
                elif kind == DONE:
                    if peer.wait is not None and peer.wait.seq == seq:
                        peer.wait = None
                elif kind == TIMER:
                    if deadline > 0:
                        peer.session.timers[peer.pid] = (min(deadline, MAX_DEADLINE), min(max(extra, 0), MAX_DEADLINE))
                    else:
                        peer.session.timers.pop(peer.pid, None)

    def _host_tid(self, pid: int, tid: int) -> int:
        if not self.namespaced:
            return tid if os.path.exists(f"/proc/{pid}/task/{tid}") else 0
        for host in procfs.threads(pid):
            if procfs.ns_tid(pid, host) == tid:
                return host
        return 0

    def _drop(self, peer: Peer, poller: select.poll) -> None:
        with self._lock:
            self._messages += 1
            self._peers.pop(peer.sock.fileno(), None)
        try:
            poller.unregister(peer.sock.fileno())
        except (KeyError, ValueError):
            pass
        peer.sock.close()

    # --- the decision --------------------------------------------------------------------------------
    def _decide(self, poller: select.poll) -> float | None:
        """Advance if the code is quiescent; when to look again (None: nothing to wait for)."""
        with self._lock:
            session = self._check if self._check is not None and self._check.running else (
                self.zygote if self.zygote.running else None)
            if session is None or session.ended:
                return None
            for pid in [pid for pid in session.timers if (procfs.state(pid, pid) or "Z") in "ZX"]:
                del session.timers[pid]  # its process is gone: its alarm with it
            deadlines = [p.wait.deadline for p in self._peers.values() if p.session is session and p.wait]
            deadlines += [deadline for deadline, _ in session.timers.values()]
            if not deadlines:
                return None
            registered = {p.tid: p.wait.seq for p in self._peers.values()
                          if p.session is session and p.wait and p.tid}
            target = min(deadlines)
        if session.kind == "check" and session.clock.in_flight:
            return self._busy()
        first = self._sample(session, registered)
        if first is None:
            return self._busy()
        if not (len(first[1]) == 1 and first[1][0][1] == "W"):  # not the only thread: look again
            time.sleep(SETTLE_S)
            if poller.poll(0):
                return 0.0  # something came meanwhile: read it first
            if session.kind == "check" and session.clock.in_flight:
                return self._busy()
            if self._sample(session, registered) != first:
                return self._busy()
        self._advance(session, target)
        return RETRY_S[0]  # the threads it woke run; others may wait for a later deadline

    def _busy(self) -> float:
        delay, self._retry = self._retry, min(self._retry * 2, RETRY_S[1])
        return delay

    def _sample(self, session: Session, registered: dict[int, int]) -> tuple | None:
        """What every thread of the session's processes does, or None when one runs or waits in real time."""
        zygote = self.zygote_pid
        if zygote is None:  # before the worker is ready: only its own start-up code runs
            return (self._messages, (("start", "W", 0),))
        pids = ([zygote] if session.kind == "zygote" else []) + procfs.descendants(zygote)
        entries = []
        for pid in pids:
            for tid in procfs.threads(pid):
                letter = procfs.state(pid, tid)
                if letter is None or letter in "ZXI":
                    continue
                if letter in "RDW":  # runs, even registered: what it waited for may have come
                    return None
                if tid in registered:
                    entries.append((tid, "W", registered[tid]))
                    continue
                blocked = procfs.blocked_in(pid, tid)
                if blocked is not None and blocked.timed:
                    return None  # real time passes for it: a real sleep, I/O with a time limit...
                entries.append((tid, "U", procfs.run_count(pid, tid)))
        return (self._messages, tuple(sorted(entries)))

    def _advance(self, session: Session, target: int) -> None:
        woken: list[tuple[Peer, int]] = []
        fired: list[int] = []
        with self._lock:
            if not session.running or session.ended or self._closed:
                return
            session.last_advance = time.monotonic()
            if target > self.now_ns:
                if not session.clock.advance((target - session.base_ns) / NS):
                    session.over_limit = True
                else:
                    self._write(target)
            if not session.over_limit:
                for peer in self._peers.values():
                    if peer.session is session and peer.wait and peer.wait.deadline <= self.now_ns:
                        woken.append((peer, peer.wait.seq))
                        peer.wait = None
                for pid, (deadline, interval) in list(session.timers.items()):
                    if deadline <= self.now_ns:
                        fired.append(pid)
                        if interval:
                            missed = (self.now_ns - deadline) // interval + 1
                            session.timers[pid] = (deadline + missed * interval, interval)
                        else:
                            del session.timers[pid]
        if session.over_limit:
            session.running = False
            session.on_limit()
            return
        for peer, seq in woken:
            try:
                peer.sock.send(MESSAGE.pack(WAKE, 0, seq, self.now_ns, 0))
            except OSError:
                pass  # gone: its end of file comes next
        for pid in fired:
            try:
                os.kill(pid, signal.SIGALRM)
            except OSError:
                pass

    def _write(self, now_ns: int) -> None:
        """The page's seqlock: odd while writing, so that a reader never takes half a time."""
        struct.pack_into("<Q", self._page, 8, self._seq + 1)
        struct.pack_into("<q", self._page, 16, now_ns)
        struct.pack_into("<Q", self._page, 8, self._seq + 2)
        self._seq += 2
        self.now_ns = now_ns
