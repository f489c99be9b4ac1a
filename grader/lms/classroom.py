"""``ecs-lab classroom``: GitHub Classroom's grading step (.github/workflows/classroom.yml).

    ecs-lab classroom [--submission student_template] [--report-dir reports]

Grades the submission offline (``python -m pytest --submission=... --report-dir=...`` from the
project's root, in a subprocess), shows the grader's summary, then the grade under Gradescope's
default policy (grader.lms.gradescope: what the offline tier cannot verify is left out of the
total, the bonus counts on top) and the line Classroom reads: ``Points X/Y``. Exit 0 once the
report is written, whatever the grade; non-zero with a message when it could not grade.
In GitHub Actions it also writes the summary to the job's page and ``points`` to the step's outputs.

Only the standard library at module level: ecs-lab builds its parser with this module.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
REPORT_DIR_ENV = "ECS_LAB_REPORT_DIR"  # the workflow's report folder (also uploaded as an artifact)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--submission", type=Path, default=Path("student_template"), metavar="DIR",
                        help="dossier à noter (défaut : student_template)")
    parser.add_argument("--report-dir", type=Path, default=None, metavar="DIR",
                        help=f"dossier des rapports (défaut : ${REPORT_DIR_ENV}, sinon reports)")


def run(args: argparse.Namespace, lang: str) -> int:
    submission = Path(args.submission).expanduser().resolve()
    report_dir = Path(args.report_dir or os.environ.get(REPORT_DIR_ENV) or "reports").expanduser().resolve()
    if not submission.is_dir():
        _error(lang, f"le dossier à noter n'existe pas : {submission} (option --submission).",
               f"the submission folder does not exist: {submission} (option --submission).")
        return 2
    if report_dir == submission or submission in report_dir.parents:
        _error(lang, f"le dossier des rapports ({report_dir}) est dans le dossier noté : choisissez un "
                     "--report-dir hors du rendu.",
               f"the report folder ({report_dir}) is inside the graded folder: choose a --report-dir outside "
               "the submission.")
        return 2
    command = [sys.executable, "-m", "pytest", f"--submission={submission}", f"--report-dir={report_dir}",
               "--tier=offline", f"--lang={lang}", "-p", "no:cacheprovider", "-q"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    started = time.time()
    sys.stdout.flush()
    try:
        returncode = subprocess.run(command, cwd=PROJECT, env={**env, "ECS_LAB_LANG": lang},
                                    stdin=subprocess.DEVNULL, check=False).returncode
    except OSError as error:
        _error(lang, f"impossible de lancer le correcteur : {error}", f"cannot start the grader: {error}")
        return 1
    report_file = report_dir / "report.json"
    try:
        if report_file.stat().st_mtime < started - 1:
            raise FileNotFoundError(report_file)
        data = json.loads(report_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        _error(lang, f"le correcteur n'a pas écrit de rapport (code de sortie {returncode}) : voir sa sortie "
                     "ci-dessus.",
               f"the grader wrote no report (exit status {returncode}): see its output above.")
        return returncode or 1
    from grader.lms import gradescope

    report = gradescope.load_report(data)
    policy = gradescope.DEFAULT_POLICY
    score, total = policy.score(report), policy.total(report)
    print()
    if lang == "en":
        print(f"GitHub Classroom grade: {score:g}/{total:g} (out of the {total:g} points graded offline, "
              f"bonus {report.bonus_score:g} included; the other {report.max_score - total:g} points are "
              "verified by the local and aws tiers).")
    else:
        print(f"Note GitHub Classroom : {score:g}/{total:g} (notée sur les {total:g} points vérifiables hors "
              f"ligne, bonus de {report.bonus_score:g} compris ; les {report.max_score - total:g} autres points "
              "sont vérifiés par les tiers local et aws).")
    print(f"Points {score:g}/{total:g}", flush=True)
    _github_outputs(report, policy, score, total)
    return 0


def _github_outputs(report, policy, score: float, total: float) -> None:
    """In GitHub Actions: the step's outputs (points, score, max_score) and the job's summary page."""
    from grader.lms import gradescope

    try:
        if os.environ.get("GITHUB_OUTPUT"):
            with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
                out.write(f"points={score:g}/{total:g}\nscore={score:g}\nmax_score={total:g}\n")
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as out:
                out.write(gradescope.summary(report, policy) + "\n")
    except OSError as error:  # the grade is printed already: a summary page is a nicety
        print(f"GITHUB_OUTPUT / GITHUB_STEP_SUMMARY: {error}", file=sys.stderr)


def _error(lang: str, fr: str, en: str) -> None:
    print(f"Error: {en}" if lang == "en" else f"Erreur : {fr}", file=sys.stderr, flush=True)
