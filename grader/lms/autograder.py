"""What Gradescope's ``run_autograder`` runs (grader.lms.gradescope_bundle writes the script):

    python -m grader.lms.autograder --root /autograder --lang fr --ungraded exclude --bonus count

Grades the folder of ``ROOT/submission`` that holds the student's files (they may be nested,
``lab8/student_template/s3_io.py``: grader.batch.discover chooses the folder) with the offline
tier, with the grader setup.sh installed (grader.api, in a child of its own with a time limit:
grader.runner), and writes Gradescope's ``ROOT/results/results.json``. Whatever happens (no student file, the grader fails or runs out of
time) a results.json is written: score 0 and the reason, in the run's language. The grader's
own output goes to standard output, which Gradescope shows the instructor only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import sys
import time
from pathlib import Path

from grader import i18n
from grader.feedback import LANGUAGES, Text
from grader.lms import gradescope
from grader.project import LAB_RESOURCES, PROJECT
from grader.worker.process import become_subreaper

REPORTS = "ecs-lab"  # ROOT/results/ecs-lab/: the four reports of the run
DEFAULT_TIMEOUT_S = 480  # Gradescope's own limit is 10 minutes by default: leave time to write results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.lms.autograder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    parser.add_argument("--lang", choices=LANGUAGES, default=os.environ.get("ECS_LAB_LANG", "fr"))
    parser.add_argument("--ungraded", choices=gradescope.UNGRADED_POLICIES, default=gradescope.EXCLUDE)
    parser.add_argument("--bonus", choices=gradescope.BONUS_POLICIES, default=gradescope.COUNT)
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("ECS_LAB_TIMEOUT", DEFAULT_TIMEOUT_S)))
    parser.add_argument("--prepare", action="store_true",
                        help="setup.sh: do once what every grading run would otherwise redo, then grade the "
                             "template as a trial (its score and how the code ran are printed)")
    parser.add_argument("--template", type=Path, default=PROJECT / "student_template",
                        help="--prepare: the lab's template, graded as a trial")
    args = parser.parse_args(argv)
    if args.prepare:
        return prepare(args.lang, args.template)
    run = AutograderRun(args.root, args.lang, gradescope.Policy(args.ungraded, args.bonus), args.timeout)
    run.grade()
    return 0


def prepare(lang: str, template: Path) -> int:
    """Gradescope builds its image once (setup.sh) and grades every submission in a fresh container of
    it: what a first run would compute and keep must be in the image. The cfn-lint verdicts of the lab's
    own templates (cfn-lint is the scorer's largest memory cost: a run that finds them cached never loads
    it), then a trial grade of the template, which must run to the end."""
    from grader.judges.cfn_lint import cfn_lint_errors

    for path in sorted(LAB_RESOURCES.glob("*.yaml")):
        errors = cfn_lint_errors(path)
        print(f"ecs-lab autograder: cfn-lint {path.name}: {len(errors)} error(s), verdict cached", flush=True)
    if not template.is_dir():
        return 0
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ecs-lab-prepare-") as folder:
        root = Path(folder)
        shutil.copytree(template, root / "submission")
        AutograderRun(root, lang, gradescope.DEFAULT_POLICY, DEFAULT_TIMEOUT_S).grade()
        try:
            data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            print("ecs-lab autograder: the trial grade wrote no results", file=sys.stderr, flush=True)
            return 1
    graded = data.get("extra_data", {}).get("graded", True)
    print(f"ecs-lab autograder: trial grade of the template: {data.get('score')} / {data.get('max_score')}"
          f"{'' if graded else ' (NOT GRADED: see above)'}", flush=True)
    for line in data.get("extra_data", {}).get("protections", []):
        print(f"  - {line}", flush=True)
    return 0 if graded else 1


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
        become_subreaper()  # whatever the grader leaves behind comes back here, to be ended
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
        from grader.api import Grading
        from grader.runner import grade_in_child

        grading = Grading.under(self.policy, folder, tier="offline", lang=self.lang, report_dir=self.report_dir)
        try:
            finished = grade_in_child(grading, timeout_s=self.timeout_s)
        finally:
            _end_leftovers()  # nothing the grader started outlives it
            # The largest process of the run (the scorer): what a container's memory limit must hold.
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"ecs-lab autograder: peak memory of the grading run: {peak:.0f} MiB", flush=True)
        if finished.exit_code is None:
            self._fail(_timed_out(self.timeout_s, self.lang))
            return
        if finished.report is None:
            self._fail(_grader_failed(_how_it_ended(finished.exit_code, self.lang), self.lang))
            return
        data = gradescope.results(gradescope.load_report(finished.report), self.policy)
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


def _how_it_ended(returncode: int, lang: str) -> str:
    """'exit 3', or the signal that killed it, named ('SIGKILL: memory exhausted?')."""
    if returncode >= 0:
        return Text(f"code de sortie {returncode}", f"exit status {returncode}")(lang)
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    if name == "SIGKILL":
        return Text("tué par SIGKILL : mémoire du conteneur épuisée ?", "killed by SIGKILL: the container's memory "
                    "exhausted?")(lang)
    return Text(f"tué par le signal {name}", f"killed by signal {name}")(lang)


def _end_leftovers() -> None:
    """Kill what the run left (a student's process that escaped its worker, a worker whose scorer died)
    and reap every child: under a PID 1 that does not reap (a container's shell), nothing stays defunct."""
    for _ in range(50):
        leftovers = _descendants(os.getpid()) | (_worker_users() if os.getuid() == 0 else set())
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not leftovers:
            return
        time.sleep(0.01)


def _descendants(root: int) -> set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process(root).children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}
    except psutil.Error:
        return set()


def _worker_users() -> set[int]:
    """Live processes of the workers' own users (grader.worker.sandbox.UID_RANGE)."""
    import psutil

    from grader.worker.sandbox import UID_RANGE

    found = set()
    for process in psutil.process_iter(["uids", "status"]):
        uids = process.info["uids"]
        if uids and UID_RANGE[0] <= uids.real <= UID_RANGE[1] and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.add(process.pid)
    return found


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
