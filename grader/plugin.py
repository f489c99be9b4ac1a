"""pytest plugin: tiers, submission, language, checkpoint markers, grades and reports.

Loaded by the root conftest.py. Grading is active only when checks under checks/ are
collected, so the project's own tests (tests/) run as plain pytest.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader import i18n
from grader.catalogue import CHECKS_DIR, TIERS, CatalogueError, load_catalogue
from grader.feedback import LANGUAGES, CheckFailed
from grader.results import CheckResult, build_report
from grader.watchdog import CheckTimeout, cpu_watchdog

DEFAULT_SUBMISSION = "student_template"
CHECK_TIMEOUT_S = {"offline": 60, "local": 600, "aws": 120}  # wall clock, pytest-timeout
CHECK_CPU_LIMIT_S = 10  # CPU time, grader.watchdog (the checks themselves need about 1 s)
STAGES = ("part1", "after-step8", "part2", "final")


@dataclass
class GradingState:
    submission: Path
    tiers: list[str]
    lang: str
    report_dir: Path
    started: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    module_of: dict[str, str] = field(default_factory=dict)  # nodeid -> check module
    tier_of: dict[str, str] = field(default_factory=dict)
    results: dict[str, CheckResult] = field(default_factory=dict)
    deselected: dict[str, str] = field(default_factory=dict)  # nodeid -> reason
    tier_reasons: dict[str, str] = field(default_factory=dict)  # tier -> why it could not run
    notes: list[str] = field(default_factory=list)  # problems of the grader itself, for the report
    active: bool = False
    report = None


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
    group.addoption("--profile", default=os.environ.get("AWS_PROFILE", "aws-labs"),
                    help="aws tier: AWS profile (default: aws-labs)")
    group.addoption("--region", default="eu-west-1", help="aws tier: region (default: eu-west-1)")
    group.addoption("--mask-account", action="store_true", default=False,
                    help="aws tier: hide the account ID in feedback and reports (or ECS_LAB_MASK_ACCOUNT=1)")
    group.addoption("--fail-under", type=float, default=None, metavar="POINTS",
                    help="exit with status 1 when the score is below POINTS (for CI gates)")


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
    submission = Path(config.getoption("submission"))
    if not submission.is_absolute():
        submission = Path(config.invocation_params.dir) / submission
    tier = config.getoption("tier")
    report_dir = Path(config.getoption("report_dir"))
    if not report_dir.is_absolute():
        report_dir = Path(config.invocation_params.dir) / report_dir
    config.stash[grading_key] = GradingState(
        submission=submission.resolve(),
        tiers=list(TIERS) if tier == "all" else [tier],
        lang=lang,
        report_dir=report_dir,
    )


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
            raise pytest.UsageError(f"checks/{module} is not listed in grader/catalogue.yaml")
        tier, checkpoint = by_module[module]
        state.active = True
        state.module_of[item.nodeid] = module
        state.tier_of[item.nodeid] = tier
        item.add_marker(getattr(pytest.mark, checkpoint.id))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(CHECK_TIMEOUT_S[tier]))
        if tier in state.tiers:
            keep.append(item)
        else:
            drop.append(item)
            state.deselected[item.nodeid] = i18n.tier_not_selected(tier, state.lang)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    if state.active:
        if not state.submission.is_dir():
            raise pytest.UsageError(i18n.missing_submission(state.submission, state.lang))
        if config.option.tbstyle == "auto":
            config.option.tbstyle = "no"  # the feedback is in the summary and the reports
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.reportchars = ""


def pytest_deselected(items: list[pytest.Item]) -> None:
    if not items:
        return
    state = items[0].config.stash[grading_key]
    for item in items:
        if item.nodeid in state.module_of:
            state.deselected.setdefault(item.nodeid, i18n.not_selected(state.lang))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    if item.nodeid not in item.config.stash[grading_key].module_of:
        return (yield)
    with cpu_watchdog(CHECK_CPU_LIMIT_S):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    state = item.config.stash[grading_key]
    if item.nodeid not in state.module_of:
        return report
    result = state.results.get(item.nodeid)
    if result is None:
        marker = item.get_closest_marker("weight")
        result = state.results[item.nodeid] = CheckResult(
            nodeid=item.nodeid,
            name=item.name,
            tier=state.tier_of[item.nodeid],
            outcome="passed",
            weight=float(marker.args[0]) if marker else 1.0,
        )
    result.duration_s = round(result.duration_s + report.duration, 3)
    harness_failure = report.failed and call.excinfo is not None and (
        report.when == "teardown" or getattr(call.excinfo.value, "grader_harness_error", False))
    if harness_failure:
        # The grader's own problem (its clean-up failed, a refused mutating call...): reported
        # as such, never counted against the student.
        state.notes.append(i18n.harness_error(f"{item.nodeid}: {call.excinfo.value}", state.lang))
        if report.when != "teardown":
            result.outcome = "skipped"
            result.message = i18n.harness_error(str(call.excinfo.value), state.lang)
    elif report.skipped and result.outcome == "passed":
        result.outcome = "skipped"
        result.message = _skip_reason(report)
    elif report.failed and result.outcome != "failed":
        result.outcome = "failed"
        result.message = _failure_message(call, item, state.lang)
    return report


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _failure_message(call: pytest.CallInfo, item: pytest.Item, lang: str) -> str:
    excinfo = call.excinfo
    if excinfo is None:
        return i18n.unexpected_error("?", lang)
    error = excinfo.value
    if isinstance(error, CheckFailed):
        return error.render(lang)
    if isinstance(error, CheckTimeout):
        return i18n.check_cpu_timeout(error.limit_s, lang)
    text = str(error)
    if "Timeout" in text and "pytest-timeout" in text:
        marker = item.get_closest_marker("timeout")
        return i18n.check_timeout(marker.args[0] if marker else None, lang)
    if call.when != "call" and isinstance(error, pytest.fail.Exception) is False:
        return i18n.harness_error(f"{type(error).__name__}: {text}", lang)
    return i18n.unexpected_error(f"{type(error).__name__}: {text}", lang)


def record_tier_unavailable(config: pytest.Config, tier: str, reason: str) -> None:
    """Called by tier fixtures: the tier cannot run here (no Docker, no credentials)."""
    config.stash[grading_key].tier_reasons.setdefault(tier, reason)


def record_note(config: pytest.Config, text: str) -> None:
    """A note for the reports' "grader notes" section (evidence used, calls made...)."""
    notes = config.stash[grading_key].notes
    if text not in notes:
        notes.append(text)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash[grading_key]
    if (not state.active or session.config.option.collectonly
            or exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR)):
        return
    from grader.reports import write_reports  # jinja2 is only needed once grading ran

    results = list(state.results.values())
    for nodeid, reason in state.deselected.items():
        if nodeid not in state.results:
            results.append(CheckResult(nodeid=nodeid, name=nodeid.rsplit("::", 1)[-1],
                                       tier=state.tier_of[nodeid], outcome="skipped", message=reason))
    state.report = build_report(
        load_catalogue(),
        results,
        state.module_of,
        submission=_display_path(state.submission, session.config),
        tiers=state.tiers,
        lang=state.lang,
        started_at=state.started_at,
        duration_s=time.monotonic() - state.started,
        tier_reasons=state.tier_reasons,
        notes=state.notes,
    )
    state.report_paths = write_reports(state.report, state.report_dir)
    # Failed checks are the student's grade, not a failure of the run: exit 0 once the
    # report is written, unless --fail-under asks for a gate.
    threshold = session.config.getoption("fail_under")
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        failed_gate = threshold is not None and state.report.score < threshold
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed_gate else pytest.ExitCode.OK


def _display_path(path: Path, config: pytest.Config) -> str:
    try:
        return path.relative_to(config.rootpath).as_posix()
    except ValueError:
        return str(path)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash[grading_key]
    if state.report is None:
        return
    from grader.reports import render_terminal_summary

    terminalreporter.write(render_terminal_summary(state.report, state.report_paths))
