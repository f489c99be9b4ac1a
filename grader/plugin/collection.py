"""Which checks run: the markers of every checkpoint and tier, the tiers selected, their time limits;
the run's state made once the options are known."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import i18n
from grader.catalogue import CatalogueError, load_catalogue
from grader.plugin.options import check_markexpr, check_rootdir, check_stage, inside_project, use_sandbox
from grader.plugin.outcomes import ResultCollector
from grader.plugin.state import GradingState, check_module, grades, grading_key
from grader.project import CHECKS_DIR, DEFAULT_REPORT_DIR, DEFAULT_SUBMISSION, PROJECT
from grader.tiers.base import ALL, NAMES as TIER_NAMES, tier as tier_of


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "weight(n): weight of a check within its checkpoint (default 1)")
    config.addinivalue_line("markers", "stage(name): aws tier stage that this check verifies")
    try:
        catalogue = load_catalogue()
    except CatalogueError as error:
        raise pytest.UsageError(f"grader/catalogue.yaml: {error}") from error
    for checkpoint in catalogue.checkpoints:
        config.addinivalue_line("markers", f"{checkpoint.id}: {checkpoint.title('en')}")
    for tier in TIER_NAMES:
        config.addinivalue_line("markers", f"{tier}: the checks of the {tier} tier")

    lang = config.getoption("lang")
    check_rootdir(config, lang)
    tier = config.getoption("tier")
    check_stage(config, tier, lang)
    if tier == "sandbox":
        tier = use_sandbox(lang)
    invoked = Path(config.invocation_params.dir)
    # Defaults are the project's own folders wherever in the project pytest starts (student_template/
    # included); a path given on the command line is relative to where it was typed.
    base = PROJECT if inside_project(config) else invoked
    submission = config.getoption("submission")
    submission = (invoked / submission if submission is not None else base / DEFAULT_SUBMISSION.name).resolve()
    report_dir = config.getoption("report_dir")
    report_dir = (invoked / report_dir if report_dir is not None else base / DEFAULT_REPORT_DIR.name).resolve()
    state = GradingState(submission=submission, tiers=list(TIER_NAMES) if tier == ALL else [tier], lang=lang,
                         report_dir=report_dir)
    state.selection = bool(config.option.markexpr or config.option.keyword)
    config.stash[grading_key] = state
    config.pluginmanager.register(ResultCollector(state), "ecs-lab-results")
    # Everything the reports need is read now, before any student's code runs anywhere.
    from grader import reports

    reports.preload()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The checks of a tier that does not run are not even imported (the aws and local tiers' fixtures
    cost an offline run 0.3 s): the report takes what they would verify from the catalogue."""
    state = config.stash.get(grading_key, None)
    if state is not None and collection_path.parent == CHECKS_DIR and collection_path.name in TIER_NAMES \
            and collection_path.name not in state.tiers:
        return True
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return  # a pytest-xdist worker: the controller has checked
    check_markexpr(config, config.getoption("lang"))
    if grades(config):  # the pytest-xdist controller collects nothing: decide here as its workers do
        _feedback_instead_of_tracebacks(config)


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
        module = check_module(item)
        if module is None:
            keep.append(item)  # not a check: a project test
            continue
        if module not in by_module:
            raise pytest.UsageError(f"checks/{module} is not a check of any checkpoint (grader/catalogue.yaml)")
        tier, checkpoint = by_module[module]
        state.active = True
        item.add_marker(getattr(pytest.mark, checkpoint.id))
        item.add_marker(getattr(pytest.mark, tier))  # `-m local`: that tier's checks
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(tier_of(tier).check_timeout_s))
        (keep if tier in state.tiers else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    if state.active:
        if not state.submission.is_dir():
            raise pytest.UsageError(i18n.missing_submission(state.submission, state.lang))
        _check_report_dir(state)
        _feedback_instead_of_tracebacks(config)


def _feedback_instead_of_tracebacks(config: pytest.Config) -> None:
    if config.option.tbstyle == "auto":
        config.option.tbstyle = "no"  # the feedback is in the summary and the reports
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.reportchars = ""
