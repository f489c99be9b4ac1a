"""The worker (grader.worker), in-process: the student's code runs elsewhere, and only checked plain
data comes back, whatever that code does.

One worker per module (a zygote with two small student modules); each test forks its own child.
"""

from __future__ import annotations

import json
import struct
import textwrap
from pathlib import Path

import pytest

from grader.evidence.clock import VirtualClock
from grader.worker import clock as timeshim
from grader.worker import sandbox
from grader.worker.process import Worker, _descendants, _process_table
from grader.worker.values import SESSION, Garbage, StudentObject, decode, decode_error, encode

STUDENT = '''
import datetime, os, sys, threading, time

class Failed(Exception):
    def __init__(self, message, exit_code=None):
        super().__init__(message)
        self.exit_code = exit_code

def echo(value):
    return value

def fail(code):
    raise Failed("échec", exit_code=code)

def never():
    while True:
        pass

def sleeps(seconds, times):
    started, wall, mono = time.time(), datetime.datetime.now(), time.perf_counter_ns()
    for _ in range(times):
        time.sleep(seconds)
    threading.Event().wait(seconds)
    return [time.time() - started, (datetime.datetime.now() - wall).total_seconds(),
            (time.perf_counter_ns() - mono) / 1e9]

def forever_sleeping():
    while True:
        time.sleep(60)

def chatty(lines):
    for i in range(lines):
        print("ligne", i)
    print("erreur", file=sys.stderr)
    return lines

def crash():
    import ctypes
    ctypes.string_at(0)

def quit_hard(code):
    os._exit(code)

def weird():
    class Anything:
        def __eq__(self, other):
            return True
    return {"value": Anything(), "bytes": b"\\x00\\x01", "tuple": (1, 2)}

def environment():
    return {k: v for k, v in os.environ.items()}

def session_region(session):
    return session.region_name

def open_file(path):
    return open(path).read()
'''


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("submission")
    (folder / "student.py").write_text(textwrap.dedent(STUDENT), encoding="utf-8")
    (folder / "broken.py").write_text("def oops(:\n", encoding="utf-8")
    with Worker({"student": folder / "student.py", "broken": folder / "broken.py"}, region="eu-west-1",
                clock="virtual", environment={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                                              "AWS_DEFAULT_REGION": "eu-west-1"},
                forbidden_paths=[str(Path(__file__).resolve().parents[1] / "reference")]) as started:
        yield started


def call(worker, target, *args, clock=None, **kwargs):
    with worker.check(clock or VirtualClock()) as child:
        return child.call(f"student:{target}", args, kwargs, time_limit_s=10)


def test_values_come_back_as_plain_data(worker):
    outcome = call(worker, "echo", {"a": [1, 2.5, None, True], "b": (1, "x"), "c": b"\xff"})
    assert outcome.status == "returned"
    assert outcome.value == {"a": [1, 2.5, None, True], "b": (1, "x"), "c": b"\xff"}


def test_an_object_equal_to_everything_equals_nothing_here(worker):
    value = call(worker, "weird").value
    assert isinstance(value["value"], StudentObject) and value["value"] != "anything"
    assert value["bytes"] == b"\x00\x01" and value["tuple"] == (1, 2)


def test_exceptions_arrive_with_type_bases_attributes_and_line(worker):
    error = call(worker, "fail", 3).error
    assert error.type_name == "Failed" and error.is_a("Exception") and error.attribute("exit_code") == 3
    assert error.message == "échec" and error.file == "student.py" and error.line


def test_a_missing_function_and_a_broken_module(worker):
    assert call(worker, "no_such_function").status == "missing"
    problem = worker.module_problem("broken")
    assert problem.kind == "raised" and problem.error.is_a("SyntaxError") and problem.error.line == 1


def _check_processes(worker) -> set[int]:
    """Live processes of the worker's tree besides bubblewrap's and the zygote (the checks' ones)."""
    table = _process_table()
    root = worker._process.pid if worker.mode == "bubblewrap" else worker._zygote.pid
    return {pid for pid in _descendants(table, root) - worker._keep if table[pid][1] not in "ZX"}


def test_an_endless_loop_is_stopped_and_everything_killed(worker):
    with worker.check(VirtualClock()) as child:
        assert child.call("student:echo", (1,), {}).value == 1
        assert _check_processes(worker)  # the check's child
        outcome = child.call("student:never", (), {}, time_limit_s=1)
        assert outcome.status == "timeout"
        assert child.call("student:echo", (1,), {}).status == "timeout"  # the child is gone: the same answer
    assert _check_processes(worker) == set()


def test_virtual_time_covers_time_datetime_perf_counter_and_event_wait(worker):
    """Whichever clock the worker has (the time shim, or the Python fallback where the shim cannot
    be built: tests/test_virtual_time.py covers both); the fallback records each time.sleep."""
    clock = VirtualClock()
    outcome = call(worker, "sleeps", 600.0, 3, clock=clock)
    assert outcome.status == "returned" and outcome.wall_s < 5
    assert all(abs(v - 2400.0) < 1 for v in outcome.value), outcome.value
    assert clock.now == 2400.0
    assert worker.clock_kind == ("shim" if timeshim.library() else "python")
    assert clock.sleeps == ([] if worker.clock_kind == "shim" else [600.0, 600.0, 600.0, 600.0])


def test_sleeping_forever_ends_at_the_clocks_limit(worker):
    outcome = call(worker, "forever_sleeping", clock=VirtualClock(limit_s=3600))
    assert outcome.status == "endless" and outcome.wall_s < 5


def test_output_is_captured_and_bounded(worker):
    outcome = call(worker, "chatty", 200_000)
    assert outcome.value == 200_000 and outcome.stdout.startswith("ligne 0") and "erreur" in outcome.stderr
    assert len(outcome.stdout) < 100_000 and "octets de plus" in outcome.stdout


@pytest.mark.parametrize("target, args, status", [("crash", (), "crashed"), ("quit_hard", (7,), "exited")])
def test_a_crash_or_an_exit_is_an_outcome(worker, target, args, status):
    outcome = call(worker, target, *args)
    assert outcome.status == status
    assert outcome.detail == ("SIGSEGV" if status == "crashed" else "7")


def test_the_environment_holds_none_of_the_graders_variables(worker, monkeypatch):
    environment = call(worker, "environment").value
    assert "PYTEST_CURRENT_TEST" not in environment and "ECS_LAB_WORKER_FD" not in environment
    assert not [k for k in environment if k.startswith(("CI", "GITHUB", "PYTEST"))]
    assert environment["AWS_ACCESS_KEY_ID"] == "x"


def test_the_session_reference_becomes_the_workers_boto3_session(worker):
    assert call(worker, "session_region", SESSION).value == "eu-west-1"


def test_reading_the_solution_is_flagged(worker):
    solution = Path(__file__).resolve().parents[1] / "reference" / "s3_io.py"
    outcome = call(worker, "open_file", str(solution))
    assert any("reference" in flag for flag in outcome.flags)
    if sandbox.mode() == "bubblewrap":
        assert outcome.status == "raised" and outcome.error.is_a("OSError")  # not even there


def test_garbage_never_passes_for_data():
    with pytest.raises(Garbage):
        decode({"$object": "x", "repr": "y", "extra": 1})
    with pytest.raises(Garbage):
        decode({"$unknown": 1})
    with pytest.raises(Garbage):
        decode_error({"type": "X", "mro": "not a list"})
    assert decode({"$dict": [["k", {"$tuple": [1, {"$bytes": "YQ=="}]}]]}) == {"k": (1, b"a")}
    assert encode({"k": (1, b"a")}) == {"k": {"$tuple": [1, {"$bytes": "YQ=="}]}}


def test_a_forged_or_oversized_answer_is_garbage(worker):
    with worker.check(VirtualClock()) as child:
        child.control.sendall(b"")  # nothing to send: read the child's answer to a call
        data = json.dumps({"target": "student:echo", "args": [1], "kwargs": {}}).encode()
        child.control.sendall(struct.pack(">I", len(data)) + data)
        child._buffer += struct.pack(">I", 64 * 1024 * 1024)  # a frame announcing 64 MiB
        assert child._message().status == "garbage"
