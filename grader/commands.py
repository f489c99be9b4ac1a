"""The instructor's commands of ``ecs-lab`` (the lab's own commands are in ecslab/cli.py):

    ecs-lab grade SUBMISSION... [-j N] [--tier T] [--timeout S] [--out DIR] [--regrade ID...]
                  [--on ecs [--tasks N] [--cpu VCPU] [--memory MB] [--dry-run]]
    ecs-lab gradescope-bundle OUT.zip [--ungraded exclude|zero] [--bonus count|ignore]
    ecs-lab classroom [--submission DIR] [--repository DIR]
    ecs-lab classroom-workflow --grader-url URL --grader-zip ZIP [--out FILE]

Only argparse here: each command's module is imported when the command runs, so that the
lab's commands start as fast as before.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from grader.tiers.base import ALL, NAMES
from grader.tiers.base import TIERS as TIER_LIST

TIERS = (*NAMES, ALL)


def register(sub: Any, common: argparse.ArgumentParser, lang: str = "fr") -> None:
    """Add the instructor's commands to ``ecs-lab``'s sub-parsers, their help in `lang`."""

    def t(fr: str, en: str) -> str:
        return en if lang == "en" else fr

    help_text = t("noter une classe : des dossiers, des zips, ou des dossiers de ceux-ci (export Gradescope, "
                  "clones GitHub Classroom)",
                  "grade a class: folders, zips, or folders of those (a Gradescope export, GitHub Classroom "
                  "clones)")
    p = sub.add_parser("grade", parents=[common], help=help_text, description=help_text)
    limits = ", ".join(f"{t.submission_timeout_s:g} {t.name}" for t in TIER_LIST)
    p.add_argument("submissions", nargs="+", type=Path, metavar=t("RENDU", "SUBMISSION"),
                   help=t("un rendu (dossier ou .zip) ou un dossier de rendus",
                          "a submission (folder or .zip) or a folder of submissions"))
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                   help=t("rendus notés en parallèle (défaut : le nombre de processeurs)",
                          "submissions graded in parallel (default: the number of CPUs)"))
    p.add_argument("--tier", choices=TIERS, default="offline",
                   help=t("tier des vérifications (défaut : offline)", "tier of the checks (default: offline)"))
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help=t(f"limite par rendu, en secondes (défaut : {limits})", f"time limit per submission, in seconds "
                          f"(default: {limits})"))
    p.add_argument("--out", type=Path, default=Path("class-grades"), metavar="DIR",
                   help=t("dossier des rapports, de grades.csv et de class-report.html (défaut : class-grades)",
                          "folder of the reports, grades.csv and class-report.html (default: class-grades)"))
    p.add_argument("--regrade", nargs="+", action="extend", default=[], metavar="ID",
                   help=t("renoter ces rendus même si leurs fichiers n'ont pas changé ('all' : tous)",
                          "grade these submissions again even if their files did not change ('all': every one)"))
    p.add_argument("--no-progress", action="store_true",
                   help=t("sans barre de progression", "without a progress bar"))
    ecs = p.add_argument_group(t("sur ECS (--on ecs ; --profile et --region choisissent le compte)",
                                 "on ECS (--on ecs; --profile and --region choose the account)"))
    ecs.add_argument("--on", choices=("local", "ecs"), default="local",
                     help=t("où noter : cette machine (défaut) ou des tâches Fargate (pile ecs-lab-grading, créée si "
                            "absente ; avec le profil du bac à sable, sur `ecs-lab sandbox`)",
                            "where to grade: this machine (default) or Fargate tasks (stack ecs-lab-grading, created "
                            "when missing; with the sandbox's profile, on `ecs-lab sandbox`)"))
    ecs.add_argument("--tasks", type=int, default=4, metavar="N",
                     help=t("tâches Fargate en parallèle (défaut : 4)", "Fargate tasks in parallel (default: 4)"))
    ecs.add_argument("--cpu", type=float, default=1.0, metavar="VCPU",
                     help=t("vCPU par tâche (défaut : 1)", "vCPU per task (default: 1)"))
    ecs.add_argument("--memory", type=int, default=2048, metavar="MB",
                     help=t("mémoire par tâche, en Mo (défaut : 2048)", "memory per task, in MB (default: 2048)"))
    ecs.add_argument("--dry-run", action="store_true",
                     help=t("vérifier le compte, la pile et l'image, afficher le coût estimé, et s'arrêter là",
                            "check the account, the stack and the image, print the estimated cost, and stop there"))
    p.set_defaults(handler=_grade)

    from grader.lms import classroom, gradescope_bundle

    help_text = t("écrire l'autograder Gradescope (setup.sh, run_autograder) dans un zip",
                  "write the Gradescope autograder (setup.sh, run_autograder) into a zip")
    p = sub.add_parser("gradescope-bundle", parents=[common], help=help_text, description=help_text)
    gradescope_bundle.add_arguments(p)
    _in_english(p, lang, {
        "out": "the zip to write (to upload to Gradescope)",
        "ungraded": gradescope_bundle.ungraded_help("en"),
        "bonus": "bonus: added on top of the total (count, default) or shown without counting (ignore)",
    })
    p.set_defaults(handler=_run("grader.lms.gradescope_bundle"))

    help_text = t("GitHub Classroom : noter hors ligne et afficher la ligne « Points X/Y »",
                  "GitHub Classroom: grade offline and print the line \"Points X/Y\"")
    p = sub.add_parser("classroom", parents=[common], help=help_text, description=help_text)
    classroom.add_arguments(p)
    _in_english(p, lang, {
        "submission": "folder to grade (default: student_template)",
        "report_dir": f"folder of the reports (default: ${classroom.REPORT_DIR_ENV}, else reports)",
        "repository": "the student's repository: its copies of grader/, checks/ and of the workflow are compared "
                      "with the instructor's, every difference is flagged",
        "workflow": f"the repository's workflow (default: its {classroom.WORKFLOW})",
        "release": "the instructor's grader files --repository is compared with (default: the installed grader's)",
    })
    p.set_defaults(handler=_run("grader.lms.classroom"))

    help_text = t("GitHub Classroom : écrire le workflow qui note avec votre correcteur (zip épinglé par URL et SHA-256)",
                  "GitHub Classroom: write the workflow that grades with your grader (a zip pinned by URL and SHA-256)")
    p = sub.add_parser("classroom-workflow", parents=[common], help=help_text, description=help_text)
    classroom.add_workflow_arguments(p)
    _in_english(p, lang, {
        "grader_url": "where the runner downloads the grader's zip (an instructor's release)",
        "grader_zip": "that zip (written by ecs-lab gradescope-bundle): its SHA-256 is pinned",
        "out": f"the workflow to write (default: {classroom.WORKFLOW})",
    })
    p.set_defaults(handler=_run_function("grader.lms.classroom", "run_workflow"))


def _in_english(parser: argparse.ArgumentParser, lang: str, english: dict[str, str]) -> None:
    """The English help of arguments whose module (grader/lms/) writes it in French only."""
    if lang != "en":
        return
    for action in parser._actions:  # argparse keeps them there; an action's help is a plain attribute
        if action.dest in english:
            action.help = english[action.dest]


def _grade(ctx: Any) -> int:
    """`ecs-lab grade`: on this machine (grader.batch.cli), or on ECS (grader.ecs.cli, a batch whose jobs
    Fargate tasks grade)."""
    module = "grader.ecs.cli" if getattr(ctx.args, "on", "local") == "ecs" else "grader.batch.cli"
    return _run(module)(ctx)


def _run(module: str):
    """A handler for ecslab.cli: `module.run(args, lang) -> exit status`, imported when it runs."""
    return _run_function(module, "run")


def _run_function(module: str, function: str):
    """A handler for ecslab.cli: `module.function(args, lang) -> exit status`, imported when it runs."""

    def handler(ctx: Any) -> int:
        import importlib

        return getattr(importlib.import_module(module), function)(ctx.args, ctx.args.lang)

    return handler
