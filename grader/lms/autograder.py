"""What Gradescope's ``run_autograder`` runs (grader.lms.gradescope_bundle writes the script):

    python -m grader.lms.autograder --root /autograder --lang fr --ungraded exclude --bonus count

Grades the folder of ``ROOT/submission`` that holds the student's files (they may be nested,
``lab8/student_template/s3_io.py``: grader.batch.discover chooses the folder) with the offline
tier, from the suite's source (this file's project, ``ROOT/source``), and writes Gradescope's
``ROOT/results/results.json``. Whatever happens (no student file, the grader fails or runs out of
time) a results.json is written: score 0 and the reason, in the run's language. The grader's
own output goes to standard output, which Gradescope shows the instructor only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from grader import i18n
from grader.feedback import LANGUAGES, Text
from grader.lms import gradescope

PROJECT = Path(__file__).resolve().parents[2]
REPORTS = "ecs-lab"  # ROOT/results/ecs-lab/: the four reports of the run
DEFAULT_TIMEOUT_S = 480  # Gradescope's own limit is 10 minutes by default: leave time to write results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.lms.autograder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    parser.add_argument("--lang", choices=LANGUAGES, default=os.environ.get("ECS_LAB_LANG", "fr"))
    parser.add_argument("--ungraded", choices=gradescope.UNGRADED_POLICIES, default=gradescope.EXCLUDE)
    parser.add_argument("--bonus", choices=gradescope.BONUS_POLICIES, default=gradescope.COUNT)
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("ECS_LAB_TIMEOUT", DEFAULT_TIMEOUT_S)))
    args = parser.parse_args(argv)
    run = AutograderRun(args.root, args.lang, gradescope.Policy(args.ungraded, args.bonus), args.timeout)
    run.grade()
    return 0


class AutograderRun:
    """One submission, from Gradescope's folders to its results.json."""

    def __init__(self, root: Path, lang: str, policy: gradescope.Policy, timeout_s: float) -> None:
        self.root, self.lang, self.policy, self.timeout_s = root, lang, policy, timeout_s
        self.submission = root / "submission"
        self.results = root / "results" / "results.json"
        self.report_dir = root / "results" / REPORTS
        self.started = time.monotonic()

    def grade(self) -> None:
        self.results.parent.mkdir(parents=True, exist_ok=True)
        print(f"ecs-lab autograder: source {PROJECT}, submission {self.submission}, policy {self.policy}", flush=True)
        try:
            folder = self._find_folder()
            if folder is None:
                self._fail(_no_files(self.lang))
                return
            self._run_grader(folder)
        except Exception as error:  # noqa: BLE001 - Gradescope must never be left without results
            print(f"ecs-lab autograder: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            self._fail(_grader_failed(type(error).__name__, self.lang))

    def _find_folder(self) -> Path | None:
        from grader.batch.discover import find_submission_files

        if not self.submission.is_dir():
            return None
        folder, files = find_submission_files(self.submission)
        print(f"ecs-lab autograder: graded folder {folder}, files {[str(f) for f in files]}", flush=True)
        return folder

    def _run_grader(self, folder: Path) -> None:
        graded = self.report_dir / "results.json"
        graded.unlink(missing_ok=True)
        command = [sys.executable, "-m", "pytest", f"--submission={folder}", f"--report-dir={self.report_dir}",
                   "--tier=offline", f"--lang={self.lang}", f"--gradescope-ungraded={self.policy.ungraded}",
                   f"--gradescope-bonus={self.policy.bonus}", "-p", "no:cacheprovider", "-q"]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PYTEST_") and k not in ("AUTOGRADER_ROOT", "ECS_LAB_PYTHON")}
        process = subprocess.Popen(command, cwd=PROJECT, env={**env, "ECS_LAB_LANG": self.lang},
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            returncode = process.wait(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            self._fail(_timed_out(self.timeout_s, self.lang))
            return
        finally:
            _kill_group(process)  # nothing the grader started outlives it
        try:
            data = json.loads(graded.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._fail(_grader_failed(f"exit {returncode}", self.lang))
            return
        shown = _relative(folder, self.submission)
        label = Text("Dossier noté", "Graded folder")(self.lang)
        data["output"] = f"{label}{i18n.colon(self.lang)}{gradescope.md(shown)}\n\n{data.get('output', '')}"
        self._write(data)

    def _fail(self, message: str) -> None:
        data = gradescope.failure_results(message, self.lang, self.policy,
                                          duration_s=time.monotonic() - self.started)
        self._write(data)

    def _write(self, data: dict) -> None:
        tmp = self.results.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.results)
        print(f"ecs-lab autograder: wrote {self.results} (score {data.get('score')})", flush=True)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _relative(folder: Path, root: Path) -> str:
    try:
        relative = folder.relative_to(root).as_posix()
    except ValueError:
        return str(folder)
    return "." if relative in ("", ".") else relative


# --- What the student reads when nothing could be graded ------------------------------------------


def _no_files(lang: str) -> str:
    return Text(
        "Aucun fichier à noter : image_classifier_operations.py et s3_io.py sont introuvables dans votre "
        "dépôt (dossiers compris). Déposez ces deux fichiers, seuls ou dans leur dossier, puis soumettez "
        "à nouveau.",
        "Nothing to grade: image_classifier_operations.py and s3_io.py were not found in your upload "
        "(folders included). Upload these two files, alone or in their folder, then submit again.",
    )(lang)


def _grader_failed(detail: str, lang: str) -> str:
    return Text(
        f"Le correcteur n'a pas pu noter ce dépôt ({detail}) : ce n'est pas forcément de votre fait. "
        "Prévenez l'enseignant, qui voit le détail dans la sortie de l'autograder ; ce 0 sera revu.",
        f"The grader could not grade this upload ({detail}): this is not necessarily your doing. "
        "Tell the instructor, who sees the details in the autograder's output; this 0 will be reviewed.",
    )(lang)


def _timed_out(seconds: float, lang: str) -> str:
    return Text(
        f"Le correcteur n'a pas terminé en {seconds:g} s : votre code boucle-t-il sans fin, ou attend-il "
        "sans limite de temps ? Prévenez l'enseignant si ce n'est pas le cas ; ce 0 sera revu.",
        f"The grader did not finish in {seconds:g} s: does your code loop forever, or wait without a time "
        "limit? Tell the instructor if it does not; this 0 will be reviewed.",
    )(lang)


if __name__ == "__main__":
    sys.exit(main())
