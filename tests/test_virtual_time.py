"""The time shim (grader/worker/clock/): virtual time for every way the student's code waits.

One worker per mode (bubblewrap and plain process), each test forking its own check child: every
timed wait advances virtual time at once (sleeps, locks, conditions, queues, timers, selectors,
polls, asyncio, sockets, signals, alarms, child processes), every clock agrees, the GIL still
switches, real I/O stays real, and a wait the grader cannot make virtual becomes "not graded"
with what was seen, while a busy loop and a wait for nothing keep their failing verdicts.

Then the corpus's correct monitors that wait in all those ways (tests/submissions/faults.py,
CLOCK_STYLES), graded as a student would be: full marks, quickly, in both worker modes (the
default mode's runs are shared with tests/test_grading.py).
"""

from __future__ import annotations

import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from grading_support import OFFLINE, Graded, feedback, offline_marks
from submissions.faults import CLOCK_STYLES, Submission, materialise

from grader.plugin import outcomes
from grader.evidence.clock import VirtualClock
from grader.feedback import NotGraded
from grader.student import Student
from grader.worker import clock as timeshim
from grader.worker import sandbox
from grader.worker.process import Endpoint, Worker

pytestmark = pytest.mark.skipif(timeshim.library() is None, reason=f"no time shim here: {timeshim.why_not()}")

STUDENT = '''
import asyncio, concurrent.futures, ctypes, datetime, multiprocessing, os, queue, select, selectors, signal
import socket, subprocess, sys, threading, time

PAUSE = 10.0


def clocks():
    return {"time": time.time(), "monotonic": time.monotonic(), "perf_counter": time.perf_counter(),
            "boottime": time.clock_gettime(time.CLOCK_BOOTTIME), "datetime": datetime.datetime.now().timestamp(),
            "coarse": time.clock_gettime(6)}  # CLOCK_MONOTONIC_COARSE


def measured(name):
    """How long each clock says the wait `name` took, and what the wait returned."""
    before = clocks()
    result = WAITS[name]()
    after = clocks()
    return {"elapsed": {k: round(after[k] - before[k], 3) for k in before}, "result": result}


def _condition():
    ready = threading.Condition()
    with ready:
        return ready.wait(PAUSE)


def _condition_notified():
    ready, done = threading.Condition(), []
    def later():
        time.sleep(PAUSE)
        with ready:
            done.append(1)
            ready.notify()
    threading.Thread(target=later).start()
    with ready:
        return ready.wait_for(lambda: done, 100 * PAUSE)


def _queue():
    try:
        return queue.Queue().get(timeout=PAUSE)
    except queue.Empty:
        return "empty"


def _lock():
    lock = threading.Lock()
    lock.acquire()
    return lock.acquire(timeout=PAUSE)


def _semaphore():
    return threading.Semaphore(0).acquire(timeout=PAUSE)


def _timer():
    timer = threading.Timer(PAUSE, lambda: None)
    timer.start()
    timer.join()


def _thread_join():
    thread = threading.Thread(target=threading.Event().wait, daemon=True)
    thread.start()
    thread.join(PAUSE)
    return thread.is_alive()


def _socket():
    quiet, _other = socket.socketpair()
    quiet.settimeout(PAUSE)
    try:
        quiet.recv(1)
    except socket.timeout:
        return "timeout"


def _alarm():
    signal.signal(signal.SIGALRM, lambda number, frame: None)
    signal.alarm(int(PAUSE))
    signal.pause()
    return signal.alarm(0)


def _setitimer():
    signal.signal(signal.SIGALRM, lambda number, frame: None)
    signal.setitimer(signal.ITIMER_REAL, PAUSE)
    signal.pause()
    return signal.getitimer(signal.ITIMER_REAL)


def _libc_sleep():
    return ctypes.CDLL(None).sleep(int(PAUSE))


def _pipe_from_a_sleeping_child():
    child = subprocess.Popen(["sh", "-c", f"sleep {PAUSE}; echo done"], stdout=subprocess.PIPE)
    ready, _, _ = select.select([child.stdout], [], [], 100 * PAUSE)
    line = child.stdout.readline()
    child.wait()
    return line.decode().strip()


def _multiprocessing():
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(PAUSE,))
    child.start()
    child.join()
    return child.exitcode


WAITS = {
    "time.sleep": lambda: time.sleep(PAUSE),
    "libc sleep": _libc_sleep,
    "select": lambda: select.select([], [], [], PAUSE),
    "poll": lambda: select.poll().poll(PAUSE * 1000),
    "epoll": lambda: select.epoll().poll(PAUSE),
    "selector": lambda: selectors.DefaultSelector().select(PAUSE),
    "asyncio": lambda: asyncio.run(asyncio.sleep(PAUSE)),
    "condition": _condition,
    "condition notified": _condition_notified,
    "event": lambda: threading.Event().wait(PAUSE),
    "queue": _queue,
    "lock": _lock,
    "semaphore": _semaphore,
    "timer": _timer,
    "thread join": _thread_join,
    "futures": lambda: len(concurrent.futures.wait([concurrent.futures.Future()], timeout=PAUSE).not_done),
    "socket timeout": _socket,
    "sigtimedwait": lambda: signal.sigtimedwait([signal.SIGUSR1], PAUSE),
    "alarm": _alarm,
    "setitimer": _setitimer,
    "child process": lambda: subprocess.run(["sleep", str(PAUSE)], check=True).returncode,
    "pipe from a sleeping child": _pipe_from_a_sleeping_child,
    "multiprocessing": _multiprocessing,
}


def wall_clock():
    return clocks()["time"]


def still_during_computation(seconds):
    """Virtual time does not pass while the code computes; CPU time does."""
    started, cpu = time.time(), time.process_time()
    while time.process_time() - cpu < seconds:
        pass
    return [time.time() - started, time.process_time() - cpu]


def two_threads_compute(seconds):
    """Each thread counts for `seconds` of its own CPU; what the other had counted when it ended."""
    counts, seen = [0, 0], [None, None]
    def spin(me):
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            counts[me] += 1
        seen[me] = counts[1 - me]
    threads = [threading.Thread(target=spin, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen


def slow_reply_while_another_thread_sleeps():
    """A request to a server outside (real I/O) while another thread sleeps: the answer comes in
    real time, and virtual time does not advance while it is awaited."""
    threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()
    started = time.monotonic()
    port = int(os.environ["SLOW_URL"].rsplit(":", 1)[1])
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(b"?")
    answer = connection.recv(10)
    return [answer.decode(), time.monotonic() - started]


def unshimmed_sleep(seconds):
    environment = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    subprocess.run(["sleep", str(seconds)], env=environment)


def busy():
    while True:
        pass


def waits_for_nothing():
    threading.Event().wait()


def sleeps_in_tiny_steps_forever():
    while True:
        time.sleep(0.001)
'''

MODES = ["bubblewrap", "process"]


class SlowServer(threading.Thread):
    """A server outside the student's code, like the scorer's (on a Unix socket, and on TCP where the
    worker reaches endpoints by TCP), that answers after 0.3 s."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.listeners = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), socket.create_server(("127.0.0.1", 0))]
        self.listeners[0].bind(str(path))
        self.listeners[0].listen(4)
        path.chmod(0o666)  # the worker may run as another user
        self.endpoint = Endpoint("127.0.0.1", self.listeners[1].getsockname()[1], str(path))

    def run(self) -> None:
        import selectors

        selector = selectors.DefaultSelector()
        for listener in self.listeners:
            selector.register(listener, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                try:
                    connection, _ = key.fileobj.accept()
                except OSError:
                    return
                connection.recv(10)
                time.sleep(0.3)
                connection.sendall(b"late")
                connection.close()

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()


@pytest.fixture(scope="module", params=MODES)
def worker(request, tmp_path_factory: pytest.TempPathFactory):
    if request.param == "bubblewrap" and sandbox.bubblewrap() is None:
        pytest.skip("bubblewrap cannot make its namespaces here")
    folder = tmp_path_factory.mktemp("submission")
    (folder / "student.py").write_text(textwrap.dedent(STUDENT), encoding="utf-8")
    server = SlowServer(folder / "slow.sock")
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "process":
            patch.setenv(sandbox.MODE_ENV, "process")
        sandbox.bubblewrap.cache_clear()
        started_at = time.time()
        with Worker({"student": folder / "student.py"}, region="eu-west-1", clock="virtual",
                    environment={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
                    endpoints={"SLOW_URL": server.endpoint}) as started:
            assert started.mode == request.param and started.clock_kind == "shim"
            started.started_at = started_at
            yield started
    sandbox.bubblewrap.cache_clear()
    server.close()


def call(worker, target, *args, clock=None, time_limit_s=10):
    with worker.check(clock or VirtualClock()) as child:
        return child.call(f"student:{target}", args, {}, time_limit_s=time_limit_s)


WAITS = ["time.sleep", "libc sleep", "select", "poll", "epoll", "selector", "asyncio", "condition",
         "condition notified", "event", "queue", "lock", "semaphore", "timer", "thread join", "futures",
         "socket timeout", "sigtimedwait", "alarm", "setitimer", "child process", "pipe from a sleeping child",
         "multiprocessing"]


@pytest.mark.parametrize("wait", WAITS)
def test_every_way_of_waiting_advances_virtual_time_at_once(worker, wait):
    clock = VirtualClock()
    started = time.monotonic()
    outcome = call(worker, "measured", wait, clock=clock)
    assert outcome.status == "returned", (outcome.status, outcome.detail, outcome.error, outcome.stderr[-800:])
    elapsed = outcome.value["elapsed"]
    assert all(abs(seconds - 10.0) < 0.05 for seconds in elapsed.values()), elapsed  # every clock agrees
    assert clock.now == 10.0 and time.monotonic() - started < 2
    expected = {"condition": False, "condition notified": [1], "event": False, "queue": "empty", "lock": False,
                "semaphore": False, "thread join": True, "futures": 1, "socket timeout": "timeout", "alarm": 0,
                "setitimer": (0.0, 0.0), "child process": 0, "pipe from a sleeping child": "done",
                "multiprocessing": 0, "libc sleep": 0}
    if wait in expected:
        assert outcome.value["result"] == expected[wait]


def test_clocks_start_where_the_worker_did_and_never_go_back(worker):
    first, second = VirtualClock(), VirtualClock()
    before = call(worker, "clocks").value
    # REALTIME: the real time the worker started, plus the virtual time its checks waited
    assert worker.started_at - 1 <= before["time"] <= worker.started_at + 1 + (before["monotonic"] - 100_000)
    assert 100_000 <= before["monotonic"] < 200_000  # MONOTONIC starts at 100000 s, as the Python clock did
    call(worker, "measured", "time.sleep", clock=first)
    after = call(worker, "clocks", clock=second).value
    assert after["time"] >= before["time"] + 10 and after["monotonic"] >= before["monotonic"] + 10
    assert first.now == 10 and second.now == 0  # each check's clock starts at 0, the worker's goes on


def test_time_stands_still_while_the_code_computes(worker):
    virtual, cpu = call(worker, "still_during_computation", 0.2).value
    assert virtual == 0 and cpu >= 0.2


def test_the_gil_still_switches_between_computing_threads(worker):
    """CPython's GIL waits 5 ms on a condition variable with a deadline from the (virtual) monotonic
    clock: the shim keeps it a real 5 ms, so a thread that computes lets the other one run."""
    outcome = call(worker, "two_threads_compute", 0.3)
    assert outcome.status == "returned" and all(count and count > 0 for count in outcome.value), outcome.value


def test_real_io_stays_real_and_time_waits_for_it(worker):
    outcome = call(worker, "slow_reply_while_another_thread_sleeps")
    assert outcome.status == "returned", (outcome.detail, outcome.error)
    assert outcome.value == ["late", 0.0]  # the answer came (after 0.3 s of real time), virtual time did not move


def test_a_wait_the_grader_cannot_make_virtual_is_not_graded_and_says_what_was_seen(worker):
    """A child whose environment lost the shim sleeps in real time: at the wall limit the check is
    not graded (NotGraded, not a CheckFailed), with what was seen, and the call is not tried again."""
    student = Student(worker, VirtualClock(), time_limit_s=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(NotGraded) as raised:
            student.module("student").run("unshimmed_sleep", 30)
        assert student.real_waits["student:unshimmed_sleep"].status == "real_wait"
        assert student.flags == ["real-time wait, checks not graded: unshimmed_sleep"]  # for the instructor
        with pytest.raises(NotGraded):  # not waited for again
            student.module("student").run("unshimmed_sleep", 30)
    finally:
        student.close()
    assert time.monotonic() - started < 4
    reason = raised.value.reason
    assert reason.fr.startswith("unshimmed_sleep attend en temps réel")
    assert "« sleep »" in reason.fr and "clock_nanosleep" in reason.en and "s of real time" in reason.en, reason
    shown = outcomes._grader_failure(raised.value, None, None, "fr")
    assert "non notée" in shown and "temps réel" in shown, shown


@pytest.mark.parametrize("target", ["busy", "waits_for_nothing", "sleeps_in_tiny_steps_forever"])
def test_an_endless_loop_and_a_wait_for_nothing_keep_their_verdict(worker, target):
    """Computing without end, waiting for nothing, or moving on in virtual time too slowly ever to
    end: the student's fault, "does not answer" (not the grader's limit)."""
    outcome = call(worker, target, time_limit_s=1.0)
    assert outcome.status == "timeout" and outcome.detail == "1"


def test_without_the_shim_the_python_clock_takes_over(tmp_path, monkeypatch):
    """Where the shim cannot be built, the worker keeps its Python-level clock, and says so."""
    (tmp_path / "student.py").write_text(textwrap.dedent(STUDENT), encoding="utf-8")
    monkeypatch.setattr(timeshim, "_located", lambda: (None, "no C compiler"))
    with Worker({"student": tmp_path / "student.py"}, region="eu-west-1", clock="virtual",
                environment={}) as started:
        assert started.clock_kind == "python"
        assert any("no C compiler" in p.en and "reduced virtual clock" in p.en for p in started.protections)
        clock = VirtualClock()
        outcome = call(started, "measured", "time.sleep", clock=clock)
        assert outcome.status == "returned" and clock.sleeps == [10.0] and clock.now == 10.0


# --- Correct monitors, graded -------------------------------------------------------------------------

MONITOR_CHECKPOINTS = ("task_monitoring", "main_runs")  # the only ones that call monitor_task


def _full_marks(graded: Graded, checkpoints) -> dict:
    return {i: (s, m, feedback(graded.checkpoints[i])) for i, (s, m) in offline_marks(graded).items()
            if i in checkpoints and s < m}


@pytest.mark.parametrize("entry", CLOCK_STYLES, ids=lambda s: s.name)
def test_correct_code_keeps_its_marks_however_it_waits(entry: Submission, graded_once, reference):
    def write(directory, _reports):
        return materialise(entry, directory)

    graded = graded_once(entry.name, write)
    assert graded.returncode == 0, graded.explain()
    assert not _full_marks(graded, OFFLINE), f"{entry.name} ({entry.why}) lost points"
    # under 8 s, as the reference (a loaded machine slows both alike)
    assert graded.wall_s < max(8.0, reference.wall_s + 3), (graded.wall_s, reference.wall_s)
    plain = graded_once(f"{entry.name}-process-mode", write, "-m", " or ".join(MONITOR_CHECKPOINTS),
                        env={sandbox.MODE_ENV: "process"})
    plain = Graded(plain.returncode, plain.stdout, plain.stderr, plain.wall_s, plain.report_dir / "partial")
    assert plain.returncode == 0, plain.explain()
    assert not _full_marks(plain, MONITOR_CHECKPOINTS), f"{entry.name} lost points without the sandbox"
    assert all(plain.checkpoints[i]["status"] == "passed" for i in MONITOR_CHECKPOINTS)
    assert plain.wall_s < 8.0 or plain.wall_s < reference.wall_s + 3, plain.wall_s
