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
import difflib
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ecslab.facts import PROFILE, REGION
from grader import i18n
from grader.catalogue import CHECKS_DIR, TIERS, CatalogueError, load_catalogue
from grader.feedback import LANGUAGES, CheckFailed, NotGraded, Text

PROJECT = CHECKS_DIR.parent  # the project this grader belongs to
DEFAULT_SUBMISSION = "student_template"
DEFAULT_REPORT_DIR = "reports"
PARTIAL_DIR = "partial"  # where a -m/-k selection's reports go, beside the full ones
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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grading", "Lab 8 grading (see README)")
    group.addoption("--tier", choices=[*TIERS, "all", "sandbox"], default="offline",
                    help="which tier of checks to run (default: offline, on moto); sandbox: the aws tier "
                         "against the running `ecs-lab sandbox`")
    group.addoption("--submission", default=None, metavar="DIR",
                    help="directory of the submission to grade (default: student_template of the project)")
    group.addoption("--lang", choices=LANGUAGES, default=os.environ.get("ECS_LAB_LANG", "fr"),
                    help="language of the feedback (default: fr)")
    group.addoption("--report-dir", default=None, metavar="DIR",
                    help="where to write report.html, report.md, report.json and results.json (default: reports "
                         "of the project; a -m/-k selection writes into its partial/ folder)")
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
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: the checks of the {tier} tier")

    lang = config.getoption("lang")
    _check_rootdir(config, lang)
    tier = config.getoption("tier")
    _check_stage(config, tier, lang)
    if tier == "sandbox":
        tier = _use_sandbox(lang)
    invoked = Path(config.invocation_params.dir)
    # Defaults are the project's own folders wherever in the project pytest starts (student_template/
    # included); a path given on the command line is relative to where it was typed.
    base = PROJECT if _inside_project(config) else invoked
    submission = config.getoption("submission")
    submission = (invoked / submission if submission is not None else base / DEFAULT_SUBMISSION).resolve()
    report_dir = config.getoption("report_dir")
    report_dir = (invoked / report_dir if report_dir is not None else base / DEFAULT_REPORT_DIR).resolve()
    state = GradingState(submission=submission, tiers=list(TIERS) if tier == "all" else [tier], lang=lang,
                         report_dir=report_dir)
    state.selection = bool(config.option.markexpr or config.option.keyword)
    config.stash[grading_key] = state
    config.pluginmanager.register(ResultCollector(state), "ecs-lab-results")
    # Everything the reports need is read now, before any student's code runs anywhere.
    from grader import reports

    reports.preload()


# --- Guard rails: a misuse stops with one sentence (French, or English with --lang en) -------------


def _lang_of(namespace) -> str:
    lang = getattr(namespace, "lang", None) or os.environ.get("ECS_LAB_LANG", "fr")
    return lang if lang in LANGUAGES else "fr"


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _inside_project(config: pytest.Config) -> bool:
    """pytest started in this project (its root or a folder of it), and took it for its root."""
    return (_within(Path(config.invocation_params.dir).resolve(), PROJECT)
            and config.rootpath.resolve() == PROJECT)


_subfolder_key = pytest.StashKey[Path]()  # where pytest started, when graded as from the project root


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Before pytest collects anything: the grader must be this project's, and `pytest` typed in a
    folder of the project (student_template/, as the handout's Bonus 4 has students do) grades as
    from its root. pytest applies `testpaths` (checks/) only when started in its root directory;
    elsewhere it would collect that folder, and find nothing to grade."""
    namespace = early_config.known_args_namespace
    if getattr(namespace, "help", False) or getattr(namespace, "version", False):
        return
    lang = _lang_of(namespace)
    _check_same_project(early_config, lang)
    invoked = Path(early_config.invocation_params.dir).resolve()
    if (invoked == PROJECT or not _within(invoked, PROJECT) or early_config.rootpath.resolve() != PROJECT
            or namespace.file_or_dir or getattr(namespace, "pyargs", False)):
        return
    if _within(invoked, PROJECT / "tests") or _within(invoked, CHECKS_DIR):
        return  # the project's own tests, or one tier's checks: pytest collects that folder
    paths = [str(PROJECT / p) for p in early_config.getini("testpaths") or [CHECKS_DIR.name]]
    args[:0] = paths  # first: an option with an optional value (--cov) cannot take it
    namespace.file_or_dir = [*paths]
    early_config.stash[_subfolder_key] = invoked
    # `python -m pytest` put this folder first on sys.path: a boto3.py of the submission there would
    # shadow the scorer's own libraries. From the root it is not there either.
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != invoked]


def _check_same_project(config: pytest.Config, lang: str) -> None:
    """The grader imported (the installed plugin) must be the one of the project pytest runs in:
    another checkout's would grade with its own checks, and say nothing."""
    root = config.rootpath.resolve()
    if root == PROJECT or not (root / "grader" / "catalogue.yaml").is_file():
        return
    raise pytest.UsageError(Text(
        f"Ce pytest utilise le correcteur d'un autre projet : le paquet grader vient de {PROJECT}, mais pytest "
        f"tourne dans {root}. La note viendrait des vérifications de l'autre copie. Installez ce projet-ci "
        f"(dans {root} : python -m pip install -e .), puis relancez pytest.",
        f"This pytest uses the grader of another project: the grader package comes from {PROJECT}, but pytest "
        f"runs in {root}. The grade would come from the other copy's checks. Install this project "
        f"(in {root}: python -m pip install -e .), then run pytest again.")(lang))


def pytest_report_header(config: pytest.Config) -> str | None:
    invoked = config.stash.get(_subfolder_key, None)
    if invoked is None:
        return None
    where = invoked.relative_to(PROJECT).as_posix()
    return Text(f"ecs-lab : lancé depuis {where}/, noté comme depuis la racine du projet ({PROJECT}).",
                f"ecs-lab: started in {where}/, graded as from the project's root ({PROJECT}).")(
        config.getoption("lang"))


def _use_sandbox(lang: str) -> str:
    """--tier sandbox: the aws tier against the running sandbox, as after `eval "$(ecs-lab sandbox env)"`."""
    from standin.sandbox.home import Home, default_home

    home = Home(default_home())
    running = home.running()
    if running is None:
        raise pytest.UsageError(Text(
            f"--tier sandbox : le bac à sable ne tourne pas ({home.path}). Démarrez-le avec « ecs-lab sandbox up ».",
            f"--tier sandbox: the sandbox is not running ({home.path}). Start it with 'ecs-lab sandbox up'.")(lang))
    os.environ.update(home.environment(int(running["port"]), PROFILE, REGION, running))
    return "aws"


def _check_stage(config: pytest.Config, tier: str, lang: str) -> None:
    """--stage chooses what the aws tier verifies; any other tier would ignore it, silently."""
    stage = config.getoption("stage")
    given = stage != "all" or any(a == "--stage" or a.startswith("--stage=") for a in config.invocation_params.args)
    if given and tier not in ("aws", "all", "sandbox"):
        raise pytest.UsageError(Text(
            f"--stage {stage} ne s'applique qu'au tier aws : ajoutez --tier aws (ou --tier all), "
            f"ou retirez --stage (tier choisi : {tier}).",
            f"--stage {stage} applies to the aws tier only: add --tier aws (or --tier all), "
            f"or remove --stage (tier chosen: {tier}).")(lang))


def _grades(config: pytest.Config) -> bool:
    """This run collects checks (not only the project's own tests): decided from its paths, so that
    the pytest-xdist controller, which collects nothing, decides as its workers."""
    if config.option.pyargs:
        return False
    invoked = Path(config.invocation_params.dir)
    for arg in config.args:
        path = (invoked / arg.split("::", 1)[0]).resolve()
        if _within(path, CHECKS_DIR) or CHECKS_DIR in path.parents or _within(CHECKS_DIR, path):
            return True
    return False


def marker_names(expression: str) -> list[str] | None:
    """The names a -m expression tests (`a and not (b or c(x=1))` -> a, b, c), or None if pytest
    itself will refuse the expression (it says why)."""
    try:
        from _pytest.mark.expression import Scanner, TokenType
    except ImportError:  # pragma: no cover - pytest's inner module moved: pytest checks the syntax
        return None
    try:
        scanner = Scanner(expression)
        tokens = [scanner.current, *scanner.tokens]
    except SyntaxError:
        return None
    names, depth = [], 0
    for previous, token in zip([None, *tokens], tokens):
        if depth:  # inside a marker's keyword arguments: mark(name=value, ...)
            depth += {TokenType.LPAREN: 1, TokenType.RPAREN: -1}.get(token.type, 0)
        elif token.type == TokenType.LPAREN and previous is not None and previous.type == TokenType.IDENT:
            depth = 1
        elif token.type == TokenType.IDENT:
            names.append(token.value)
    return list(dict.fromkeys(names))


def _check_markexpr(config: pytest.Config, lang: str) -> None:
    """`-m task_defintion` would select no check and grade 0/100: every name of the expression must be
    a checkpoint, a tier or a marker pytest knows."""
    expression = config.option.markexpr
    if not expression or not _grades(config):
        return
    names = marker_names(expression)
    if not names:
        return
    ids = [c.id for c in load_catalogue().checkpoints]
    known = {*ids, *TIERS}
    for line in config.getini("markers"):
        known.add(line.split(":", 1)[0].split("(", 1)[0].strip())
    unknown = [n for n in names if n not in known]
    if not unknown:
        return
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, [*ids, *TIERS], n=1, cutoff=0.6)
        parts.append(Text(f"« {name} »" + (f" (vouliez-vous dire {close[0]} ?)" if close else ""),
                          f'"{name}"' + (f" (did you mean {close[0]}?)" if close else ""))(lang))
    listed, tiers, several = ", ".join(ids), ", ".join(TIERS), len(unknown) > 1
    every_one_close = all("(" in part for part in parts)
    what = Text("ne sont ni des points de contrôle, ni des tiers, ni des marqueurs connus" if several
                else "n'est ni un point de contrôle, ni un tier, ni un marqueur connu",
                "are neither checkpoints, tiers nor known markers" if several
                else "is neither a checkpoint, a tier nor a known marker")(lang)
    known_list = "" if every_one_close else Text(f" Points de contrôle : {listed} ; tiers : {tiers}.",
                                                 f" Checkpoints: {listed}; tiers: {tiers}.")(lang)
    raise pytest.UsageError(Text(
        f"-m {shlex.quote(expression)} : {', '.join(parts)} {what}. "
        f"Rien n'est noté, aucun rapport n'est écrit.{known_list}",
        f"-m {shlex.quote(expression)}: {', '.join(parts)} {what}. "
        f"Nothing is graded, no report is written.{known_list}")(lang))


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return  # a pytest-xdist worker: the controller has checked
    _check_markexpr(config, config.getoption("lang"))
    if _grades(config):  # the pytest-xdist controller collects nothing: decide here as its workers do
        _feedback_instead_of_tracebacks(config)


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
        item.add_marker(getattr(pytest.mark, tier))  # `-m local`: that tier's checks
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
        _feedback_instead_of_tracebacks(config)


def _feedback_instead_of_tracebacks(config: pytest.Config) -> None:
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
    if isinstance(error, NotGraded):
        return i18n.harness_error(error.reason(lang), lang)
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
        _replace_stats_line(reporter, state, gate=threshold if exitstatus in (
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


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash[grading_key]
    if state.report is None:
        return
    from grader.reports import render_terminal_summary

    terminalreporter.write(render_terminal_summary(state.report, state.report_paths))
    if state.selection:
        terminalreporter.write_line(_partial_line(config, state))


def _shown(path: Path, config: pytest.Config) -> str:
    """A path as the user would type it where pytest started."""
    try:
        return path.relative_to(Path(config.invocation_params.dir).resolve()).as_posix()
    except ValueError:
        return str(path)


def _selection_text(config: pytest.Config) -> str:
    parts = [f"{flag} {shlex.quote(value)}" for flag, value in
             (("-m", config.option.markexpr), ("-k", config.option.keyword)) if value]
    return " ".join(parts)


def _partial_line(config: pytest.Config, state: GradingState) -> str:
    selection = _selection_text(config)
    partial = _shown(state.report_dir / PARTIAL_DIR / "report.html", config)
    full = state.report_dir / "report.html"
    if full.is_file():
        return Text(
            f"Rapport partiel ({selection}) : {partial} ; le rapport complet {_shown(full, config)} "
            "n'est pas remplacé.",
            f"Partial report ({selection}): {partial}; the full report {_shown(full, config)} is not replaced.",
        )(state.lang)
    return Text(
        f"Rapport partiel ({selection}) : {partial} ; pas encore de rapport complet (lancez pytest sans -m ni -k "
        f"pour l'écrire dans {_shown(state.report_dir, config)}).",
        f"Partial report ({selection}): {partial}; no full report yet (run pytest without -m or -k to write "
        f"it in {_shown(state.report_dir, config)}).",
    )(state.lang)


def _replace_stats_line(reporter, state: GradingState, gate: float | None) -> None:
    """pytest's last line ("34 failed, 8 passed, 60 deselected, 11 errors in 3.31s") reads like a crash:
    a failed check is the student's grade. It becomes one line about the checks, then the --fail-under
    gate and its exit status. The project's own tests run in the same session keep pytest's line."""
    original = reporter.summary_stats
    others = any(getattr(report, "when", None) and report.nodeid not in state.results
                 for key, reports in reporter.stats.items() if key not in ("deselected", "warnings")
                 for report in reports)

    def summary_stats() -> None:
        if others:
            original()
        lang = state.lang
        if reporter.verbosity >= -1:
            line = _checks_line(state, reporter.config)
            outcomes = [r["outcome"] for r in state.results.values()]
            markup = {"green": True} if outcomes and set(outcomes) == {"passed"} else {"yellow": True}
            if reporter.verbosity >= 0:
                reporter.write_sep("=", line, **markup)
            else:
                reporter.write_line(line, **markup)
        if gate is not None and state.report is not None:
            reporter.write_line(_gate_line(state, gate, lang), bold=True)

    reporter.summary_stats = summary_stats


def _plural(count: int, word: str, lang: str) -> str:
    return f"{count} {word}" + ("s" if count > 1 or (lang == "en" and count == 0 and word == "check") else "")


def _checks_line(state: GradingState, config: pytest.Config) -> str:
    lang = state.lang
    outcomes = [r["outcome"] for r in state.results.values()]
    passed, failed = outcomes.count("passed"), outcomes.count("failed")
    not_graded = len(outcomes) - passed - failed
    seconds = i18n.number(time.monotonic() - state.started, lang, 1)
    if not outcomes and state.selection:
        return Text(f"Aucune vérification ne correspond à {_selection_text(config)} : rien n'est noté.",
                    f"No check matches {_selection_text(config)}: nothing is graded.")(lang)
    if lang == "en":
        return (f"{_plural(len(outcomes), 'check', lang)} in {seconds} s: {passed} passed, {failed} failed, "
                f"{not_graded} not graded (details and grade above)")
    return (f"{_plural(len(outcomes), 'vérification', lang)} en {seconds} s : {_plural(passed, 'réussie', lang)}, "
            f"{_plural(failed, 'échouée', lang)}, {not_graded} non notée{'s' if not_graded > 1 else ''} "
            "(le détail et la note sont ci-dessus)")


def _gate_line(state: GradingState, threshold: float, lang: str) -> str:
    report = state.report
    score = f"{i18n.number(report.score, lang, 2)}/{i18n.number(report.max_score, lang, 2)}"
    limit = i18n.number(threshold, lang, 2)
    below = report.score < threshold
    bonus = Text(" (sans le bonus)", " (bonus not included)")(lang) if report.bonus_score else ""
    why = f" ({state.run_failure})" if state.run_failure else ""  # exit 3: a tier could not run (CI)
    return Text(
        f"--fail-under={limit} : note {score}{bonus}, "
        + ("inférieure au seuil" if below else "au moins égale au seuil")
        + f" : code de sortie {state.exit_status}{why}.",
        f"--fail-under={limit}: score {score}{bonus}, "
        + ("below the threshold" if below else "at or above the threshold")
        + f": exit status {state.exit_status}{why}.",
    )(lang)


__all__ = ["GradingState", "grading_key", "record_flags", "record_note", "record_protections",
           "record_tier_unavailable"]
