"""The worker: the only process where a submission's code runs (never the grader's).

Started by the scorer (grader.worker.process) as ``python -I -S ecs_lab_worker.py``, in a
sandbox where there is one (bubblewrap: its own mount, network and process namespaces) or
as a plain process where there is not, from a copy in its private folder. It is
self-contained on purpose: it imports nothing of the grader (only ecs_lab_confinement.py,
beside it), and the grader's files are not on its path.

Life of a worker:
1. The scorer sends its settings on the zygote socket (fd given in ECS_LAB_WORKER_FD):
   resource limits, the user to run as, the packages it may import, the endpoints.
2. The worker sets the limits, imports boto3 and the Docker SDK, prepares the student's boto3
   session, confines itself (drops its privileges, the OOM killer's first choice, Landlock,
   seccomp, the scorer's endpoints on Unix sockets: ecs_lab_confinement.py) and says what
   applied, installs the virtual clock, then imports the student's modules one by one on
   request, reporting what went wrong at import.
3. For every check, the scorer asks for a fork: the child gets its own control socket and
   its own stdout/stderr pipes (handed to the scorer with SCM_RIGHTS), runs the calls the
   check asks for, and answers with plain data only (JSON). The scorer kills it and
   everything it started when the check ends.

The virtual clock (offline tier): where the scorer could build it, the time shim
(grader/worker/clock/timeshim.c) is preloaded into this process and every program it starts:
every clock reads the scorer's virtual time and every wait with a time limit asks the scorer
(nothing to install here). Elsewhere, the Python-level fallback below: ``time.sleep`` asks the
scorer, which owns the clock and answers with the new time; ``time.time`` and ``datetime``
follow it through time-machine, ``time.monotonic``/``perf_counter`` (and their ``_ns`` forms)
are replaced here (time-machine 3 no longer mocks them), ``threading.Event.wait`` with a time
limit sleeps virtually.
"""

from __future__ import annotations

import base64
import datetime as _dt
import gc
import json
import os
import resource
import signal
import socket
import struct
import sys
import threading
import time
import traceback

# What the protocol needs, bound now: a submission that replaces json.dumps, a builtin or a time
# function at import breaks its own answers (judged as garbage), not the worker's own messages.
from builtins import callable, getattr, isinstance, len, list, repr, str, type, vars  # noqa: A004, E402

_dumps, _loads, _pack, _unpack = json.dumps, json.loads, struct.pack, struct.unpack
_fork, _exit, _waitpid = os.fork, os._exit, os.waitpid
MAX_FRAME = 16 * 1024 * 1024
TEXT_LIMIT = 4000  # characters of an exception message or repr sent back
STUDENT_MODULES: dict[str, object] = {}
FLAGS: list[str] = []  # attempts to reach the grader or the solution (sent with every answer)
SETTINGS: dict = {}


# --- framing ----------------------------------------------------------------------------------
def send(sock: socket.socket, message: dict) -> None:
    data = _dumps(message, separators=(",", ":"), default=repr).encode()
    sock.sendall(_pack(">I", len(data)) + data)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket) -> dict:
    (size,) = _unpack(">I", _recv_exact(sock, 4))
    if size > MAX_FRAME:
        raise EOFError
    return _loads(_recv_exact(sock, size))


# --- limits and privileges ------------------------------------------------------------------------
def apply_limits(limits: dict) -> None:
    for name, value in limits.items():
        kind = getattr(resource, name)
        soft, hard = (value, value) if isinstance(value, int) else value
        try:
            resource.setrlimit(kind, (soft, hard))
        except (ValueError, OSError):
            pass  # the scorer reports the protections it asked for; the kernel may refuse one


def drop_privileges(uid: int | None) -> None:
    if uid is None or os.getuid() != 0:
        return
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _prctl(38, 1)  # PR_SET_NO_NEW_PRIVS: no set-uid program may give the rights back


def _prctl(option: int, value: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def become_subreaper() -> None:
    """Orphans of a check are re-parented here, not to init: the scorer finds and kills them;
    and the zygote dies with the scorer."""
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# --- the virtual clock --------------------------------------------------------------------------------
class VirtualClock:
    """Sleeping asks the scorer; every clock of the process reads the scorer's answer."""

    def __init__(self) -> None:
        import time_machine

        self.channel: socket.socket | None = None  # the check's control socket, once forked
        self.lock = threading.Lock()
        self.start = time.time()
        self.now = 0.0  # virtual seconds since the worker started
        self.base = 0.0  # where the check's clock (the scorer's, from 0) starts: time never goes back
        self.import_limit_s = 600.0
        self.traveller = time_machine.travel(self.start, tick=False).start()

    def sleep(self, seconds) -> None:
        seconds = float(seconds)  # TypeError for what time.sleep refuses
        if seconds != seconds or seconds < 0:
            raise ValueError("sleep length must be non-negative")
        with self.lock:
            if self.channel is None:  # at import, in the zygote
                self._advance(self.now + seconds)
                if self.now > self.import_limit_s:
                    ZYGOTE.report_endless_import(self.now)
                return
            send(self.channel, {"op": "sleep", "seconds": seconds})
            answer = recv(self.channel)
            self._advance(self.base + float(answer["now"]))

    def _advance(self, now: float) -> None:
        self.traveller.shift(now - self.now)
        self.now = now

    def monotonic(self) -> float:
        return 100_000.0 + self.now

    def monotonic_ns(self) -> int:
        return int(self.monotonic() * 1e9)

    def install(self) -> None:
        time.sleep = self.sleep
        time.monotonic = time.perf_counter = self.monotonic
        time.monotonic_ns = time.perf_counter_ns = self.monotonic_ns
        real_wait = threading.Event.wait
        clock = self

        def wait(event, timeout=None):  # an Event nobody sets is a sleep with a time limit
            if event.is_set() or timeout is None:
                return real_wait(event, timeout)
            if real_wait(event, 0.001):
                return True
            clock.sleep(max(0.0, float(timeout)))
            return event.is_set()

        threading.Event.wait = wait


CLOCK: VirtualClock | None = None  # the fallback's


def time_shim():
    """The preloaded time shim's controls (ctypes), or None when it is not active in this process."""
    try:
        import ctypes

        library = ctypes.CDLL(None)
        return library if library.ecs_lab_timeshim_active() else None
    except (OSError, AttributeError):
        return None


class RealTime:
    """The worker's own waits, in real time even under the shim (the zygote's wait for a child)."""

    def __enter__(self) -> None:
        if TIME_SHIM is not None:
            TIME_SHIM.ecs_lab_timeshim_bypass(1)

    def __exit__(self, *exc) -> None:
        if TIME_SHIM is not None:
            TIME_SHIM.ecs_lab_timeshim_bypass(0)


TIME_SHIM = None


# --- plain data ------------------------------------------------------------------------------------
def _text(value, limit: int = TEXT_LIMIT) -> str:
    try:
        text = str.__str__(value) if isinstance(value, str) else repr(value)
    except BaseException as error:  # noqa: BLE001 - a hostile __repr__
        text = f"<{type(value).__name__}: repr failed with {type(error).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


def plain(value, depth: int = 0, budget: list | None = None):
    """Only JSON-able data leaves the worker; anything else is described, never trusted."""
    budget = budget if budget is not None else [20000]
    budget[0] -= 1
    if budget[0] < 0 or depth > 30:
        return {"$truncated": True}
    kind = type(value)
    if value is None or kind is bool:
        return value
    if isinstance(value, int):
        return int.__add__(value, 0)
    if isinstance(value, float):
        number = float.__add__(value, 0.0)
        return number if number == number and abs(number) != float("inf") else {"$float": repr(number)}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)[:MAX_FRAME // 2]).decode()}
    if isinstance(value, _dt.datetime):
        return {"$datetime": _dt.datetime.isoformat(value)}
    if isinstance(value, dict):
        return {"$dict": [[plain(k, depth + 1, budget), plain(v, depth + 1, budget)]
                          for k, v in list(dict.items(value))[:5000]]}
    if isinstance(value, (list, tuple)):
        items = list(list.__iter__(value) if isinstance(value, list) else tuple.__iter__(value))
        return {"$tuple" if isinstance(value, tuple) else "$list": [plain(v, depth + 1, budget) for v in items[:5000]]}
    return {"$object": kind.__name__, "repr": _text(value, 400)}


def _student_frames(error: BaseException) -> list:
    files = {getattr(m, "__file__", None) for m in STUDENT_MODULES.values()}
    try:
        frames = traceback.extract_tb(error.__traceback__)
    except BaseException:  # noqa: BLE001
        return []
    return [f for f in frames if f.filename in files]


def describe(error: BaseException) -> dict:
    kind = type(error)
    try:
        attributes = {k: plain(v) for k, v in list(vars(error).items())[:20] if isinstance(k, str)}
    except BaseException:  # noqa: BLE001
        attributes = {}
    try:
        message = _text(str(error))
    except BaseException:  # noqa: BLE001
        message = "<str() failed>"
    if isinstance(error, SystemExit):
        attributes["code"] = plain(error.code)
    frames = _student_frames(error)
    where = None
    if isinstance(error, SyntaxError) and error.filename:
        where = {"file": os.path.basename(str(error.filename)), "line": error.lineno}
    elif frames:
        where = {"file": os.path.basename(frames[-1].filename), "line": frames[-1].lineno}
    return {"type": kind.__name__, "module": getattr(kind, "__module__", ""),
            "mro": [c.__name__ for c in kind.__mro__], "message": message, "attributes": attributes,
            "where": where}


# --- values coming from the scorer -------------------------------------------------------------------
class Session:
    """The student's boto3 session on the scorer's endpoints; clients made once, before forking."""

    SERVICES = ("ecs", "ecr", "logs", "s3", "cloudformation", "sts")  # what the lab's code uses

    def __init__(self, region: str) -> None:
        import boto3
        import botocore.loaders
        import botocore.session

        loader = botocore.loaders.create_loader()  # the service models parsed once for both sessions

        def new_session() -> boto3.Session:
            core = botocore.session.Session()
            core.register_component("data_loader", loader)
            return boto3.Session(botocore_session=core, region_name=region)

        self.region = region
        self.session = new_session()
        boto3.DEFAULT_SESSION = new_session()  # boto3.client(...) in the student's code
        # Both sessions have the same credentials, region and endpoints: their clients would be
        # alike, so they are the same ones (made once, before any fork).
        made: dict = {}
        create = self.session.client
        for session in (self.session, boto3.DEFAULT_SESSION):
            _cache_clients(session, made, create)
        for service in self.SERVICES:
            self.session.client(service)


def _cache_clients(session, made: dict, create) -> None:
    """A client asked again with the same arguments is the one already made (30 ms saved)."""

    def client(*args, **kwargs):
        if kwargs.get("region_name") == session.region_name:  # the same client as without it
            kwargs.pop("region_name")
        try:
            key = (args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:
            return create(*args, **kwargs)
        if key not in made:
            made[key] = create(*args, **kwargs)
        return made[key]

    session.client = client


def decode(value, handles: dict):
    if isinstance(value, list):
        return [decode(v, handles) for v in value]
    if not isinstance(value, dict):
        return value
    if "$session" in value:
        return SESSION.session
    if "$client" in value:
        return SESSION.session.client(value["$client"])
    if "$docker" in value:
        import docker

        return docker.DockerClient(base_url=SETTINGS["docker_url"], version="1.43", timeout=30)
    if "$handle" in value:
        return handles[value["$handle"]]
    if "$bytes" in value:
        return base64.b64decode(value["$bytes"])
    if "$tuple" in value:
        return tuple(decode(v, handles) for v in value["$tuple"])
    if "$dict" in value:
        return {decode(k, handles): decode(v, handles) for k, v in value["$dict"]}
    return {k: decode(v, handles) for k, v in value.items()}


# --- a check's child -----------------------------------------------------------------------------------
class Missing(Exception):
    pass


def resolve(target: str, handles: dict):
    """'ops.monitor_task' (a handle's attribute) or 'module:attr' (a student module's)."""
    if ":" in target:
        owner_name, _, attribute = target.partition(":")
        owner = STUDENT_MODULES.get(owner_name)
    else:
        owner_name, _, attribute = target.partition(".")
        owner = handles.get(owner_name)
    if owner is None:
        raise Missing(owner_name)
    try:
        found = getattr(owner, attribute)
    except AttributeError:
        raise Missing(attribute) from None
    if not callable(found):
        raise Missing(attribute)
    return found


def flush_output() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the student may have closed or replaced them
            pass


def run_check(channel: socket.socket) -> None:
    handles: dict = {}
    if CLOCK is not None:
        CLOCK.channel, CLOCK.base = channel, CLOCK.now
    while True:
        try:
            request = recv(channel)
        except (EOFError, OSError, ValueError):
            _exit(0)
        answer = {"op": "answer"}
        try:
            function = resolve(request["target"], handles)
            args = decode(request.get("args", []), handles)
            kwargs = decode(request.get("kwargs", {}), handles)
        except Missing as missing:
            answer.update(status="missing", name=str(missing))
        except BaseException as error:  # noqa: BLE001 - a hostile __getattr__ or argument
            answer.update(status="raised", error=describe(error))
        else:
            try:
                value = function(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - everything the student raises is judged
                answer.update(status="raised", error=describe(error))
            else:
                try:
                    if request.get("keep"):
                        handles[request["keep"]] = value
                        answer.update(status="returned", value={"$object": type(value).__name__, "repr": ""})
                    else:
                        answer.update(status="returned", value=plain(value))
                except BaseException:  # noqa: BLE001 - a value that cannot even be described
                    answer.update(status="returned", value={"$object": "?", "repr": ""})
        flush_output()
        answer["flags"] = FLAGS[:20]
        try:
            send(channel, answer)
        except OSError:
            _exit(0)


# --- the zygote --------------------------------------------------------------------------------------
class Zygote:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.importing: str | None = None

    def send(self, message: dict, fds: list[int] | None = None) -> None:
        data = _dumps(message, default=repr).encode()
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.send(data)

    def receive(self) -> dict:
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError
        return _loads(data)

    def report_endless_import(self, virtual_s: float) -> None:
        self.send({"op": "imported", "module": self.importing, "problem": "endless", "virtual_s": virtual_s,
                   "flags": FLAGS[:20]})
        _exit(70)

    def import_module(self, name: str, path: str) -> dict:
        import importlib.util

        self.importing = name
        answer = {"op": "imported", "module": name}
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            STUDENT_MODULES[name] = module
            spec.loader.exec_module(module)
        except BaseException as error:  # noqa: BLE001 - judged by the scorer
            sys.modules.pop(name, None)
            STUDENT_MODULES.pop(name, None)
            answer.update(problem="raised", error=describe(error))
        finally:
            self.importing = None
            flush_output()
        answer["flags"] = FLAGS[:20]
        return answer

    def fork_check(self, cpu_s: int) -> None:
        for fd in (0, 1, 2):  # closed by the submission at import? The new descriptors must not land there.
            try:
                os.fstat(fd)
            except OSError:
                os.open(os.devnull, os.O_RDWR)
        control, scorer_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        flush_output()
        # The zygote's objects (boto3, its clients, the submission) move out of the collector's
        # reach: a check's collections then leave their pages shared instead of copying them.
        gc.freeze()
        pid = _fork()
        if pid == 0:
            try:
                self.sock.close()
                scorer_end.close()
                os.close(out_read)
                os.close(err_read)
                os.setsid()
                os.dup2(out_write, 1)
                os.dup2(err_write, 2)
                os.close(out_write)
                os.close(err_write)
                keep = control.fileno()  # nothing else of the zygote's
                os.closerange(3, keep)
                os.closerange(keep + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 2))
                run_check(control)
            finally:
                _exit(0)
        control.close()
        os.close(out_write)
        os.close(err_write)
        self.send({"op": "forked", "pid": pid}, [scorer_end.fileno(), out_read, err_read])
        scorer_end.close()
        os.close(out_read)
        os.close(err_read)

    def wait(self, pid: int, timeout_s: float) -> dict:
        with RealTime():
            return self._wait(pid, timeout_s)

    def _wait(self, pid: int, timeout_s: float) -> dict:
        deadline = time_real() + timeout_s
        while True:
            try:
                done, status = _waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return {"op": "status", "pid": pid, "known": False}
            if done:
                return {"op": "status", "pid": pid, "known": True, "status": status}
            if time_real() > deadline:
                return {"op": "status", "pid": pid, "known": True, "status": None}
            REAL_SLEEP(0.005)

    def reap(self) -> None:
        while True:
            try:
                pid, _status = _waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def serve(self) -> None:
        while True:
            try:
                request = self.receive()
            except (EOFError, OSError, ValueError):
                _exit(0)
            op = request.get("op")
            if op == "import":
                self.send(self.import_module(request["module"], request["path"]))
            elif op == "fork":
                self.reap()
                self.fork_check(int(request.get("cpu_s", 20)))
            elif op == "wait":
                self.send(self.wait(int(request["pid"]), float(request.get("timeout_s", 1.0))))
                self.reap()
            elif op == "exit":
                _exit(0)


REAL_SLEEP = time.sleep
time_real = time.monotonic
ZYGOTE: Zygote | None = None
SESSION: Session | None = None


def audit(event: str, args: tuple) -> None:
    """Flag attempts to read the grader or the solution (the sandbox hides them anyway)."""
    if event == "import":
        name = str(args[0]).split(".", 1)[0]
        if name in SETTINGS.get("forbidden_modules", ()):
            _flag(f"import {args[0]}")
    elif event in ("open", "os.listdir", "os.scandir", "os.chdir") and args and isinstance(args[0], (str, bytes)):
        path = os.fsdecode(args[0])
        for root in SETTINGS.get("forbidden_paths", ()):
            if path == root or path.startswith(root.rstrip("/") + "/"):
                _flag(f"{event} {path}")
                return


def _flag(what: str) -> None:
    if len(FLAGS) < 20 and what not in FLAGS:
        FLAGS.append(what)


def confine() -> dict:
    """What protects the grader from here on (ecs_lab_confinement.py): reported to the scorer."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import ecs_lab_confinement as confinement
    finally:
        sys.path.pop(0)
    settings = SETTINGS.get("confinement") or {}
    applied: dict = {"oom_first": confinement.first_to_go()}
    drop_privileges(SETTINGS.get("uid"))
    applied["uid"] = os.getuid()
    confinement.use_unix_endpoints({int(port): path for port, path in (SETTINGS.get("endpoints") or {}).items()})
    if settings.get("landlock", True):
        python, listable = confinement.python_paths()
        readable = [*confinement.SYSTEM_READABLE, *python, *SETTINGS["paths"], *settings.get("readable", []),
                    SETTINGS["student_dir"]]
        applied["landlock"] = confinement.restrict_files(
            readable, [*confinement.SYSTEM_WRITABLE, SETTINGS["work_dir"], *settings.get("writable", [])], listable)
    if settings.get("seccomp", True):
        applied.update(confinement.restrict_syscalls(settings.get("protected_pids", []), SETTINGS["paths"]))
    applied["network_refused"] = confinement.network_refused()
    applied["grader_readable"] = confinement.readable(SETTINGS.get("forbidden_paths", []))
    return applied


def main() -> None:
    global ZYGOTE, SESSION, CLOCK, SETTINGS, TIME_SHIM
    sock = socket.socket(fileno=int(os.environ["ECS_LAB_WORKER_FD"]))
    ZYGOTE = Zygote(sock)
    SETTINGS = ZYGOTE.receive()
    os.environ.pop("ECS_LAB_WORKER_FD", None)
    apply_limits(SETTINGS.get("limits", {}))
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sys.path[:0] = SETTINGS["paths"]
    SESSION = Session(SETTINGS["region"])
    import docker  # noqa: F401 - imported before the fork: push_image_to_ecr's client is cheap

    applied = confine()
    clock = ""
    if SETTINGS.get("clock") == "virtual":
        TIME_SHIM = time_shim() if SETTINGS.get("clock_shim") else None
        if TIME_SHIM is not None:
            clock = "shim"
        else:
            CLOCK = VirtualClock()
            CLOCK.install()
            clock = "python"
    become_subreaper()
    sys.addaudithook(audit)
    sys.path.insert(0, SETTINGS["student_dir"])
    os.chdir(SETTINGS["work_dir"])
    ZYGOTE.send({"op": "ready", "pid": os.getpid(), "uid": os.getuid(), "confinement": applied,
                 "clock": clock})
    ZYGOTE.serve()


if __name__ == "__main__":
    main()
