"""The scorer's side of a worker: start it, import the submission there, fork one child per check.

    with Worker(submission_files, settings) as worker:      # one per tier run
        worker.module_problem("s3_io")                        # None, or why it cannot be imported
        with worker.check(clock) as child:                    # one per check: killed at the end
            outcome = child.call("ops.monitor_task", args, kwargs)

Everything the worker says is checked (grader.worker.values); a worker that dies, hangs,
floods its output or answers garbage becomes an :class:`Outcome` of that call, never an
exception of the scorer. When a check ends, every process the worker started for it is
killed (a check's child, its children, and any orphan they left).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from grader.feedback import Text
from grader.worker import clock as timeshim
from grader.worker import sandbox
from grader.worker.clock import procfs
from grader.worker.clock.server import ClockServer, Session
from grader.worker.values import Garbage, StudentError, decode, decode_error, encode

START_TIME_LIMIT_S = 60
IMPORT_TIME_LIMIT_S = 20
MAX_ANSWER = 16 * 1024 * 1024
OUTPUT_KEPT = 64 * 1024  # bytes of stdout/stderr kept per call (the rest is counted, not stored)
MAX_RESTARTS = 4
# A call stopped at its wall limit whose virtual time moved this recently was not stuck in a real
# wait: it keeps going without end (its verdict stays "does not answer").
LIVE_CLOCK_S = 2.0
# The worker processes this scorer started (bubblewrap or the zygote): never taken for an orphan.
_ALL_WORKER_PROCESSES: set[int] = set()


class WorkerFailure(Exception):
    """The worker cannot be used. Before the submission runs there, a problem of the grader's
    machine; once the submission's code has run in it (`submission_fault`), the submission's."""

    def __init__(self, message: str, submission_fault: bool = False) -> None:
        super().__init__(message)
        self.submission_fault = submission_fault


@dataclass
class Output:
    """A bounded capture of one stream."""

    kept: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, data: bytes) -> None:
        room = OUTPUT_KEPT - len(self.kept)
        self.kept += data[:max(room, 0)]
        self.dropped += max(len(data) - max(room, 0), 0)

    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace")
        return text + (f"\n[… {self.dropped} octets de plus / {self.dropped} more bytes]" if self.dropped else "")


@dataclass
class Outcome:
    """What happened when the scorer asked the worker to run one function of the student's."""

    # returned | raised | missing | timeout | crashed | exited | stopped | endless | garbage, or
    # real_wait: stopped by the wall limit while waiting in real time in a way the grader could not
    # make virtual (what was seen in `reason`): the grader's limit, not a verdict on the code
    status: str
    value: Any = None
    error: StudentError | None = None
    missing: str = ""  # the attribute that does not exist
    stdout: str = ""
    stderr: str = ""
    detail: str = ""  # exit code, signal, time limit
    reason: Any = None  # why the scorer stopped the code (a Text from the check's scenario)
    wall_s: float = 0.0
    flags: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()


class CheckProcess:
    """A check's own child of the worker: its calls, its output, its end."""

    def __init__(self, worker: "Worker", control: socket.socket, out_fd: int, err_fd: int, pid: int,
                 clock: Any, session: Session | None = None) -> None:
        self.worker = worker
        self.control = control
        self.out_fd, self.err_fd = out_fd, err_fd
        self.pid = pid  # in the worker's namespace
        self.clock = clock
        self.session = session  # the check's session of the worker's clock server (the time shim)
        self._buffer = bytearray()
        self._stop_reason: Any = None
        self._death: Outcome | None = None  # how the child ended, for the calls that come after
        self._last_sleep = 0.0  # when (time.monotonic) the fallback clock last moved

    # --- calls -------------------------------------------------------------------------------
    def call(self, target: str, args: tuple = (), kwargs: dict | None = None, *, keep: str | None = None,
             time_limit_s: float = 30.0) -> Outcome:
        started = time.monotonic()
        out, err = Output(), Output()
        if self._death is not None:  # the child is gone: the same answer as when it went
            return Outcome(self._death.status, detail=self._death.detail, reason=self._death.reason)
        request = {"target": target, "args": encode(list(args)), "kwargs": encode(kwargs or {}), "keep": keep}
        try:
            data = json.dumps(request).encode()
            self.control.sendall(struct.pack(">I", len(data)) + data)
        except OSError:
            return self._ended(out, err, started)
        if self.session is not None:
            self.session.calling(True)
        try:
            return self._serve_call(out, err, started, time_limit_s)
        finally:
            if self.session is not None:
                self.session.calling(False)

    def _serve_call(self, out: Output, err: Output, started: float, time_limit_s: float) -> Outcome:
        cpu_before = self._cpu() if self.worker.clock_mode == "virtual" else 0.0
        deadline = started + time_limit_s
        streams = {self.control.fileno(): None, self.out_fd: out, self.err_fd: err}
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome = self._wall_limit(time_limit_s, cpu_before, time.monotonic() - started)
                self.kill()
                return self._finish(outcome, out, err, started)
            ready, _, _ = select.select(list(streams), [], [], min(remaining, 1.0))
            for fd in ready:
                if fd != self.control.fileno():
                    data = _read(fd)
                    if data:
                        streams[fd].add(data)
                    else:
                        streams.pop(fd)
                    continue
                try:
                    chunk = self.control.recv(1 << 20)
                except OSError:
                    chunk = b""
                if not chunk:
                    return self._ended(out, err, started)
                self._buffer += chunk
                while True:
                    message = self._message()
                    if message is None:
                        break
                    if isinstance(message, Outcome):
                        return self._finish(message, out, err, started)
                    if message.get("op") == "sleep":
                        self._last_sleep = time.monotonic()
                        reply = self._sleep(message)
                        if reply is None:
                            self.kill()
                            return self._finish(Outcome("endless", detail=self.clock.describe_limit()),
                                                out, err, started)
                        self._send({"now": reply})
                    elif message.get("op") == "answer":
                        return self._finish(self._answer(message), out, err, started)
                    else:
                        self.kill()
                        return self._finish(Outcome("garbage", detail="unknown message"), out, err, started)

    def _cpu(self) -> float:
        return procfs.cpu_seconds(self.worker.check_pids())

    def _wall_limit(self, time_limit_s: float, cpu_before: float, wall_s: float) -> Outcome:
        """The call reached its wall limit: an endless loop, a wait for nothing, or a real wait.

        On the virtual clock, correct code never waits in real time; when it does (a program the
        time shim is not in, I/O that never answers...), what was seen is said, and the check is
        not graded: the grader's limit, not the student's fault. A loop that computes without end,
        or a wait that nothing will end, keep their verdict.
        """
        timeout = Outcome("timeout", detail=f"{time_limit_s:g}")
        if self.worker.clock_mode != "virtual":
            return timeout
        moved = self.session.last_advance if self.session is not None else self._last_sleep
        if time.monotonic() - moved < LIVE_CLOCK_S:  # its virtual time was still moving: it never ends
            return timeout
        pids = self.worker.check_pids()
        registered = self.session.registered() if self.session is not None else set()
        finding = procfs.inspect(pids, registered, max(procfs.cpu_seconds(pids) - cpu_before, 0.0), wall_s)
        if finding.kind != "real_wait":
            return timeout
        seen = finding.text()
        return Outcome("real_wait", detail=seen.en, reason=seen)

    def _message(self) -> dict | Outcome | None:
        if len(self._buffer) < 4:
            return None
        (size,) = struct.unpack(">I", self._buffer[:4])
        if size > MAX_ANSWER:
            self.kill()
            return Outcome("garbage", detail="answer too large")
        if len(self._buffer) < 4 + size:
            return None
        data = bytes(self._buffer[4:4 + size])
        del self._buffer[:4 + size]
        try:
            message = json.loads(data)
        except ValueError:
            self.kill()
            return Outcome("garbage", detail="not JSON")
        if not isinstance(message, dict):
            self.kill()
            return Outcome("garbage", detail="not an object")
        return message

    def _sleep(self, message: dict) -> float | None:
        seconds = message.get("seconds")
        if self.clock is None or not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
            return None if self.clock is not None else 0.0
        return self.clock.sleep(float(seconds))

    def _send(self, message: dict) -> None:
        data = json.dumps(message).encode()
        try:
            self.control.sendall(struct.pack(">I", len(data)) + data)
        except OSError:
            pass

    def _answer(self, message: dict) -> Outcome:
        flags = message.get("flags") if isinstance(message.get("flags"), list) else []
        flags = [str(f)[:300] for f in flags[:20]]
        status = message.get("status")
        try:
            if status == "returned":
                return Outcome("returned", value=decode(message.get("value")), flags=flags)
            if status == "raised":
                return Outcome("raised", error=decode_error(message.get("error")), flags=flags)
            if status == "missing":
                return Outcome("missing", missing=str(message.get("name", ""))[:200], flags=flags)
        except (Garbage, RecursionError, ValueError, TypeError) as error:
            self.kill()
            return Outcome("garbage", detail=str(error)[:200])
        self.kill()
        return Outcome("garbage", detail="unknown status")

    def _ended(self, out: Output, err: Output, started: float) -> Outcome:
        """The control socket closed: the child died. How (exit code, signal) comes from the worker."""
        if self._stop_reason is not None:
            return self._finish(Outcome("stopped", reason=self._stop_reason), out, err, started)
        if self.session is not None and self.session.over_limit:  # the clock server stopped it
            self.kill()
            return self._finish(Outcome("endless", detail=self.clock.describe_limit()), out, err, started)
        status = self.worker.exit_status(self.pid)
        self.kill()
        if status is None:
            outcome = Outcome("exited", detail="?")
        elif os.WIFSIGNALED(status):
            outcome = Outcome("crashed", detail=_signal_name(os.WTERMSIG(status)))
        else:
            outcome = Outcome("exited", detail=str(os.WEXITSTATUS(status)))
        return self._finish(outcome, out, err, started)

    def _finish(self, outcome: Outcome, out: Output, err: Output, started: float) -> Outcome:
        for fd, capture in ((self.out_fd, out), (self.err_fd, err)):  # what is left in the pipes
            while True:
                ready, _, _ = select.select([fd], [], [], 0)
                data = _read(fd) if ready else b""
                if not data:
                    break
                capture.add(data)
        outcome.stdout, outcome.stderr = out.text(), err.text()
        outcome.wall_s = time.monotonic() - started
        if self._stop_reason is not None and outcome.status != "returned":
            outcome.status, outcome.reason = "stopped", self._stop_reason
        if outcome.status not in ("returned", "raised", "missing"):
            self._death = outcome
        return outcome

    # --- the end ------------------------------------------------------------------------------
    def stop(self, reason: Any) -> None:
        """Stop the student's code now (called by the scorer's servers: a busy loop...)."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self.kill()

    def kill(self) -> None:
        self.worker.kill_check_processes()

    def close(self) -> None:
        self.kill()
        if self.session is not None:
            self.session.end()
        self.worker.forget_session(self.pid)
        for closer in (self.control.close, lambda: os.close(self.out_fd), lambda: os.close(self.err_fd)):
            try:
                closer()
            except OSError:
                pass


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except OSError:
        return b""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass
class ImportProblem:
    """Why a module of the submission cannot be used (raised, endless, exited, timeout)."""

    kind: str
    error: StudentError | None = None
    detail: str = ""


@dataclass(frozen=True)
class Endpoint:
    """A server of the scorer's that the worker may reach: on its Unix socket (the worker makes no
    network socket: 127.0.0.1:port leads there, see runtime/ecs_lab_confinement.py), or on TCP where
    the platform has no Unix sockets."""

    host: str
    port: int
    unix_socket: str | None = None
    scheme: str = "http"

    def url(self) -> str:
        return f"{self.scheme}://{'127.0.0.1' if self.unix_socket else self.host}:{self.port}"


class Worker:
    """The student's zygote: one process per tier run, with the submission imported, forking checks."""

    def __init__(self, files: dict[str, Path], *, region: str, clock: str, environment: dict[str, str],
                 endpoints: dict[str, Endpoint] | None = None, forbidden_paths: list[str] | None = None) -> None:
        self.files = files  # module name -> the submission's file
        self.region = region
        self.clock_mode = clock  # "virtual" (the scorer's clock) or "real"
        endpoints = endpoints or {}
        # environment variable -> URL of a scorer's endpoint (AWS_ENDPOINT_URL, DOCKER_HOST)
        self.environment = {**environment, **{name: e.url() for name, e in endpoints.items()}}
        self.docker_url = self.environment.get("DOCKER_HOST", "")
        self.unix_endpoints = {e.port: e.unix_socket for e in endpoints.values() if e.unix_socket}
        for path in self.unix_endpoints.values():
            sandbox.open_to_worker(path)
        self.forbidden_paths = forbidden_paths or []
        self.problems: dict[str, ImportProblem] = {}
        self.flags: list[str] = []
        self.protections: list = []  # what protected the grader (Texts), from what the worker applied
        self.confinement: dict = {}  # what the worker reported it applied
        self.uid: int | None = None  # the worker's own user, when the grader is root
        self._clock: ClockServer | None = None  # the time shim's server (virtual clock, where it works)
        self.clock_kind = ""  # "shim" | "python" (the fallback) | "" (real clock)
        self.mode = ""
        self._lock = threading.RLock()
        self._private: Path | None = None
        self._process: subprocess.Popen | None = None
        self._socket: socket.socket | None = None
        self._zygote: psutil.Process | None = None
        self._restarts = 0
        self._imported: list[str] = []
        self._sessions: set[int] = set()  # process mode: sessions started by checks' children
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="worker-spawner")
        self._fds: list[int] = []
        self._keep: set[int] = set()

    # --- life ----------------------------------------------------------------------------------
    def __enter__(self) -> "Worker":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        """Start the zygote and import every module of the submission that imports cleanly."""
        while True:
            self._spawn()
            pending = [m for m in self.files if m not in self.problems and m not in self._imported]
            if all(self._import(name) for name in pending):
                return
            if self._restarts >= MAX_RESTARTS:
                raise WorkerFailure("the worker keeps dying while importing the submission", submission_fault=True)
            self._restarts += 1
            self._shutdown()

    def _spawn(self) -> None:
        self._imported = []
        self._private = Path(tempfile.mkdtemp(prefix="ecs-lab-worker-"))
        os.chmod(self._private, 0o755)
        for sub in ("student", "work"):
            (self._private / sub).mkdir()
        for name, path in self.files.items():
            if name not in self.problems:
                shutil.copyfile(path, self._private / "student" / f"{name}.py")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._start_clock()
        clock_folder = [str(self._clock.folder)] if self._clock else []
        plan = sandbox.plan(self._private, worker_fd=theirs.fileno(),
                            environment={**self.environment, **self._clock_environment()},
                            settings={"region": self.region, "clock": self.clock_mode, "docker_url": self.docker_url,
                                      "clock_shim": self._clock is not None},
                            unix_endpoints=self.unix_endpoints, forbidden_paths=self.forbidden_paths,
                            readable=clock_folder)
        self.mode, self.uid = plan.mode, plan.settings["uid"]
        log = open(self._private / "worker.log", "wb")  # noqa: SIM115 - kept by the process
        try:
            # Always from the same long-lived thread: bubblewrap's --die-with-parent follows the
            # thread that started it, and the world may start the worker from a short-lived one.
            self._process = self._spawner.submit(
                subprocess.Popen, plan.argv, env=plan.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, pass_fds=[theirs.fileno()], start_new_session=True).result()
        except OSError as error:
            raise WorkerFailure(f"cannot start the worker: {error}") from error
        finally:
            theirs.close()
            log.close()
        _ALL_WORKER_PROCESSES.add(self._process.pid)
        become_subreaper()
        self._socket = ours
        ours.settimeout(START_TIME_LIMIT_S)
        try:
            ours.send(json.dumps(plan.settings).encode())
            ready = self._receive()
            if ready.get("op") != "ready":
                raise ValueError("the worker's first message is not its readiness")
            # Said before any code of the submission ran in the worker: it can be trusted.
            self.confinement = ready.get("confinement") if isinstance(ready.get("confinement"), dict) else {}
            self.protections = sandbox.protections(plan.mode, plan.settings["limits"], self.confinement)
            self._clock_ready(ready)
        except (OSError, ValueError, EOFError) as error:
            tail = (self._private / "worker.log").read_bytes()[-1500:].decode("utf-8", "replace")
            self._shutdown()
            raise WorkerFailure(f"the worker did not start ({type(error).__name__}): {tail}") from error
        self._zygote = self._find_zygote()
        if self._clock is not None and self._zygote is not None:
            self._clock.attach(self._zygote.pid)
        # bubblewrap's own processes and the zygote: everything else in the tree is the submission's
        self._keep = {self._process.pid} | _descendants(_process_table(), self._process.pid)

    # --- the virtual clock ----------------------------------------------------------------------------
    def _start_clock(self) -> None:
        """The time shim's server, when the student's code runs on the virtual clock and the shim works here."""
        self._clock = None
        if self.clock_mode != "virtual":
            return
        library = timeshim.library()
        if library is None:
            return
        try:
            self._clock = ClockServer(self._private / "clock", library, namespaced=sandbox.mode() == "bubblewrap")
        except OSError:
            self._clock = None

    def _clock_environment(self) -> dict[str, str]:
        """The shim in every process of the student's code (children inherit it), and where its clock is."""
        if self._clock is None:
            return {}
        return {"LD_PRELOAD": str(self._clock.folder / timeshim.LIBRARY_NAME), "ECS_LAB_CLOCK": str(self._clock.folder)}

    def _clock_ready(self, ready: dict) -> None:
        """The worker says which clock it runs: the shim's, or the Python-level fallback."""
        if self.clock_mode != "virtual":
            self.clock_kind = ""
            return
        self.clock_kind = "shim" if self._clock is not None and ready.get("clock") == "shim" else "python"
        if self.clock_kind == "python" and self._clock is not None:
            self._clock.close()
            self._clock = None
        self.protections = [*self.protections, _clock_protection(self.clock_kind)]

    def check_pids(self) -> list[int]:
        """The processes of the running check (in the scorer's pid namespace)."""
        if self._zygote is None:
            return []
        return procfs.descendants(self._zygote.pid)

    def _find_zygote(self) -> psutil.Process | None:
        """The worker's host process: the Popen itself, or bubblewrap's innermost child."""
        try:
            root = psutil.Process(self._process.pid)
            if self.mode == "process":
                return root
            children = [p for p in root.children(recursive=True) if not p.name().startswith("bwrap")]
            return children[0] if children else None
        except psutil.Error:
            return None

    def _receive(self, timeout: float | None = None, fds: int = 0) -> dict:
        if timeout is not None:
            self._socket.settimeout(timeout)
        if fds:
            data, received, _flags, _addr = socket.recv_fds(self._socket, 1 << 20, fds)
            self._fds = received
        else:
            data = self._socket.recv(1 << 20)
        if not data:
            raise EOFError("the worker closed its socket")
        message = json.loads(data)
        if not isinstance(message, dict):
            raise ValueError("not an object")
        return message

    def _import(self, name: str) -> bool:
        """Import one module in the zygote; False when the zygote died or hung doing it."""
        path = f"{self._student_dir()}/{name}.py"
        importing = self._clock.importing() if self._clock is not None else contextlib.nullcontext()
        try:
            with importing:
                self._socket.send(json.dumps({"op": "import", "module": name, "path": path}).encode())
                answer = self._receive(timeout=IMPORT_TIME_LIMIT_S)
        except TimeoutError:
            self.problems[name] = ImportProblem("timeout", detail=str(IMPORT_TIME_LIMIT_S))
            return False
        except (OSError, EOFError, ValueError):
            if self._clock is not None and self._clock.import_over_limit is not None:  # the clock stopped it
                self.problems[name] = ImportProblem("endless", detail=f"{self._clock.import_over_limit:g}")
                return False
            status = self._process.poll() if self._process else None
            if status is None:
                try:
                    status = self._process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    status = None
            self.problems[name] = ImportProblem("exited", detail="?" if status is None else str(status))
            return False
        self._take_flags(answer.get("flags"))
        if answer.get("problem") == "endless":
            self.problems[name] = ImportProblem("endless", detail=str(answer.get("virtual_s", "")))
            return False
        if answer.get("problem") == "raised":
            try:
                error = decode_error(answer.get("error"))
            except Garbage:
                error = None
            self.problems[name] = ImportProblem("raised", error=error)
            return True
        self._imported.append(name)
        return True

    def _student_dir(self) -> str:
        return f"{sandbox.SANDBOX_ROOT}/student" if self.mode == "bubblewrap" else str(self._private / "student")

    def _take_flags(self, flags: Any) -> None:
        for flag in flags if isinstance(flags, list) else []:
            text = str(flag)[:300]
            if text not in self.flags and len(self.flags) < 50:
                self.flags.append(text)

    def module_problem(self, name: str) -> ImportProblem | None:
        if name not in self.files:
            return ImportProblem("absent")
        return self.problems.get(name)

    # --- checks --------------------------------------------------------------------------------
    @contextmanager
    def check(self, clock: Any = None, cpu_s: int = 20) -> Iterator[CheckProcess]:
        child = self.fork(clock, cpu_s)
        try:
            yield child
        finally:
            child.close()

    def fork(self, clock: Any = None, cpu_s: int = 20) -> CheckProcess:
        with self._lock:
            for attempt in range(2):
                session = None
                try:
                    if self._clock is not None and clock is not None:  # before the fork: the child's waits are its
                        session = self._clock.begin_check(clock, self.kill_check_processes)
                    self._socket.send(json.dumps({"op": "fork", "cpu_s": cpu_s}).encode())
                    answer = self._receive(timeout=15, fds=3)
                    if answer.get("op") != "forked" or len(self._fds) != 3:
                        raise ValueError("bad fork answer")
                    control = socket.socket(fileno=self._fds[0])
                    if self.mode == "process":
                        self._sessions.add(int(answer["pid"]))
                    return CheckProcess(self, control, self._fds[1], self._fds[2], int(answer["pid"]), clock,
                                        session)
                except (OSError, EOFError, ValueError, KeyError, TypeError):
                    if session is not None:
                        session.end()
                    if attempt or self._restarts >= MAX_RESTARTS:
                        # The submission's code ran in the zygote (its imports): it broke it.
                        raise WorkerFailure("the worker stopped answering", submission_fault=True) from None
                    # The zygote died (something the submission started at import killed it): again.
                    self._restarts += 1
                    self._shutdown()
                    self.start()
            raise WorkerFailure("unreachable")

    def exit_status(self, pid: int) -> int | None:
        """The exit status of a check's child, from the zygote that forked it."""
        with self._lock:
            try:
                self._socket.send(json.dumps({"op": "wait", "pid": pid, "timeout_s": 1.0}).encode())
                answer = self._receive(timeout=5)
            except (OSError, EOFError, ValueError):
                return None
            status = answer.get("status")
            return status if isinstance(status, int) and not isinstance(status, bool) else None

    def forget_session(self, pid: int) -> None:
        self._sessions.discard(pid)

    def kill_check_processes(self) -> None:
        """Kill every process the submission started since the zygote forked (thread-safe).

        In the sandbox: every process of its namespace but bubblewrap's and the zygote; without
        it: the zygote's descendants (it is their subreaper) and whatever still belongs to a
        session a check's child started.
        """
        with self._lock:  # no check forks meanwhile: its new child would be taken for a leftover
            self._kill_check_processes()

    def _kill_check_processes(self) -> None:
        if self._zygote is None or self._process is None:
            return
        root = self._process.pid if self.mode == "bubblewrap" else self._zygote.pid
        for _ in range(50):
            # In the sandbox every process of the submission is under bubblewrap (its own process
            # namespace): walking down from it reads a few /proc entries, not the whole machine's.
            table = _tree_table(root) if self.mode == "bubblewrap" and not self._sessions else None
            if table is None:
                table = _process_table()
            victims = _descendants(table, root) - self._keep
            victims |= {pid for pid, (_ppid, _state, sid) in table.items() if sid in self._sessions}
            victims = {pid for pid in victims if table.get(pid, (0, "Z", 0))[1] not in "ZX"}
            if not victims and self.mode != "bubblewrap":
                # What escaped the tree (a double fork after killing its parent, a new session): the
                # worker's own user's processes, and the orphans the scorer adopted. (Nothing leaves
                # bubblewrap's process namespace: there, its user is swept when the worker ends.)
                victims = (self._escaped() - self._keep) - {self._zygote.pid}
            if not victims:
                return
            _kill(victims)

    def _escaped(self) -> set[int]:
        """Processes of the submission no longer under the worker: its own user's (the grader is root),
        or orphans the scorer adopted (it is their subreaper) that carry the worker's seccomp filter."""
        found = _processes_of(self.uid) if self.uid is not None else set()
        if self.confinement.get("seccomp"):
            found |= {pid for pid in _adopted() if _seccomp_filters(pid) > _seccomp_filters(os.getpid())}
        return found - _ALL_WORKER_PROCESSES

    # --- the end -------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        if self._process is not None:
            self.kill_check_processes()
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self._process.kill()
                self._process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
            try:  # bubblewrap's namespace dies after bubblewrap: nothing of it outlives the grader
                if self._zygote is not None:
                    self._zygote.wait(timeout=5)
            except psutil.Error:
                pass
            for _ in range(50):  # the worker's own user, the zygote included: nothing of it is left
                escaped = (_processes_of(self.uid) if self.uid is not None else set()) | self._escaped()
                if not escaped:
                    break
                _kill(escaped)
            _ALL_WORKER_PROCESSES.discard(self._process.pid)
            self._process = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._clock is not None:
            self._clock.close()
            self._clock = None
        self._zygote = None
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None

    def close(self) -> None:
        with self._lock:
            self._shutdown()
        self._spawner.shutdown(wait=False)


def _clock_protection(kind: str) -> Text:
    """Which virtual clock the student's code ran on (the report says it with the protections)."""
    if kind == "shim":
        return Text(
            "horloge virtuelle : toutes les attentes minutées du code étudiant (pauses, verrous, conditions, files, "
            "select/poll/epoll, asyncio, minuteries, alarm, processus enfants) avancent le temps virtuel, pas le "
            "temps réel ; le temps ne passe pas pendant le calcul",
            "virtual clock: every timed wait of the student's code (sleeps, locks, conditions, queues, "
            "select/poll/epoll, asyncio, timers, alarm, child processes) advances virtual time, not real time; "
            "time does not pass while the code computes")
    why = timeshim.why_not() or "the worker could not load it"
    return Text(
        f"horloge virtuelle réduite (module C du temps virtuel indisponible ici : {why}) : seuls time.sleep, "
        "time.time, datetime, monotonic, perf_counter et Event.wait sont virtuels ; les autres attentes se font en "
        "temps réel, et une vérification qu'elles arrêtent n'est pas notée",
        f"reduced virtual clock (the C time shim is not available here: {why}): only time.sleep, time.time, "
        "datetime, monotonic, perf_counter and Event.wait are virtual; other waits take real time, and a check "
        "they stop is not graded")


def _process_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, state, session id) of every process of the machine, in one pass."""
    if not os.path.isdir("/proc/self"):  # not Linux: psutil's view (no session ids)
        return {p.pid: (p.info["ppid"] or 0, "Z" if p.info["status"] == psutil.STATUS_ZOMBIE else "R", -1)
                for p in psutil.process_iter(["ppid", "status"])}
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), fields[0].decode(), int(fields[3]))
    return table


def _processes_of(uid: int) -> set[int]:
    """Every live process whose real user is `uid` (read from /proc/PID/status: a process that changed
    its user is not dumpable, and /proc shows it as root's)."""
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _status(int(entry.name))
        if fields.get("Uid", "").split(None, 1)[:1] == [str(uid)] and fields.get("State", "?")[:1] not in "ZX":
            found.add(int(entry.name))
    return found


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            text = status.read(4096).decode("utf-8", "replace")
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _seccomp_filters(pid: int) -> int:
    value = _status(pid).get("Seccomp_filters", "0").strip()
    return int(value) if value.isdigit() else 0


def _adopted() -> set[int]:
    """The scorer's own children that it did not start: orphans of the submission it adopted as their
    subreaper (become_subreaper)."""
    children: set[int] = set()
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children", "rb") as listing:
                children.update(int(pid) for pid in listing.read().split())
    except OSError:
        return set()
    return children - _ALL_WORKER_PROCESSES


def _kill(pids: set[int]) -> None:
    """SIGKILL `pids`; the scorer's own children among them (adopted orphans) are reaped."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for pid in pids & _adopted():
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    time.sleep(0.001)


def become_subreaper() -> None:
    """Orphans of the submission are re-parented to the scorer, not to init (or a container's PID 1,
    which may never reap them): the scorer finds them, kills them and reaps them."""
    if sys.platform == "linux":
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def _tree_table(root: int) -> dict[int, tuple[int, str, int]] | None:
    """The `_process_table` of `root` and its descendants only, from each thread's list of
    children (/proc/PID/task/TID/children); None where the kernel does not keep those lists."""
    table: dict[int, tuple[int, str, int]] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # gone meanwhile
        table[pid] = (int(fields[1]), fields[0].decode(), int(fields[3]))
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as children:
                    todo += [int(child) for child in children.read().split()]
            except FileNotFoundError:
                if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                    continue  # the thread ended
                return None  # no children lists (CONFIG_PROC_CHILDREN off)
            except OSError:
                continue
    return table


def _descendants(table: dict[int, tuple[int, str, int]], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _state, _sid) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
