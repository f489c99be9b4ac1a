"""One way in: what every launcher calls to grade a submission.

    from grader.api import Grading, grade
    report = grade(Grading(Path("submission"), tier="offline", lang="fr", report_dir=Path("reports")))

pytest is the engine (the checks are pytest tests; the student's command is `pytest`): :func:`grade`
runs it in this process on the project's checks with the grader's options (:meth:`Grading.pytest_args`,
the one place they are written), and returns the :class:`~grader.results.GradeReport` the run built,
the same object every report renders; the reports are written in ``report_dir`` (a temporary folder
when none is asked). The student's code never runs in this process (grader.worker).

A launcher that needs a time limit, or grades many submissions, runs it in a child of its own:
:func:`grader.runner.grade_in_child` and :func:`grader.runner.run_jobs` (`ecs-lab grade`, the Gradescope
autograder, an ECS task); GitHub Classroom's step calls :func:`grade` directly.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from grader.plugin.state import grading_key
from grader.project import CHECKS_DIR, PROJECT
from grader.tiers.base import NAMES

if TYPE_CHECKING:
    from grader.lms.gradescope import Policy
    from grader.results import GradeReport

# Plugins some machines have that grading never uses (pyproject.toml's addopts, for a grader installed
# without its pyproject): hypothesis alone costs 0.8 s at every start.
UNUSED_PLUGINS = ("no:cacheprovider", "no:hypothesispytest", "no:benchmark", "no:time_machine", "no:xdist.looponfail")


class GradingFailed(Exception):
    """pytest ended without a report (a usage error, the grader's own crash): `exit_code` says how."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(f"the grading run ended without a report (pytest exit status {exit_code})")
        self.exit_code = exit_code


@dataclass(frozen=True)
class Grading:
    """What to grade, and how."""

    submission: Path
    tier: str = "offline"  # a tier (grader.tiers.base.NAMES), "all", or "sandbox" (the aws tier on the sandbox)
    lang: str = "fr"
    report_dir: Path | None = None  # where the four reports go; None: a temporary folder
    ungraded: str = "exclude"  # Gradescope's results.json (grader.lms.gradescope.Policy)
    bonus: str = "count"
    stage: str = "all"  # aws tier
    profile: str | None = None  # aws tier
    region: str | None = None  # aws tier
    options: tuple[str, ...] = field(default=())  # more pytest options (-m, -k, -n 2, -q...)

    @classmethod
    def under(cls, policy: "Policy", submission: Path, **kwargs) -> "Grading":
        """A grading whose results.json follows Gradescope's `policy`."""
        return cls(submission, ungraded=policy.ungraded, bonus=policy.bonus, **kwargs)

    def pytest_args(self, report_dir: Path) -> list[str]:
        """The command line of `python -m pytest` that grades it (from any folder: paths are absolute)."""
        if self.tier not in (*NAMES, "all", "sandbox"):
            raise ValueError(f"unknown tier {self.tier!r}")
        args = [str(CHECKS_DIR), f"--rootdir={PROJECT}", f"--submission={Path(self.submission).resolve()}",
                f"--report-dir={Path(report_dir).resolve()}", f"--tier={self.tier}", f"--lang={self.lang}",
                f"--gradescope-ungraded={self.ungraded}", f"--gradescope-bonus={self.bonus}"]
        if self.tier in ("aws", "all", "sandbox") and self.stage != "all":
            args.append(f"--stage={self.stage}")
        args += [f"--profile={self.profile}"] if self.profile else []
        args += [f"--region={self.region}"] if self.region else []
        for plugin in UNUSED_PLUGINS:
            args += ["-p", plugin]
        return [*args, *self.options]


def grade(grading: Grading) -> "GradeReport":
    """Grade in this process; the report the run built (and wrote in `grading.report_dir`).

    Raises GradingFailed when pytest ended without one (its own output says why)."""
    receiver = _Receiver()
    if grading.report_dir is not None:
        code = pytest.main(grading.pytest_args(grading.report_dir), plugins=[receiver])
    else:
        with tempfile.TemporaryDirectory(prefix="ecs-lab-reports-") as folder:
            code = pytest.main(grading.pytest_args(Path(folder)), plugins=[receiver])
    if receiver.report is None:
        raise GradingFailed(int(code))
    return receiver.report


class _Receiver:
    """Takes the run's report from its state once the plugin has written it."""

    report = None

    @pytest.hookimpl(trylast=True)  # after the plugin's own (grader.plugin.session), which writes it
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        state = session.config.stash.get(grading_key, None)
        if state is not None and state.report is not None and not hasattr(session.config, "workerinput"):
            self.report = state.report
