"""Running the grader as students and instructors do, and what every complete run must show.

Shared by the tests that grade submissions (tests/test_grading.py, tests/test_hostile.py):
`grade` runs `python -m pytest --submission=DIR` from the project root in a subprocess;
`graded_once` grades a submission once per test session, whichever pytest-xdist worker asks;
`assert_complete` is what every run must show (exit 0, no traceback, four valid reports).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from grader.catalogue import load_catalogue
from standin.processes import locked  # what xdist's workers share is made once

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "grader" / "schemas" / "gradescope-results.schema.json"
REPORT_FILES = ("report.html", "report.md", "report.json", "results.json")
GRADE_TIMEOUT_S = 240

CATALOGUE = load_catalogue()
ALL_IDS = [c.id for c in CATALOGUE.checkpoints]
OFFLINE = set(CATALOGUE.ids("offline"))
# What the template leaves to do: every offline checkpoint that grades the student's Python files.
TODOS = set(CATALOGUE.ids("offline")) & CATALOGUE.using("image_classifier_operations", "s3_io")
TIMING_KEYS = {"started_at", "duration_s", "execution_time"}


# --- Running the grader ---------------------------------------------------------------------


@dataclass
class Graded:
    """One grader run: its exit status, terminal output and reports."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    report_dir: Path

    @property
    def report(self) -> dict:
        return json.loads((self.report_dir / "report.json").read_text(encoding="utf-8"))

    @property
    def results(self) -> dict:
        return json.loads((self.report_dir / "results.json").read_text(encoding="utf-8"))

    @property
    def checkpoints(self) -> dict[str, dict]:
        return {c["id"]: c for c in self.report["checkpoints"]}

    def explain(self) -> str:
        """Enough of the run to understand a failed assertion."""
        tail = (self.stdout[-3000:] + "\n" + self.stderr[-2000:]).strip()
        return f"grader exit {self.returncode} in {self.wall_s:.1f} s; output:\n{tail}"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in list(env):  # the grader is a fresh pytest run, not part of this one
        if name.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST")) or name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
            env.pop(name)
    env["ECS_LAB_LANG"] = "fr"
    return env


def grade(submission: Path | str, report_dir: Path, *options: str, env: dict[str, str] | None = None) -> Graded:
    command = [sys.executable, "-m", "pytest", f"--submission={submission}", f"--report-dir={report_dir}",
               "-p", "no:cacheprovider", "-q", *options]
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=GRADE_TIMEOUT_S,
                               env={**_child_env(), **(env or {})}, stdin=subprocess.DEVNULL, check=False)
    return Graded(completed.returncode, completed.stdout, completed.stderr, time.perf_counter() - start,
                  report_dir)


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory shared by the xdist workers of this session (each worker has its own basetemp)."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "graded"
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture(scope="session")
def graded_once(shared_dir: Path):
    """graded_once(key, submission_dir_or_entry, *options): grade once per session, whichever worker asks."""

    def get(key: str, submission: Path | str | Callable[[Path, Path], Path], *options: str,
            env: dict[str, str] | None = None) -> Graded:
        """`submission`: a folder, or a function that writes one (given its folder and the report folder)."""
        target = shared_dir / key
        with locked(shared_dir / f"{key}.lock"):
            meta = target / "run.json"
            if not meta.is_file():
                if callable(submission):
                    submission = submission(target / "submission", target / "reports")
                graded = grade(submission, target / "reports", *options, env=env)
                meta.write_text(json.dumps({"returncode": graded.returncode, "stdout": graded.stdout,
                                            "stderr": graded.stderr, "wall_s": graded.wall_s}))
            run = json.loads(meta.read_text())
            return Graded(run["returncode"], run["stdout"], run["stderr"], run["wall_s"], target / "reports")

    return get


@pytest.fixture(scope="session")
def reference(graded_once) -> Graded:
    return graded_once("reference", "reference")


@pytest.fixture(scope="session")
def template(graded_once) -> Graded:
    return graded_once("template", "student_template")


# --- What every complete run must show ----------------------------------------------------------


@pytest.fixture(scope="session")
def gradescope_schema() -> dict:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def assert_complete(graded: Graded, schema: dict) -> None:
    """Exit 0, no traceback shown, the four reports written, consistent and valid."""
    assert graded.returncode == 0, graded.explain()
    shown = graded.stdout + graded.stderr
    assert "Traceback (most recent call last)" not in shown, graded.explain()
    for name in REPORT_FILES:
        path = graded.report_dir / name
        assert path.is_file() and path.stat().st_size > 0, f"{name} missing or empty\n{graded.explain()}"
    jsonschema.validate(graded.results, schema)
    for name in ("report.html", "report.md"):
        text = (graded.report_dir / name).read_text(encoding="utf-8")
        missing = [i for i in ALL_IDS if i not in text]
        assert not missing, f"{name} does not mention {missing}"
    report = graded.report
    assert [c["id"] for c in report["checkpoints"]] == ALL_IDS
    # Gradescope, default policy (grader/lms/gradescope.py): what this tier cannot verify is left out
    # of the maximum, the bonus counts on top.
    results = graded.results
    assert len(results["tests"]) == len(ALL_IDS)
    assert results["extra_data"]["policy"] == {"ungraded": "exclude", "bonus": "count"}
    assert results["score"] == pytest.approx(report["score"] + report["bonus_score"])
    assert results["max_score"] == pytest.approx(report["graded_max"])
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(report["graded_max"])
    assert results["output_format"] == "md" and results["stdout_visibility"] == "hidden"
    if report["lang"] == "fr":
        assert f"noté sur {report['graded_max']:g} points vérifiables ici" in results["output"], results["output"]
    for checkpoint, test in zip(report["checkpoints"], results["tests"]):
        assert checkpoint["id"] in test["name"] and test["tags"] == [checkpoint["part"]]
        assert test["score"] == pytest.approx(checkpoint["score"])
        if checkpoint["status"] == "not_graded":  # neither passed nor failed: no status, no points at stake
            assert "status" not in test and test["max_score"] == 0, test
            assert checkpoint["reason"].replace("\\", "") in test["output"].replace("\\", ""), test
        else:
            assert test["status"] == ("passed" if checkpoint["status"] == "passed" else "failed"), test
            assert test["max_score"] == (0 if checkpoint["bonus"] else checkpoint["max_points"]), test
    for checkpoint in report["checkpoints"]:
        if checkpoint["id"] not in OFFLINE:
            assert checkpoint["status"] == "not_graded" and checkpoint["reason"], checkpoint


def offline_marks(graded: Graded) -> dict[str, tuple[float, float]]:
    return {i: (c["score"], c["max_points"]) for i, c in graded.checkpoints.items() if i in OFFLINE}


def feedback(checkpoint: dict) -> str:
    return "\n".join(checkpoint["feedback"])


def _normalised(data):
    """A report without its timing fields (start time, durations)."""
    if isinstance(data, dict):
        return {k: _normalised(v) for k, v in data.items() if k not in TIMING_KEYS}
    if isinstance(data, list):
        return [_normalised(v) for v in data]
    return data


