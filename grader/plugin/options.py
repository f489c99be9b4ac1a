"""The grading options, and the guard rails: a misuse stops with one sentence (French, or English with
--lang en), before anything is graded or written."""

from __future__ import annotations

import difflib
import os
import shlex
import sys
from pathlib import Path

import pytest

from ecslab.facts import PROFILE, REGION
from grader import i18n
from grader.catalogue import load_catalogue
from grader.feedback import LANGUAGES, Text
from grader.plugin.state import grades, within
from grader.project import CHECKS_DIR, PROJECT
from grader.tiers.aws.stages import STAGES
from grader.tiers.base import ALL, NAMES as TIER_NAMES


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grading", "Lab 8 grading (see README)")
    group.addoption("--tier", choices=[*TIER_NAMES, ALL, "sandbox"], default="offline",
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


def _lang_of(namespace) -> str:
    lang = getattr(namespace, "lang", None) or os.environ.get("ECS_LAB_LANG", "fr")
    return lang if lang in LANGUAGES else "fr"


def inside_project(config: pytest.Config) -> bool:
    """pytest started in this project (its root or a folder of it), and took it for its root."""
    return (within(Path(config.invocation_params.dir).resolve(), PROJECT)
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
    if (invoked == PROJECT or not within(invoked, PROJECT) or early_config.rootpath.resolve() != PROJECT
            or namespace.file_or_dir or getattr(namespace, "pyargs", False)):
        return
    if within(invoked, PROJECT / "tests") or within(invoked, CHECKS_DIR):
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


def use_sandbox(lang: str) -> str:
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


def check_stage(config: pytest.Config, tier: str, lang: str) -> None:
    """--stage chooses what the aws tier verifies; any other tier would ignore it, silently."""
    stage = config.getoption("stage")
    given = stage != "all" or any(a == "--stage" or a.startswith("--stage=") for a in config.invocation_params.args)
    if given and tier not in ("aws", "all", "sandbox"):
        raise pytest.UsageError(Text(
            f"--stage {stage} ne s'applique qu'au tier aws : ajoutez --tier aws (ou --tier all), "
            f"ou retirez --stage (tier choisi : {tier}).",
            f"--stage {stage} applies to the aws tier only: add --tier aws (or --tier all), "
            f"or remove --stage (tier chosen: {tier}).")(lang))


def check_rootdir(config: pytest.Config, lang: str) -> None:
    """`--submission /tmp/x` makes pytest take /tmp/x for its root directory (it decides the
    root before plugins parse their options), and then it would collect the submission's own
    test files. Refuse, and say how to write it."""
    project = PROJECT
    separate = [a for a in config.invocation_params.args if a in ("--submission", "--report-dir")]
    invoked_in_project = project in {Path(config.invocation_params.dir).resolve(),
                                     *Path(config.invocation_params.dir).resolve().parents}
    if separate and invoked_in_project and config.rootpath.resolve() != project:
        raise pytest.UsageError(i18n.option_needs_equals(separate[0], lang))


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


def check_markexpr(config: pytest.Config, lang: str) -> None:
    """`-m task_defintion` would select no check and grade 0/100: every name of the expression must be
    a checkpoint, a tier or a marker pytest knows."""
    expression = config.option.markexpr
    if not expression or not grades(config):
        return
    names = marker_names(expression)
    if not names:
        return
    ids = [c.id for c in load_catalogue().checkpoints]
    known = {*ids, *TIER_NAMES}
    for line in config.getini("markers"):
        known.add(line.split(":", 1)[0].split("(", 1)[0].strip())
    unknown = [n for n in names if n not in known]
    if not unknown:
        return
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, [*ids, *TIER_NAMES], n=1, cutoff=0.6)
        parts.append(Text(f"« {name} »" + (f" (vouliez-vous dire {close[0]} ?)" if close else ""),
                          f'"{name}"' + (f" (did you mean {close[0]}?)" if close else ""))(lang))
    listed, tiers, several = ", ".join(ids), ", ".join(TIER_NAMES), len(unknown) > 1
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
