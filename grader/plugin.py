"""pytest plugin: tiers, submission, language, checkpoint markers, grades and reports.

Registered as an entry point (and by the root conftest.py). Grading is active only when
checks under checks/ are collected, so the project's own tests (tests/) run as plain pytest.

Hooks only wire things up: options, markers and tier selection at collection; one
:class:`~grader.results.CheckResult` per check, made where the check ran and carried by its
report (so that ``pytest -n`` gives the same grade: pytest-xdist sends reports to the
controller); the reports written once, by this process, at the end. The student's code never
runs here (grader.worker): whatever a check raises other than its verdict (``CheckFailed``)
is the grader's problem and leaves that check "not graded", never failed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ecslab.facts import PROFILE, REGION
from grader import i18n
from grader.catalogue import CHECKS_DIR, TIERS, CatalogueError, load_catalogue
from grader.feedback import LANGUAGES, CheckFailed, Text

DEFAULT_SUBMISSION = "student_template"
CHECK_TIMEOUT_S = {"offline": 120, "local": 900, "aws": 300}  # the scorer's own safety net (pytest-timeout)
STAGES = ("part1", "after-step8", "part2", "final")
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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grading", "Lab 8 grading (see README)")
    group.addoption("--tier", choices=[*TIERS, "all"], default="offline",
                    help="which tier of checks to run (default: offline, on moto)")
    group.addoption("--submission", default=DEFAULT_SUBMISSION, metavar="DIR",
                    help="directory of the submission to grade (default: student_template)")
    group.addoption("--lang", choices=LANGUAGES, default=os.environ.get("ECS_LAB_LANG", "fr"),
                    help="language of the feedback (default: fr)")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="where to write report.html, report.md, report.json and results.json")
    group.addoption("--stage", choices=[*STAGES, "all"], default="all",
                    help="aws tier: the stage of the lab to verify (default: all)")
    group.addoption("--profile", default=os.environ.get("AWS_PROFILE", PROFILE),
                    help=f"aws tier: AWS profile (default: {PROFILE})")
    group.addoption("--region", default=REGION, help=f"aws tier: region (default: {REGION})")
    group.addoption("--mask-account", action="store_true", default=False,
                    help="aws tier: hide the account ID in feedback and reports (or ECS_LAB_MASK_ACCOUNT=1)")
    group.addoption("--fail-under", type=float, default=None, metavar="POINTS",
                    help="exit with status 1 when the score is below POINTS (for CI gates)")
    from grader.lms.gradescope import BONUS_POLICIES, DEFAULT_POLICY, UNGRADED_POLICIES

    group.addoption("--gradescope-ungraded", choices=UNGRADED_POLICIES, default=DEFAULT_POLICY.ungraded,
                    help="results.json: checkpoints this tier cannot verify are left out of the maximum "
                         "(exclude, default) or counted as 0 (zero)")
    group.addoption("--gradescope-bonus", choices=BONUS_POLICIES, default=DEFAULT_POLICY.bonus,
                    help="results.json: bonus points added on top (count, default) or shown only (ignore)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "weight(n): weight of a check within its checkpoint (default 1)")
    config.addinivalue_line("markers", "stage(name): aws tier stage that this check verifies")
    try:
        catalogue = load_catalogue()
    except CatalogueError as error:
        raise pytest.UsageError(f"grader/catalogue.yaml: {error}") from error
    for checkpoint in catalogue.checkpoints:
        config.addinivalue_line("markers", f"{checkpoint.id}: {checkpoint.title('en')}")

    lang = config.getoption("lang")
    _check_rootdir(config, lang)
    invoked = Path(config.invocation_params.dir)
    submission = Path(config.getoption("submission"))
    submission = (submission if submission.is_absolute() else invoked / submission).resolve()
    tier = config.getoption("tier")
    report_dir = Path(config.getoption("report_dir"))
    report_dir = (report_dir if report_dir.is_absolute() else invoked / report_dir).resolve()
    state = GradingState(submission=submission, tiers=list(TIERS) if tier == "all" else [tier], lang=lang,
                         report_dir=report_dir)
    state.selection = bool(config.option.markexpr or config.option.keyword)
    config.stash[grading_key] = state
    config.pluginmanager.register(ResultCollector(state), "ecs-lab-results")
    # Everything the reports need is read now, before any student's code runs anywhere.
    from grader import reports

    reports.preload()


def _check_rootdir(config: pytest.Config, lang: str) -> None:
    """`--submission /tmp/x` makes pytest take /tmp/x for its root directory (it decides the
    root before plugins parse their options), and then it would collect the submission's own
    test files. Refuse, and say how to write it."""
    project = CHECKS_DIR.parent
    separate = [a for a in config.invocation_params.args if a in ("--submission", "--report-dir")]
    invoked_in_project = project in {Path(config.invocation_params.dir).resolve(),
                                     *Path(config.invocation_params.dir).resolve().parents}
    if separate and invoked_in_project and config.rootpath.resolve() != project:
        raise pytest.UsageError(i18n.option_needs_equals(separate[0], lang))


def _check_report_dir(state: GradingState) -> None:
    """The reports go where the submission cannot write: never inside the submitted folder."""
    if state.report_dir == state.submission or state.submission in state.report_dir.parents:
        raise pytest.UsageError(i18n.report_dir_in_submission(state.report_dir, state.lang))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[grading_key]
    by_module = load_catalogue().by_module()
    keep, drop = [], []
    for item in items:
        try:
            module = Path(item.path).resolve().relative_to(CHECKS_DIR).as_posix()
        except ValueError:
            keep.append(item)  # not a check: a project test
            continue
        if module not in by_module:
            raise pytest.UsageError(f"checks/{module} is not a check of any checkpoint (grader/catalogue.yaml)")
        tier, checkpoint = by_module[module]
        state.active = True
        item.add_marker(getattr(pytest.mark, checkpoint.id))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(CHECK_TIMEOUT_S[tier]))
        (keep if tier in state.tiers else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    if state.active:
        if not state.submission.is_dir():
            raise pytest.UsageError(i18n.missing_submission(state.submission, state.lang))
        _check_report_dir(state)
        if config.option.tbstyle == "auto":
            config.option.tbstyle = "no"  # the feedback is in the summary and the reports
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.reportchars = ""


def _check_module(item: pytest.Item) -> str | None:
    try:
        return Path(item.path).resolve().relative_to(CHECKS_DIR).as_posix()
    except ValueError:
        return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    module = _check_module(item)
    if module is None:
        return report
    state = item.config.stash[grading_key]
    result = item.stash.setdefault(_result_key, {
        "nodeid": item.nodeid, "name": item.name, "tier": module.split("/", 1)[0], "outcome": "passed",
        "weight": _weight(item), "message": "", "duration_s": 0.0})
    result["duration_s"] = round(result["duration_s"] + report.duration, 3)
    error = call.excinfo.value if call.excinfo is not None else None
    if report.failed and isinstance(error, CheckFailed) and report.when in ("setup", "call"):
        if result["outcome"] != "failed":
            result["outcome"], result["message"], result["key"] = "failed", error.render(state.lang), error.key
    elif report.failed:
        # Not a verdict on the student's work: the grader itself failed (its set-up, an emulator
        # gap, its own time limit...). The check is not graded, with the reason.
        reason = _grader_failure(error, call, item, state.lang)
        result["outcome"], result["message"] = "skipped", reason
        note = i18n.harness_error(f"{item.nodeid}: {reason}", state.lang)
        if note not in state.notes:
            state.notes.append(note)
    elif report.skipped and result["outcome"] == "passed":
        result["outcome"], result["message"] = "skipped", _skip_reason(report)
    if report.when == "teardown" or (report.when == "setup" and not report.passed):
        report.user_properties.append((PROPERTY, json.dumps({
            "result": result, "module": module, "tier_reasons": state.tier_reasons, "notes": state.notes,
            "run_failure": state.run_failure,
            "flags": state.flags, "protections": state.protections})))
    return report


_result_key = pytest.StashKey[dict]()


def _weight(item: pytest.Item) -> float:
    marker = item.get_closest_marker("weight")
    return float(marker.args[0]) if marker else 1.0


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _grader_failure(error: BaseException | None, call: pytest.CallInfo, item: pytest.Item, lang: str) -> str:
    if error is None:
        return i18n.harness_error("?", lang)
    text = str(error)
    if "Timeout" in text and "pytest-timeout" in text:
        marker = item.get_closest_marker("timeout")
        return i18n.grader_timeout(marker.args[0] if marker else None, lang)
    detail = text if isinstance(error, CheckFailed) else f"{type(error).__name__}: {text}"
    return i18n.harness_error(detail[:600], lang)


class ResultCollector:
    """Every check's result arrives here, from this process or from a pytest-xdist worker."""

    def __init__(self, state: GradingState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.state
        for name, value in report.user_properties:
            if name != PROPERTY:
                continue
            data = json.loads(value)
            state.active = True
            state.results[data["result"]["nodeid"]] = data["result"]
            state.module_of[data["result"]["nodeid"]] = data["module"]
            for tier, reason in data["tier_reasons"].items():
                state.tier_reasons.setdefault(tier, reason)
            state.run_failure = state.run_failure or data.get("run_failure", "")
            for key in ("notes", "flags", "protections"):
                target = getattr(state, key)
                target += [v for v in data[key] if v not in target]


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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash[grading_key]
    if (not state.active or session.config.option.collectonly
            or exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR)):
        return
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the controller writes the reports
    from grader.lms.gradescope import Policy
    from grader.reports import write_reports
    from grader.results import CheckResult, build_report

    submission = state.open_submission()
    flags = list(dict.fromkeys(submission.flags + state.flags))
    state.report = build_report(
        load_catalogue(),
        [CheckResult(**r) for r in state.results.values()],
        state.module_of,
        submission=_display_path(state.submission, session.config),
        tiers=state.tiers,
        lang=state.lang,
        started_at=state.started_at,
        duration_s=time.monotonic() - state.started,
        tier_reasons=state.tier_reasons,
        notes=state.notes,
        flags=[i18n.flag(f, state.lang) for f in flags],
        protections=state.protections,
        selection=state.selection,
    )
    policy = Policy(ungraded=session.config.getoption("gradescope_ungraded"),
                    bonus=session.config.getoption("gradescope_bonus"))
    state.report_paths = write_reports(state.report, state.report_dir, policy)
    # Failed checks are the student's grade, not a failure of the run: exit 0 once the
    # report is written, unless --fail-under asks for a gate.
    threshold = session.config.getoption("fail_under")
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        failed_gate = threshold is not None and state.report.score < threshold
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed_gate else pytest.ExitCode.OK
    if state.run_failure:
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def _display_path(path: Path, config: pytest.Config) -> str:
    try:
        return path.relative_to(config.rootpath).as_posix()
    except ValueError:
        return str(path)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(grading_key, None) is not None and config.stash[grading_key].active:
        # moto leaves millions of objects: the interpreter's final garbage collection would look at
        # every one of them (a second) before exiting. They are freed all the same.
        import gc

        gc.freeze()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash[grading_key]
    if state.report is None:
        return
    from grader.reports import render_terminal_summary

    terminalreporter.write(render_terminal_summary(state.report, state.report_paths))


__all__ = ["GradingState", "grading_key", "record_flags", "record_note", "record_protections",
           "record_tier_unavailable"]
