"""Grading runs in children of their own: one submission with a time limit, or many, N at a time.

Every launcher that needs isolation grades through here (`ecs-lab grade`, the Gradescope autograder,
an ECS task): each child runs :func:`grader.api.grade`, the same run as ``pytest`` typed in the project,
so the grade is the same, and sends its report back (plain data, through a pipe). What a batch shares
is the start-up: this process imports the libraries a grading run needs (pytest, moto and its service
models, boto3, cfn-lint...) once, then forks one child per submission: each starts warm, with nothing
of another submission (a copy of this process, which never runs a grading nor any student's code).
The grader's own packages are not shared: the child imports them fresh, as a single run does (pytest
rewrites their assertions when it imports them).

A child that outlives its time limit is killed with every process it started (the scorer, the
worker, bubblewrap, what the student's code forked): its job ends with no exit code. A child that
ends without a report says so with its exit code or signal; its output is in the job's log.
"""

from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

from grader.api import Grading
from grader.project import PROJECT
# What a grading run imports that is not the grader's (measured with `python -X importtime -m
# pytest -s`): imported once here instead of once per submission. A module missing from this
# list is imported by each child: slower, the same grade. Not pytest's plugins (xdist,
# pytest-timeout): pytest rewrites their assertions when it loads them itself.
PRELOAD = (
    "pytest", "_pytest.config", "_pytest.python", "_pytest.fixtures", "_pytest.terminal",
    "boto3", "boto3.session", "botocore.session", "botocore.client", "moto", "moto.server",
    "moto.backends", "moto.core.models", "moto.ec2.models", "moto.ecs.models", "moto.ecr.models",
    "moto.s3.models", "moto.logs.models", "moto.iam.models", "moto.sts.models", "moto.elbv2.models",
    "moto.cloudformation.models", "moto.cloudformation.parsing", "moto.cloudtrail.models",
    "moto.moto_server.werkzeug_app", "moto.moto_server.threaded_moto_server", "cfnlint.api", "cfnlint.decode",
    "jinja2", "jsonschema", "docker", "requests", "psutil", "yaml", "werkzeug.serving", "flask",
)
# AWS services the lab's checks use: moto parses their models once per process (a global cache).
SERVICES = ("ec2", "ecs", "ecr", "s3", "logs", "iam", "sts", "cloudformation", "cloudtrail", "elbv2")
# Packages a grading run must import itself (never shared with the child).
OWN_PACKAGES = ("grader", "ecslab", "standin", "checks", "conftest", "xdist", "pytest_timeout")
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36


@dataclass
class Job:
    """One submission to grade."""

    id: str
    grading: Grading
    log: Path | None  # the run's own output (pytest's terminal, tracebacks); None: this process's
    timeout_s: float
    bytecode: Path | None = None  # where compiled modules are kept when Python is told not to write them


@dataclass
class Finished:
    """How a job's run ended."""

    job: Job
    exit_code: int | None  # pytest's status; None: killed at its time limit
    duration_s: float
    signal_name: str = ""  # the child died of a signal
    report: dict | None = None  # the report it built (GradeReport.to_dict()), when it built one
    attempt: int = 1  # the grading's attempt (on ECS, 2 when the task of the first one died)
    host: str = ""  # where it ran, when not here (the ECS task's id)
    stopped_reason: str = ""  # the grading was lost with the machine that ran it (ECS tasks' stop reasons)


@dataclass
class _Running:
    job: Job
    process: multiprocessing.Process
    receiver: Connection  # where its report comes back
    started: float = field(default_factory=time.monotonic)
    report: dict | None = None


def warm_up(modules: Iterable[str] = PRELOAD) -> float:
    """Import the shared libraries and fill their read-only caches now (in this process, before
    any fork); returns the seconds."""
    start = time.perf_counter()
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional library: the child imports what it needs
            pass
    try:  # moto's service models (AWS's API descriptions), parsed once instead of once per submission
        from moto.core.utils import get_pagination_model, get_service_model

        for service in SERVICES:
            get_service_model(service)
            try:
                get_pagination_model(service)
            except Exception:  # noqa: BLE001 - a service without paginators
                pass
    except Exception:  # noqa: BLE001 - another moto: the child parses what it needs
        pass
    try:  # the scorer's own clients, their models parsed (half a CPU-second per run otherwise)
        from grader.tiers.offline.world import OfflineWorld

        OfflineWorld.warm_up(SERVICES)
    except Exception:  # noqa: BLE001 - the child makes them
        pass
    try:  # what the worker's sandbox exposes of the installed packages (their metadata read)
        from grader.worker.sandbox import worker_packages

        worker_packages()
    except Exception:  # noqa: BLE001 - the child reads it
        pass
    return time.perf_counter() - start


def run_jobs(jobs: list[Job], *, parallel: int, on_finished: Callable[[Finished], None],
             warm: Callable[[], object] | None = warm_up) -> None:
    """Grade `jobs`, `parallel` at a time, calling `on_finished` as each ends (in this thread).

    The first job starts cold (it imports what it needs, as a single run does) while this
    process warms up for the others. This thread is the only one of the process: a fork copies
    only the calling thread, so no lock of another thread can be left held in a child.
    """
    context = multiprocessing.get_context("fork")
    pending = deque(jobs)
    running: dict[int, _Running] = {}
    try:
        while pending or running:
            while pending and len(running) < max(1, parallel):
                job = pending.popleft()
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(target=_grade_in_child, args=(job, sender), name=f"grade-{job.id}",
                                          daemon=False)
                process.start()
                sender.close()
                running[process.sentinel] = _Running(job, process, receiver)
                if warm is not None:
                    warm()
                    warm = None
            now = time.monotonic()
            next_deadline = min(r.started + r.job.timeout_s for r in running.values())
            receivers = {r.receiver: r for r in running.values() if r.report is None and not r.receiver.closed}
            ready = wait([*running, *receivers], timeout=max(0.0, min(next_deadline - now, 1.0)))
            for receiver in [r for r in ready if r in receivers]:  # read while the child writes: no full pipe
                _receive(receivers[receiver])
            for sentinel in [s for s in ready if s in running]:
                entry = running.pop(sentinel)
                entry.process.join()
                _receive(entry)
                on_finished(_finished(entry))
            now = time.monotonic()
            for sentinel, entry in list(running.items()):
                if now - entry.started > entry.job.timeout_s:
                    kill_tree(entry.process.pid)
                    entry.process.join()
                    entry.receiver.close()
                    running.pop(sentinel)
                    on_finished(Finished(entry.job, None, now - entry.started))
    finally:  # interrupted (Ctrl-C) or failed: nothing of the batch outlives it
        for entry in running.values():
            kill_tree(entry.process.pid)
            entry.process.join()


def grade_in_child(grading: Grading, *, timeout_s: float, log: Path | None = None) -> Finished:
    """One grading in a child of its own, with a time limit (the Gradescope autograder, an ECS task)."""
    done: list[Finished] = []
    run_jobs([Job("submission", grading, log, timeout_s)], parallel=1, on_finished=done.append, warm=None)
    return done[0]


def _receive(entry: _Running) -> None:
    """The report the child sent, if any (once: then its pipe is closed)."""
    if entry.receiver.closed:
        return
    try:
        if entry.receiver.poll(0):
            message = entry.receiver.recv()
            entry.report = message if isinstance(message, dict) else None
    except (EOFError, OSError):
        pass
    entry.receiver.close()


def _finished(entry: _Running) -> Finished:
    code = entry.process.exitcode
    duration = time.monotonic() - entry.started
    if code is not None and code < 0:
        return Finished(entry.job, code, duration, signal_name=signal.Signals(-code).name, report=entry.report)
    return Finished(entry.job, code, duration, report=entry.report)


def kill_tree(pid: int) -> None:
    """Kill `pid` and every process under it; return when they are gone.

    All are frozen first (none forks meanwhile), then the ones under `pid` die while `pid`, a
    stopped subreaper, still holds them: none is ever left to the machine's init, even dying."""
    import psutil

    try:
        root = psutil.Process(pid)
        below = root.children(recursive=True)
    except psutil.Error:
        return
    _signal(root, signal.SIGSTOP)
    _signal(below, signal.SIGSTOP)
    _signal(below, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(process) for process in below):
        time.sleep(0.01)
    _signal(root, signal.SIGKILL)


def _alive(process) -> bool:  # noqa: ANN001 - a psutil process
    """Not dead yet (a zombie is dead: its stopped parent has not reaped it)."""
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(processes, sig: int) -> None:  # noqa: ANN001 - psutil processes
    for process in processes if isinstance(processes, list) else [processes]:
        try:
            process.send_signal(sig)
        except Exception:  # noqa: BLE001 - psutil.Error: gone already
            pass


# --- In the child --------------------------------------------------------------------------------


BATCH_ENV = "ECS_LAB_BATCH"  # set in every run graded here (read by checks/local/test_classifier_image_local.py)


def _grade_in_child(job: Job, sender: Connection) -> None:
    """One grading run, as `pytest` typed in the project would do it; its report goes back on `sender`."""
    parent = os.getppid()
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the batch's own handler is not the run's
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the batch killed: its runs go with it...
        if os.getppid() != parent:  # ...even when it died before this line
            os._exit(70)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)  # what the run's processes leave behind stays under it
        if job.log is not None:
            _redirect(job.log)
        os.chdir(PROJECT)
        if job.bytecode is not None and sys.dont_write_bytecode:
            # PYTHONDONTWRITEBYTECODE: the grader's modules (and pytest's rewriting of the checks)
            # would be compiled again by every run; kept in the batch's own folder instead.
            sys.dont_write_bytecode, sys.pycache_prefix = False, str(job.bytecode)
        for name in [m for m in sys.modules if m.split(".", 1)[0] in OWN_PACKAGES or m.startswith("test_")]:
            del sys.modules[name]  # imported fresh, as a single run does
        sys.argv = [sys.executable, "-m", "pytest"]
        os.environ[BATCH_ENV] = "1"  # what the grading machine holds is not the submission's (local tier)
        api = importlib.import_module("grader.api")  # the fresh one: its state is the run's
        try:
            report = api.grade(job.grading)
        except api.GradingFailed as failed:
            code = failed.exit_code
        else:
            code = 0
            sender.send(report.to_dict())
    except BaseException:  # noqa: BLE001 - the grader's own failure: its traceback goes to the log
        import traceback

        traceback.print_exc()
        code = 70
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)  # no interpreter teardown: moto's millions of objects need no freeing


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _redirect(log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
