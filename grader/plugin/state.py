"""The grading run's shared state: what every part of the plugin and every tier records, in one place.

One :class:`GradingState` per pytest run, kept in ``config.stash[grading_key]`` (no module globals);
tiers record what they know through the ``record_*`` functions.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.feedback import Text
from grader.project import CHECKS_DIR

PARTIAL_DIR = "partial"  # where a -m/-k selection's reports go, beside the full ones
PROPERTY = "ecs_lab_grading"  # the report's user property that carries a check's result


@dataclass
class GradingState:
    submission: Path
    tiers: list[str]
    lang: str
    report_dir: Path
    started: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    results: dict[str, dict] = field(default_factory=dict)  # nodeid -> CheckResult fields
    module_of: dict[str, str] = field(default_factory=dict)  # nodeid -> check module (checks/...)
    tier_reasons: dict[str, str] = field(default_factory=dict)  # tier -> why it could not run here
    notes: list[str] = field(default_factory=list)  # the grader's own problems and evidence, for the report
    flags: list[str] = field(default_factory=list)  # what the submission tried against the grader
    protections: list[str] = field(default_factory=list)  # how the student's code was isolated
    selection: bool = False  # -m / -k narrowed the checks
    run_failure: str = ""  # why the run must fail although the reports are written (CI without Docker)
    exit_status: int | None = None  # the run's exit status, once the reports are written
    active: bool = False
    report = None
    report_paths: dict = field(default_factory=dict)
    _submission = None

    def open_submission(self):
        if self._submission is None:
            from grader.submission import Submission

            self._submission = Submission.open(self.submission)
        return self._submission

grading_key = pytest.StashKey[GradingState]()


def within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_module(item: pytest.Item) -> str | None:
    """The check's module, relative to checks/ ("offline/test_stacks.py"), or None: not a check."""
    try:
        return Path(item.path).resolve().relative_to(CHECKS_DIR).as_posix()
    except ValueError:
        return None


def grades(config: pytest.Config) -> bool:
    """This run collects checks (not only the project's own tests): decided from its paths, so that
    the pytest-xdist controller, which collects nothing, decides as its workers."""
    if config.option.pyargs:
        return False
    invoked = Path(config.invocation_params.dir)
    for arg in config.args:
        path = (invoked / arg.split("::", 1)[0]).resolve()
        if within(path, CHECKS_DIR) or CHECKS_DIR in path.parents or within(CHECKS_DIR, path):
            return True
    return False


def record_tier_unavailable(config: pytest.Config, tier: str, reason: str, fail_run: bool = False) -> None:
    """Called by tier fixtures: the tier cannot run here (no Docker, no credentials). Its checks
    are not graded; with `fail_run` (CI, where the tier must run) the run exits with status 3."""
    state = config.stash[grading_key]
    state.tier_reasons.setdefault(tier, reason)
    if fail_run:
        state.run_failure = reason

def record_note(config: pytest.Config, text: str) -> None:
    """A note for the reports' "grader notes" section (evidence used, calls made...)."""
    notes = config.stash[grading_key].notes
    if text not in notes:
        notes.append(text)

def record_flags(config: pytest.Config, flags: list[str]) -> None:
    """What the submission tried against the grader (reading it, importing the solution...)."""
    state = config.stash[grading_key]
    state.flags += [f for f in flags if f not in state.flags]

def record_protections(config: pytest.Config, protections: list[Text]) -> None:
    """How the student's code was run (sandbox or not, limits), said once in the reports."""
    state = config.stash[grading_key]
    if not state.protections:
        state.protections = [p(state.lang) for p in protections]
