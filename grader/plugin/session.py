"""The end of a run: the report built from every check's result, written once, in every format."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from grader import i18n
from grader.catalogue import load_catalogue
from grader.plugin.state import PARTIAL_DIR, grading_key
from grader.plugin.terminal import replace_stats_line


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
    catalogue = load_catalogue()
    state.report = build_report(
        catalogue,
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
        lab_provided=set() if submission.changes_lab_files() else {
            c.id for c in catalogue.checkpoints if c.uses and set(c.uses) <= {"resources"}},
    )
    policy = Policy(ungraded=session.config.getoption("gradescope_ungraded"),
                    bonus=session.config.getoption("gradescope_bonus"))
    # A -m/-k selection grades a few checkpoints: its reports go beside the full ones, never over them.
    report_dir = state.report_dir / PARTIAL_DIR if state.selection else state.report_dir
    state.report_paths = write_reports(state.report, report_dir, policy)
    # Failed checks are the student's grade, not a failure of the run: exit 0 once the
    # report is written, unless --fail-under asks for a gate.
    threshold = session.config.getoption("fail_under")
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        failed_gate = threshold is not None and state.report.score < threshold
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed_gate else pytest.ExitCode.OK
    if state.run_failure:
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    state.exit_status = int(session.exitstatus)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        replace_stats_line(reporter, state, gate=threshold if exitstatus in (
            pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) else None)


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
