"""The offline checks can fail, and grade right: the grader run on a corpus of submissions.

Each test runs the grader as a student or an instructor does (`python -m pytest
--submission=DIR` from the project root, in a subprocess) and reads the reports it writes.
The corpus (tests/submissions/faults.py) is the reference plus small documented patches:
faulty submissions must lose exactly their checkpoints, broken ones must still get a complete
report, alternative correct ones must get full marks.

Runs of the reference, the template and the corpus are cached for the session and shared by
pytest-xdist workers (`-n 2`), so each is graded once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from submissions.faults import (
    ALTERNATIVES,
    BROKEN,
    BUNDLES,
    FAULTY,
    LAB_RULES,
    Submission,
    materialise,
)

from grader.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "grader" / "schemas" / "gradescope-results.schema.json"
REPORT_FILES = ("report.html", "report.md", "report.json", "results.json")
GRADE_TIMEOUT_S = 240

CATALOGUE = load_catalogue()
ALL_IDS = [c.id for c in CATALOGUE.checkpoints]
OFFLINE = {c.id for c in CATALOGUE.checkpoints if c.checks.get("offline")}
TODOS = {"classifier_image_pushed", "task_definition", "task_run", "task_monitoring", "classification_result",
         "main_runs", "bonus_s3_uris", "bonus_s3_download", "bonus_s3_upload", "bonus_result_in_s3"}
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


def grade(submission: Path | str, report_dir: Path, *options: str) -> Graded:
    command = [sys.executable, "-m", "pytest", f"--submission={submission}", f"--report-dir={report_dir}",
               "-p", "no:cacheprovider", "-q", *options]
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=GRADE_TIMEOUT_S,
                               env=_child_env(), stdin=subprocess.DEVNULL, check=False)
    return Graded(completed.returncode, completed.stdout, completed.stderr, time.perf_counter() - start,
                  report_dir)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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

    def get(key: str, submission: Path | str | Submission, *options: str) -> Graded:
        target = shared_dir / key
        with _locked(shared_dir / f"{key}.lock"):
            meta = target / "run.json"
            if not meta.is_file():
                if isinstance(submission, Submission):
                    submission = materialise(submission, target / "submission")
                graded = grade(submission, target / "reports", *options)
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
    results = graded.results
    assert len(results["tests"]) == len(ALL_IDS)
    assert results["score"] == pytest.approx(report["score"] + report["bonus_score"])
    for checkpoint, test in zip(report["checkpoints"], results["tests"]):
        assert checkpoint["id"] in test["name"]
        assert test["score"] == pytest.approx(checkpoint["score"])
        if checkpoint["status"] == "not_graded":  # neither passed nor failed: no status, no points at stake
            assert "status" not in test and test["max_score"] == 0, test
        else:
            assert test["status"] == ("passed" if checkpoint["status"] == "passed" else "failed"), test
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


# --- The corpus ------------------------------------------------------------------------------------

# Slow entries first, so that xdist starts them first.
CORPUS_RUNS = [
    pytest.param(s, id=s.name, marks=[pytest.mark.xfail(strict=True, reason=s.known_gap)] if s.known_gap else [])
    for s in sorted([*BROKEN, *FAULTY, *BUNDLES, *LAB_RULES], key=lambda s: not s.slow)
]


@pytest.mark.parametrize("entry", CORPUS_RUNS)
def test_faulty_submission_loses_exactly_its_checkpoints(entry: Submission, graded_once, gradescope_schema):
    graded = graded_once(entry.name, entry)
    assert_complete(graded, gradescope_schema)
    checkpoints = graded.checkpoints
    wrong = []
    for checkpoint_id in sorted(OFFLINE):
        checkpoint = checkpoints[checkpoint_id]
        score, maximum = checkpoint["score"], checkpoint["max_points"]
        if checkpoint_id in entry.loses:
            if not (score < maximum and checkpoint["status"] in ("failed", "partial") and checkpoint["feedback"]):
                wrong.append(f"{checkpoint_id}: should lose points, got {score}/{maximum} {checkpoint['status']}")
            elif checkpoint_id in entry.says and entry.says[checkpoint_id].casefold() not in feedback(checkpoint).casefold():
                wrong.append(f"{checkpoint_id}: feedback should mention {entry.says[checkpoint_id]!r}, "
                             f"got {feedback(checkpoint)!r}")
        elif not (score == maximum and checkpoint["status"] == "passed"):
            wrong.append(f"{checkpoint_id}: should keep {maximum}, got {score} {checkpoint['status']}: "
                         f"{feedback(checkpoint)!r}")
    assert not wrong, f"{entry.name} ({entry.why})\n" + "\n".join(wrong)


@pytest.mark.parametrize("entry", ALTERNATIVES, ids=lambda s: s.name)
def test_alternative_correct_submission_scores_full_marks(entry: Submission, graded_once, gradescope_schema):
    graded = graded_once(entry.name, entry)
    assert_complete(graded, gradescope_schema)
    lost = {i: (s, m, feedback(graded.checkpoints[i])) for i, (s, m) in offline_marks(graded).items() if s < m}
    assert not lost, f"{entry.name} ({entry.why}) lost points:\n{lost}"


def test_broken_submissions_say_which_file_and_why(graded_once):
    """The message names the file that cannot be used, and the reason, in every check it costs."""
    expectations = {
        "broken_syntax_error": ("image_classifier_operations.py ne s'importe pas", "SyntaxError"),
        "broken_import_error": ("image_classifier_operations.py ne s'importe pas", "ModuleNotFoundError"),
        "broken_sys_exit_at_import": ("image_classifier_operations.py ne s'importe pas", "SystemExit(1)"),
        "broken_endless_loop_at_import": ("s3_io.py ne s'importe pas", "ne se termine pas en"),
        "broken_os_exit_at_import": ("s3_io.py ne s'importe pas", "os._exit"),
    }
    by_name = {s.name: s for s in BROKEN}
    for name, fragments in expectations.items():
        graded = graded_once(name, by_name[name])
        for checkpoint_id in by_name[name].loses:
            for check in graded.checkpoints[checkpoint_id]["checks"]:
                if check["outcome"] == "failed":
                    assert all(f in check["message"] for f in fragments), (name, check)


# --- Reference, template, options ----------------------------------------------------------------


def test_reference_scores_full_marks_offline(reference: Graded, gradescope_schema):
    assert_complete(reference, gradescope_schema)
    marks = offline_marks(reference)
    assert set(marks) == OFFLINE
    lost = {i: (s, m, feedback(reference.checkpoints[i])) for i, (s, m) in marks.items() if s < m}
    assert not lost, lost
    report = reference.report
    assert report["score"] == report["graded_max"] == sum(m for i, (s, m) in marks.items()
                                                          if not CATALOGUE.get(i).bonus)
    assert report["bonus_score"] == sum(m for i, (s, m) in marks.items() if CATALOGUE.get(i).bonus)


def test_template_scores_zero_on_every_todo(template: Graded, gradescope_schema):
    assert_complete(template, gradescope_schema)
    checkpoints = template.checkpoints
    assert TODOS <= OFFLINE
    for checkpoint_id in TODOS:
        checkpoint = checkpoints[checkpoint_id]
        assert checkpoint["score"] == 0 and checkpoint["status"] == "failed", checkpoint
        assert checkpoint["feedback"], checkpoint
    # What the template gives (the lab's resources) is not a to-do: full marks.
    for checkpoint_id in OFFLINE - TODOS:
        assert checkpoints[checkpoint_id]["status"] == "passed", checkpoints[checkpoint_id]
    assert "NotImplementedError" in feedback(checkpoints["task_definition"])


def test_two_runs_give_the_same_report(graded_once, tmp_path):
    """Same code, same grade, same feedback: only the timing fields differ."""
    entry = next(s for s in FAULTY if s.name == "task_run_launch_type_ec2")  # feedback quotes moto's answers
    first = graded_once(entry.name, entry)
    second = grade(first.report_dir.parent / "submission", tmp_path / "again")
    assert second.returncode == 0, second.explain()
    assert _normalised(second.report) == _normalised(first.report)
    assert _normalised(second.results) == _normalised(first.results)


def test_english_feedback(graded_once, gradescope_schema):
    graded = graded_once("template-en", "student_template", "--lang", "en",
                         "-m", "task_definition or classifier_image_pushed")
    assert_complete(graded, gradescope_schema)
    report = graded.report
    assert report["lang"] == "en"
    checkpoints = graded.checkpoints
    assert checkpoints["task_definition"]["title"] == CATALOGUE.get("task_definition").title.en
    text = feedback(checkpoints["task_definition"]) + feedback(checkpoints["classifier_image_pushed"])
    assert "is not implemented yet" in text
    for french in ("n'est pas", "Relisez", "attendu", "obtenu"):
        assert french not in text and french not in graded.stdout, french
    assert "Re-read step 11" in graded.stdout
    assert "Not selected" in checkpoints["task_run"]["reason"]
    assert "graded here" in graded.results["output"]


def test_marker_grades_only_that_checkpoint(graded_once, gradescope_schema):
    graded = graded_once("reference-task-definition", "reference", "-m", "task_definition")
    assert_complete(graded, gradescope_schema)
    checkpoints = graded.checkpoints
    assert checkpoints["task_definition"]["status"] == "passed"
    assert checkpoints["task_definition"]["score"] == checkpoints["task_definition"]["max_points"]
    for checkpoint_id in OFFLINE - {"task_definition"}:
        checkpoint = checkpoints[checkpoint_id]
        assert checkpoint["status"] == "not_graded" and checkpoint["score"] == 0, checkpoint
        assert "-m" in checkpoint["reason"], checkpoint
    assert graded.report["score"] == checkpoints["task_definition"]["max_points"]


def test_missing_submission_is_a_clear_usage_error(tmp_path):
    missing = tmp_path / "pas-de-rendu"
    graded = grade(missing, tmp_path / "reports")
    shown = graded.stdout + graded.stderr
    assert graded.returncode != 0, graded.explain()
    assert "n'existe pas" in shown and str(missing) in shown, graded.explain()
    assert "Traceback" not in shown, graded.explain()
    assert not (tmp_path / "reports" / "report.json").exists()
