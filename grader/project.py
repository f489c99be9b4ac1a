"""Where the grader's own files are, said once: its checks, the lab's material, the project it grades in.

In a checkout (the usual case, an editable install), PROJECT is its root: `pytest` typed there grades
student_template/ into reports/. Installed from a wheel (the Gradescope autograder, the grading image),
the checks and the lab's templates come with the packages (checks/ is a package, ecslab/resources/ a
link to resources/ that the wheel holds as files), and the launchers name the submission and the
report folder.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def _package(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    return Path(spec.submodule_search_locations[0]).resolve() if spec else PROJECT / name


CHECKS_DIR = _package("checks")
LAB_RESOURCES = _package("ecslab") / "resources"
DEFAULT_SUBMISSION = PROJECT / "student_template"
DEFAULT_REPORT_DIR = PROJECT / "reports"
CACHE_DIR = PROJECT / ".cache"


def kept_for_forks() -> dict:
    """What a process computes once for its whole life and its forks: a batch fills it before it forks
    (grader.runner.warm_up), and every run uses it. The grader's modules are imported fresh in each
    run, so their own caches die with it; this one is on the interpreter's `sys` module."""
    return sys.__dict__.setdefault("_ecs_lab_kept", {})
