"""GitHub Classroom: the grading step of .github/workflows/classroom.yml, and the workflow itself.

    ecs-lab classroom [--submission student_template] [--report-dir reports]
                      [--repository DIR] [--workflow FILE]
    ecs-lab classroom-workflow --grader-url URL --grader-zip ZIP [--out FILE]

The workflow grades with a grader the student cannot change: the instructor's release (the zip
``ecs-lab gradescope-bundle`` writes, uploaded somewhere the runner can download it), pinned by
URL and SHA-256 in the workflow (``ecs-lab classroom-workflow`` writes both). The runner downloads
it, checks its hash, installs it with its own setup.sh as root (a venv in /opt, the grader readable
by root alone), then grades a folder holding only the student's two files, as root: bubblewrap
then works on a hosted ubuntu-24.04 runner (AppArmor restricts user namespaces to unprivileged
users only), the student's code runs as a user of its own, with Landlock and seccomp on top; the
report says which protections applied. The student's copy of grader/, checks/ and of the
workflow is never run: ``--repository`` compares it with the release and reports every change to
the instructor (summary, job page, ``protected-files.txt`` beside the reports). A student who
rewrites the workflow itself is not graded by this step at all: the grade of record is the
instructor's own ``ecs-lab grade`` of the Classroom clones (README, "Grading a class").

``classroom`` grades offline (grader.api, in this process: the step's only grading), shows the
grader's summary, then the grade under Gradescope's
default policy (what the offline tier cannot verify is left out of the total, the bonus counts on
top) and the line Classroom reads: ``Points X/Y``. Exit 0 once the report is written, whatever the
grade; non-zero with a message when it could not grade. In GitHub Actions it also writes the
summary to the job's page and ``points`` to the step's outputs.

Only the standard library at module level: ecs-lab builds its parser with this module.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from grader.project import PROJECT

REPORT_DIR_ENV = "ECS_LAB_REPORT_DIR"  # the workflow's report folder (also uploaded as an artifact)
WORKFLOW = Path(".github") / "workflows" / "classroom.yml"
PROTECTED = ("grader", "checks", "conftest.py", "pyproject.toml")  # never taken from the student's repository
PLACEHOLDER_URL = "https://example.invalid/lab8-grader.zip"  # the project's own copy: not pinned yet
PLACEHOLDER_SHA256 = "0" * 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--submission", type=Path, default=Path("student_template"), metavar="DIR",
                        help="dossier à noter (défaut : student_template)")
    parser.add_argument("--report-dir", type=Path, default=None, metavar="DIR",
                        help=f"dossier des rapports (défaut : ${REPORT_DIR_ENV}, sinon reports)")
    parser.add_argument("--repository", type=Path, default=None, metavar="DIR",
                        help="dépôt de l'étudiant : ses copies de grader/, checks/ et du workflow sont comparées à "
                             "la version de l'enseignant, chaque différence est signalée")
    parser.add_argument("--workflow", type=Path, default=None, metavar="FILE",
                        help=f"le workflow du dépôt (défaut : {WORKFLOW} du dépôt)")
    parser.add_argument("--release", type=Path, default=PROJECT, metavar="DIR",
                        help="les fichiers du correcteur de l'enseignant, auxquels --repository est comparé "
                             "(défaut : ceux du correcteur installé)")


def add_workflow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grader-url", required=True, metavar="URL",
                        help="où le runner télécharge le zip du correcteur (une release de l'enseignant)")
    parser.add_argument("--grader-zip", required=True, type=Path, metavar="ZIP",
                        help="ce zip (écrit par ecs-lab gradescope-bundle) : son SHA-256 est épinglé")
    parser.add_argument("--out", type=Path, default=WORKFLOW, metavar="FILE",
                        help=f"le workflow à écrire (défaut : {WORKFLOW})")


# --- The grading step -------------------------------------------------------------------------------


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
    from grader.api import Grading, GradingFailed, grade
    from grader.lms import gradescope

    sys.stdout.flush()
    try:
        report = grade(Grading(submission, tier="offline", lang=lang, report_dir=report_dir, options=("-q",)))
    except GradingFailed as failed:
        _error(lang, f"le correcteur n'a pas écrit de rapport (code de sortie {failed.exit_code}) : voir sa sortie "
                     "ci-dessus.",
               f"the grader wrote no report (exit status {failed.exit_code}): see its output above.")
        return failed.exit_code or 1
    policy = gradescope.DEFAULT_POLICY
    score, total = policy.score(report), policy.total(report)
    changes = protected_changes(args.repository, args.workflow, args.release) if args.repository else []
    print()
    if lang == "en":
        print(f"GitHub Classroom grade: {score:g}/{total:g} (out of the {total:g} points graded offline, "
              f"bonus {report.bonus_score:g} included; the other {report.max_score - total:g} points are "
              "verified by the local and aws tiers).")
    else:
        print(f"Note GitHub Classroom : {score:g}/{total:g} (notée sur les {total:g} points vérifiables hors "
              f"ligne, bonus de {report.bonus_score:g} compris ; les {report.max_score - total:g} autres points "
              "sont vérifiés par les tiers local et aws).")
    notice = _changes_text(changes, lang)
    if notice:
        print(notice)
        (report_dir / "protected-files.txt").write_text(notice + "\n", encoding="utf-8")
    print(f"Points {score:g}/{total:g}", flush=True)
    _github_outputs(report, policy, score, total, notice)
    return 0


def protected_changes(repository: Path, workflow: Path | None = None, release: Path = PROJECT) -> list[str]:
    """What the student's repository changed in the lab's protected files: grader/, checks/ and the top
    files (compared with the grader that grades, the instructor's release), and the workflow (compared
    with the one `classroom-workflow` writes for the release's URL and hash)."""
    repository = Path(repository)
    changes = []
    for name in PROTECTED:
        theirs, ours = _files(repository / name), _files(Path(release) / name)
        for relative in sorted(set(theirs) | set(ours)):
            shown = f"{name}/{relative}" if relative else name
            if relative not in ours:
                changes.append(f"+ {shown}")
            elif relative not in theirs:
                changes.append(f"- {shown}")
            elif theirs[relative] != ours[relative]:
                changes.append(f"~ {shown}")
    workflow = Path(workflow) if workflow else repository / WORKFLOW
    url, digest = os.environ.get("GRADER_URL", ""), os.environ.get("GRADER_SHA256", "")
    try:
        text = workflow.read_text(encoding="utf-8")
    except OSError:
        text = None
    if text is None:
        changes.append(f"- {WORKFLOW.as_posix()}")
    elif not url or text != workflow_text(url, digest):
        changes.append(f"~ {WORKFLOW.as_posix()}")
    return changes


def _files(path: Path) -> dict[str, str]:
    """relative path ('' for a file) -> SHA-256, caches and hidden files aside."""
    if path.is_file():
        return {"": hashlib.sha256(path.read_bytes()).hexdigest()}
    found = {}
    if path.is_dir():
        for file in sorted(path.rglob("*")):
            relative = file.relative_to(path)
            if file.is_file() and not any(p == "__pycache__" or p.startswith(".") for p in relative.parts):
                found[relative.as_posix()] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


def _changes_text(changes: list[str], lang: str) -> str:
    if not changes:
        return ""
    shown = "\n".join(f"  {c}" for c in changes[:50]) + (f"\n  … (+{len(changes) - 50})" if len(changes) > 50 else "")
    if lang == "en":
        return ("Flagged for the instructor: this repository changed files of the lab that grading never uses "
                "(+ added, - removed, ~ modified; the grade above comes from the instructor's grader):\n" + shown)
    return ("Signalé à l'enseignant : ce dépôt a modifié des fichiers du lab que la notation n'utilise jamais "
            "(+ ajouté, - supprimé, ~ modifié ; la note ci-dessus vient du correcteur de l'enseignant) :\n" + shown)


def _github_outputs(report, policy, score: float, total: float, notice: str) -> None:
    """In GitHub Actions: the step's outputs (points, score, max_score) and the job's summary page."""
    from grader.lms import gradescope

    try:
        if os.environ.get("GITHUB_OUTPUT"):
            with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
                out.write(f"points={score:g}/{total:g}\nscore={score:g}\nmax_score={total:g}\n")
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as out:
                out.write(gradescope.summary(report, policy) + "\n")
                if notice:
                    out.write("\n```\n" + notice + "\n```\n")
    except OSError as error:  # the grade is printed already: a summary page is a nicety
        print(f"GITHUB_OUTPUT / GITHUB_STEP_SUMMARY: {error}", file=sys.stderr)


def _error(lang: str, fr: str, en: str) -> None:
    print(f"Error: {en}" if lang == "en" else f"Erreur : {fr}", file=sys.stderr, flush=True)


# --- The workflow -------------------------------------------------------------------------------------


def run_workflow(args: argparse.Namespace, lang: str) -> int:
    """`ecs-lab classroom-workflow`: the workflow that grades with this release, pinned."""
    zip_path = Path(args.grader_zip).expanduser()
    if not zip_path.is_file():
        _error(lang, f"le zip du correcteur est introuvable : {zip_path} (écrivez-le avec ecs-lab gradescope-bundle).",
               f"the grader's zip is not there: {zip_path} (write it with ecs-lab gradescope-bundle).")
        return 2
    if not str(args.grader_url).startswith(("https://", "http://", "file://")):
        _error(lang, f"--grader-url doit être une URL (https://...), pas {args.grader_url!r}.",
               f"--grader-url must be a URL (https://...), not {args.grader_url!r}.")
        return 2
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(workflow_text(args.grader_url, digest), encoding="utf-8")
    print(_t(lang, f"Workflow écrit : {out} (correcteur {args.grader_url}, SHA-256 {digest}). Publiez ce zip à "
                   "cette adresse, puis poussez le workflow dans le dépôt modèle de la classe.",
             f"Workflow written: {out} (grader {args.grader_url}, SHA-256 {digest}). Publish that zip at that "
             "address, then push the workflow to the class's template repository."))
    return 0


def workflow_text(url: str, sha256: str) -> str:
    """The workflow, pinned to the grader at `url` whose zip has this SHA-256."""
    return f"""# GitHub Classroom: grades the student's two files offline at every push, with the instructor's
# grader (a release pinned by URL and SHA-256, written by `ecs-lab classroom-workflow`), never with the
# grader/ or checks/ of this repository: the summary reports any change to them or to this file.
# `ecs-lab classroom` prints the grader's summary and the line "Points X/Y" Classroom reads (out of the
# points the offline tier verifies, bonus on top); the four reports are uploaded as "lab8-reports".
name: Lab 8 - autograding

on:
  push:
  workflow_dispatch:

permissions:
  contents: read

jobs:
  grade:
    runs-on: ubuntu-24.04
    timeout-minutes: 20
    env:
      GRADER_URL: "{url}"
      GRADER_SHA256: "{sha256}"
      LAB8: /opt/lab8-grader
    steps:
      - uses: actions/checkout@v4

      - name: The instructor's grader (pinned release, hash checked)
        run: |
          set -euo pipefail
          if [ "$GRADER_URL" = "{PLACEHOLDER_URL}" ]; then
            echo "Le correcteur n'est pas épinglé : l'enseignant lance ecs-lab classroom-workflow. / The grader is not pinned: the instructor runs ecs-lab classroom-workflow." >&2
            exit 1
          fi
          curl -fsSL --retry 3 "$GRADER_URL" -o "$RUNNER_TEMP/lab8-grader.zip"
          echo "$GRADER_SHA256  $RUNNER_TEMP/lab8-grader.zip" | sha256sum --check --strict
          sudo mkdir -p "$LAB8/source"
          sudo python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$RUNNER_TEMP/lab8-grader.zip" "$LAB8/source"
          # Its own setup: Python, libseccomp, bubblewrap, a venv readable by all, the grader root's alone, a trial grade.
          sudo AUTOGRADER_ROOT="$LAB8" bash "$LAB8/source/setup.sh"

      - name: Grade
        id: grade
        run: |
          set -euo pipefail
          submission="$RUNNER_TEMP/lab8-submission"
          mkdir -p "$submission"
          for file in image_classifier_operations.py s3_io.py; do
            if [ -f "student_template/$file" ]; then cp "student_template/$file" "$submission/"; fi
          done
          # As root, with the grader setup.sh installed: bubblewrap works there, the student's code runs as a user
          # of its own (the report says what applied).
          # -I: never a module of this repository (its grader/ is the student's), only the installed grader.
          sudo --preserve-env=GITHUB_OUTPUT,GITHUB_STEP_SUMMARY,GRADER_URL,GRADER_SHA256 \\
            ECS_LAB_TIMESHIM_DIR="$LAB8/timeshim" "$LAB8/venv/bin/python" -I -m grader.lms.classroom \\
            --submission "$submission" --report-dir "$RUNNER_TEMP/lab8-reports" \\
            --repository "$GITHUB_WORKSPACE" --release "$LAB8/source"

      - name: Upload the reports
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: lab8-reports
          path: ${{{{ runner.temp }}}}/lab8-reports
          if-no-files-found: warn
"""


def _t(lang: str, fr: str, en: str) -> str:
    return en if lang == "en" else fr


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.lms.classroom`: the grading step, from the grader's own folder (the workflow)."""
    parser = argparse.ArgumentParser(prog="python -m grader.lms.classroom")
    add_arguments(parser)
    parser.add_argument("--lang", choices=("fr", "en"), default=os.environ.get("ECS_LAB_LANG", "fr"))
    args = parser.parse_args(argv)
    return run(args, args.lang)


if __name__ == "__main__":
    sys.exit(main())
