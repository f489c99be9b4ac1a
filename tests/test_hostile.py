"""Hostile submissions gain nothing (tests/submissions/hostile.py): the grade cannot be forged.

Each one is graded as an instructor would (a subprocess, `python -m pytest --submission=DIR`).
It must score what the template scores on every checkpoint (or lose exactly what it fakes,
for those built on the reference), the run must end with exit 0 and a complete report, nothing
it started may survive, and the grader's files must be as they were. Some are graded again
without the sandbox (plain process mode), as on a laptop without bubblewrap.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from grading_support import (
    OFFLINE,
    ROOT,
    Graded,
    assert_complete,
    feedback,
    offline_marks,
)
from submissions.hostile import HOSTILE, Hostile, OutsideServer, materialise

from grader.worker import sandbox

MARKERS = itertools.count(4_871_000)
RUNS = [pytest.param(h, "sandbox", id=h.name) for h in HOSTILE] + [
    pytest.param(h, "process", id=f"{h.name}-process-mode") for h in HOSTILE if h.process_mode]


def _grader_files() -> dict[str, str]:
    files = {}
    for folder in ("grader", "checks", "reference"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[str(path.relative_to(ROOT))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def _survivors(marker: int) -> list[str]:
    """Processes of a hostile run still alive: the worker's, or carrying the run's marker,
    with no grader (a pytest process) among their ancestors."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if "ecs_lab_worker.py" not in command and str(marker) not in command:
            continue
        try:
            ancestors = [" ".join(p.cmdline()) for p in process.parents()]
        except psutil.Error:
            continue
        if not any("pytest" in a for a in ancestors):
            found.append(f"{process.pid} {command}")
    return found


@pytest.fixture(scope="module")
def grader_files() -> dict[str, str]:
    return _grader_files()


@pytest.fixture(scope="module")
def outside() -> Iterator[OutsideServer]:
    """A server outside the grader that connect_outside tries to reach (it must receive nothing)."""
    with OutsideServer("127.0.0.1") as server:
        yield server


@pytest.mark.parametrize("hostile, mode", RUNS)
def test_hostile_submission_gains_nothing(hostile: Hostile, mode: str, graded_once, template: Graded,
                                          gradescope_schema, grader_files, outside: OutsideServer) -> None:
    marker = next(MARKERS)
    env = {"ECS_LAB_SANDBOX": "process"} if mode == "process" else {}
    graded = graded_once(f"hostile-{hostile.name}-{mode}",
                         lambda folder, reports: materialise(hostile, folder, report_dir=reports, marker=marker,
                                                             outside=outside.address),
                         env=env)
    assert_complete(graded, gradescope_schema)
    marks, baseline = offline_marks(graded), offline_marks(template)
    if hostile.base == "reference":
        wrong = {i: marks[i] for i in OFFLINE if (i in hostile.loses) != (marks[i][0] < marks[i][1])}
        assert not wrong, f"{hostile.name} ({hostile.attack}) should lose exactly {sorted(hostile.loses)}: {wrong}"
    else:
        gained = {i: (marks[i], baseline[i], feedback(graded.checkpoints[i])) for i in OFFLINE
                  if marks[i][0] > baseline[i][0]}
        assert not gained, f"{hostile.name} ({hostile.attack}) gained over the template: {gained}"
        assert graded.report["score"] <= template.report["score"]
    assert graded.report["protections"], "the report says how the student's code was run"
    if hostile.flagged:
        assert graded.report["flags"], f"{hostile.name}: the attempt to reach the grader is not flagged"
    survivors = _survivors(marker)
    assert survivors == [], f"{hostile.name}: processes survived the run: {survivors}"
    assert str(marker).encode() not in outside.received(), f"{hostile.name}: reached a server outside the grader"
    shown = json.dumps(graded.results, ensure_ascii=False) + json.dumps(graded.report, ensure_ascii=False)
    leaked = [text for text in hostile.leaks if text in shown]
    assert not leaked, f"{hostile.name}: the grader's files reached the feedback ({leaked})"
    assert _grader_files() == grader_files, f"{hostile.name}: the grader's files changed"


def test_protections_are_said_once_in_every_report(template: Graded) -> None:
    report = template.report
    text = " ".join(report["protections"])
    assert "hors du processus qui calcule la note" in text
    if sandbox.bubblewrap():  # installed by scripts/setup-sandbox.sh in CI: the sandbox is used
        assert "bac à sable bubblewrap" in text and "pas de bac à sable" not in text, text
        if os.getuid() == 0:
            assert "utilisateur non privilégié" in text, text
    html = (template.report_dir / "report.html").read_text(encoding="utf-8")
    assert html.count("Comment votre code a été exécuté") == 1


def test_a_clean_submission_is_not_flagged(template: Graded) -> None:
    assert template.report["flags"] == []


def test_process_mode_grades_the_reference_like_the_sandbox(graded_once, gradescope_schema, tmp_path: Path) -> None:
    """Without bubblewrap (a laptop), the same grades; the report says which protections applied."""
    sandboxed = graded_once("reference", ROOT / "reference")
    plain = graded_once("reference-process-mode", ROOT / "reference", env={"ECS_LAB_SANDBOX": "process"})
    assert_complete(plain, gradescope_schema)
    assert offline_marks(plain) == offline_marks(sandboxed)
    assert any("sans bac à sable bubblewrap" in p for p in plain.report["protections"])
