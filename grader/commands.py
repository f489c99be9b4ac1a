"""The instructor's commands of ``ecs-lab`` (the lab's own commands are in ecslab/cli.py):

    ecs-lab grade SUBMISSION... [-j N] [--tier T] [--timeout S] [--out DIR] [--regrade ID...]
    ecs-lab gradescope-bundle OUT.zip [--ungraded exclude|zero] [--bonus count|ignore]
    ecs-lab classroom [--submission DIR]

Only argparse here: each command's module is imported when the command runs, so that the
lab's commands start as fast as before.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

TIERS = ("offline", "local", "aws", "all")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the instructor's commands to ``ecs-lab``'s sub-parsers."""
    p = sub.add_parser(
        "grade", parents=[common],
        help="noter une classe : des dossiers, des zips, ou des dossiers de ceux-ci (export Gradescope, "
             "clones GitHub Classroom)")
    p.add_argument("submissions", nargs="+", type=Path, metavar="RENDU",
                   help="un rendu (dossier ou .zip) ou un dossier de rendus")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                   help="rendus notés en parallèle (défaut : le nombre de processeurs)")
    p.add_argument("--tier", choices=TIERS, default="offline", help="tier des vérifications (défaut : offline)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="limite par rendu, en secondes (défaut : 180 offline, 1800 local, 900 aws)")
    p.add_argument("--out", type=Path, default=Path("class-grades"), metavar="DIR",
                   help="dossier des rapports, de grades.csv et de class-report.html (défaut : class-grades)")
    p.add_argument("--regrade", nargs="+", action="extend", default=[], metavar="ID",
                   help="renoter ces rendus même si leurs fichiers n'ont pas changé ('all' : tous)")
    p.add_argument("--no-progress", action="store_true", help="sans barre de progression")
    p.set_defaults(handler=_run("grader.batch.cli"))

    from grader.lms import classroom, gradescope_bundle

    p = sub.add_parser("gradescope-bundle", parents=[common],
                       help="écrire l'autograder Gradescope (setup.sh, run_autograder) dans un zip")
    gradescope_bundle.add_arguments(p)
    p.set_defaults(handler=_run("grader.lms.gradescope_bundle"))

    p = sub.add_parser("classroom", parents=[common],
                       help="GitHub Classroom : noter hors ligne et afficher la ligne « Points X/Y »")
    classroom.add_arguments(p)
    p.set_defaults(handler=_run("grader.lms.classroom"))


def _run(module: str):
    """A handler for ecslab.cli: `module.run(args, lang) -> exit status`, imported when it runs."""

    def handler(ctx: Any) -> int:
        import importlib

        return importlib.import_module(module).run(ctx.args, ctx.args.lang)

    return handler
