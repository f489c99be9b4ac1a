"""``ecs-lab grade``: a class graded in one command (arguments: grader/commands.py).

    find the submissions (grader.batch.discover) → stage their files → reuse the rows whose
    files and settings did not change → grade the others, N at a time (grader.runner), or on a
    Remote (grader.ecs.cli: Fargate tasks)
    → OUT/batch.json after every submission → grades.csv → class-report.html
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from grader import i18n
from grader.batch import discover as finding
from grader.batch.gradebook import GRADES_FILE, write_gradebook
from grader.batch.model import (
    BAD_ARCHIVE,
    BATCH_FILE,
    GRADED,
    GRADER_ERROR,
    MISSING_FILES,
    PENDING,
    STAGING_DIR,
    TIMEOUT,
    Batch,
    Row,
    read_batch,
    status_label,
    write_batch,
)
from grader.api import Grading
from grader.project import PROJECT
from grader.runner import Finished, Job, run_jobs, warm_up
from grader.feedback import Text
from grader.tiers.base import submission_timeout_s

CLASS_REPORT = "class-report.html"
CACHE_DIR = ".cache"
SIMILARITY_FILE = "similarity.pickle"
LOG_FILE = "grading.log"
# What the grade depends on besides the submission's files: the grader's own sources.
FINGERPRINTED = ("grader", "checks", "ecslab", "conftest.py", "pyproject.toml")
FINGERPRINT_SUFFIXES = {".py", ".yaml", ".yml", ".j2", ".json", ".toml"}


class BatchError(Exception):
    """Bad input: said in one sentence, exit status 2."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


class RemoteFailed(Exception):
    """The remote run failed after it started (a call refused): said, with what was graded kept (exit 1)."""


class Remote(Protocol):
    """Where the jobs are graded when not on this machine (grader.ecs.cli: Fargate tasks)."""

    tasks: int  # how many at a time

    def prepare(self, submissions: int) -> bool:
        """Check what the run needs before anything starts (BatchError: one sentence); False: stop (a dry run)."""

    def estimate(self, jobs: int) -> Text:
        """What grading `jobs` submissions will take and cost."""

    def run(self, jobs: list[Job], on_finished: Callable[[Finished], None], progress: object) -> None:
        """Grade `jobs`, calling `on_finished` in this thread as each ends; RemoteFailed, KeyboardInterrupt."""


def run(args: argparse.Namespace, lang: str, remote: Remote | None = None) -> int:
    try:
        return grade_class(args, lang, remote)
    except BatchError as error:
        print(f"{'Error' if lang == 'en' else 'Erreur'}{i18n.colon(lang)}{error.text(lang)}",
              file=sys.stderr)
        return 2


def grade_class(args: argparse.Namespace, lang: str, remote: Remote | None = None) -> int:
    started = time.monotonic()
    out: Path = args.out.resolve()
    submissions = [p.resolve() for p in args.submissions]
    _check_input(submissions, out, args)
    sources = finding.discover(submissions, reserved={BATCH_FILE, GRADES_FILE, CLASS_REPORT, STAGING_DIR,
                                                                   CACHE_DIR})
    if not sources:
        raise BatchError(Text("aucun rendu trouvé dans " + ", ".join(map(str, submissions)) + ".",
                              "no submission found in " + ", ".join(map(str, submissions)) + "."))
    regrade = set(args.regrade)
    unknown = regrade - {s.id for s in sources} - {"all"}
    if unknown:
        raise BatchError(Text(
            f"--regrade : identifiant(s) inconnu(s) : {', '.join(sorted(unknown))} (connus : "
            f"{', '.join(s.id for s in sources[:20])}{'…' if len(sources) > 20 else ''}).",
            f"--regrade: unknown id(s): {', '.join(sorted(unknown))} (known: "
            f"{', '.join(s.id for s in sources[:20])}{'...' if len(sources) > 20 else ''})."))

    if getattr(args, "dry_run", False) and remote is None:
        raise BatchError(Text("--dry-run ne sert qu'avec --on ecs.", "--dry-run only goes with --on ecs."))
    if remote is not None:  # its checks before anything is written (zips are counted as they are, unread)
        gradable = sum(s.kind == "zip" or finding.find_submission_files(s.path)[0] is not None for s in sources)
        if not remote.prepare(gradable):
            return 0
    timeout = args.timeout or submission_timeout_s(args.tier)
    settings = {"tier": args.tier, "lang": lang, "grader": grader_fingerprint()}
    out.mkdir(parents=True, exist_ok=True)
    previous = read_batch(out)
    batch = Batch(tier=args.tier, lang=lang, generated_at=_now(), settings=settings)
    jobs: list[Job] = []
    for source in sources:
        row, job = _prepare(source, out, settings, timeout, previous, forced="all" in regrade or source.id in regrade,
                            tier=args.tier, lang=lang)
        batch.rows.append(row)
        if job is not None:
            jobs.append(job)
    write_batch(batch, out)

    at_once = min(remote.tasks if remote else args.jobs, max(len(jobs), 1))
    _say(lang, Text(f"{len(sources)} rendu(s) ; {len(jobs)} à noter, {len(sources) - len(jobs)} repris ou sans "
                    f"fichiers ; {at_once} à la fois{' (tâches ECS)' if remote else ''}, limite {timeout:g} s chacun.",
                    f"{len(sources)} submission(s); {len(jobs)} to grade, {len(sources) - len(jobs)} reused or "
                    f"without files; {at_once} at a time{' (ECS tasks)' if remote else ''}, {timeout:g} s limit "
                    f"each."))
    if remote is not None and jobs:
        _say(lang, remote.estimate(len(jobs)))
    similar = _similarity_in_background(batch, out)  # meanwhile, on the files already staged
    if jobs:
        progress = _progress(len(jobs), lang, disabled=args.no_progress)
        rows = {row.id: row for row in batch.rows}

        def finished(result: Finished) -> None:
            row = rows[result.job.id]
            _record(row, result, out, lang)
            write_batch(batch, out)  # after every submission: an interruption loses nothing graded
            if row.status != GRADED:
                progress.write(f"{row.id} : {status_label(row.status, lang)} — {row.reason}")
            progress.update(1)

        try:
            signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C: what is graded is kept
            if remote is not None:
                remote.run(jobs, finished, progress)
            else:
                run_jobs(jobs, parallel=args.jobs, on_finished=finished, warm=warm_up)
        except RemoteFailed as error:  # on ECS, after the start: what was graded is kept
            similar.terminate()
            progress.close()
            print(f"{'Error' if lang == 'en' else 'Erreur'}{i18n.colon(lang)}{error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            similar.terminate()
            progress.close()
            _say(lang, Text(f"Interrompu : les rendus déjà notés sont dans {out / BATCH_FILE} ; relancez la même "
                            "commande pour finir.",
                            f"Interrupted: the submissions already graded are in {out / BATCH_FILE}; run the same "
                            "command again to finish."))
            return 130
        progress.close()

    batch.duration_s = round(time.monotonic() - started, 2)
    write_batch(batch, out)
    gradebook = write_gradebook(batch, out)
    report = _class_report(batch, out, lang, similar)
    _summary(batch, gradebook, report, lang)
    return 0


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _check_input(submissions: list[Path], out: Path, args: argparse.Namespace) -> None:
    for path in submissions:
        if not path.exists():
            raise BatchError(Text(f"{path} n'existe pas.", f"{path} does not exist."))
        if path.is_file() and path.suffix.lower() != ".zip":
            raise BatchError(Text(f"{path} n'est ni un dossier ni un fichier .zip.",
                                  f"{path} is neither a folder nor a .zip file."))
        if path.is_dir() and (out == path or path in out.parents):
            raise BatchError(Text(f"--out {out} est dans le rendu {path} : choisissez un dossier à part.",
                                  f"--out {out} is inside the submission {path}: choose a folder of its own."))
    if args.jobs < 1:
        raise BatchError(Text("-j doit être au moins 1.", "-j must be at least 1."))
    if args.timeout is not None and args.timeout <= 0:
        raise BatchError(Text("--timeout doit être positif.", "--timeout must be positive."))


def grader_fingerprint() -> str:
    """A hash of the grader's sources: a new grader regrades everything."""
    digest = hashlib.sha256()
    for name in FINGERPRINTED:
        root = PROJECT / name
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in FINGERPRINT_SUFFIXES
                                                       and "__pycache__" not in p.parts)
        for path in files:
            digest.update(path.relative_to(PROJECT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


# --- One submission ---------------------------------------------------------------------------------


def _prepare(source: finding.Source, out: Path, settings: dict, timeout: float, previous: Batch | None, *,
             forced: bool, tier: str, lang: str) -> tuple[Row, Job | None]:
    """The submission's row; and its job, unless it has nothing to grade or its grade is reused."""
    row = Row(id=source.id, source=str(source.path), staged=f"{STAGING_DIR}/{source.id}", timeout_s=timeout)
    try:
        staged = finding.stage(source, out / row.staged)
    except finding.ArchiveError as error:
        row.status = BAD_ARCHIVE
        row.reason = Text(f"Archive illisible ({error}).", f"Unreadable archive ({error}).")(lang)
        return row, None
    row.files = staged.files
    row.digest = hashlib.sha256(f"{staged.digest}\0{json.dumps(settings, sort_keys=True)}".encode()).hexdigest()
    if not staged.complete:
        row.status = MISSING_FILES
        row.reason = Text("Ni image_classifier_operations.py ni s3_io.py dans ce rendu.",
                          "Neither image_classifier_operations.py nor s3_io.py in this submission.")(lang)
        return row, None
    old = previous.row(source.id) if previous is not None else None
    if not forced and old is not None and _reusable(old, row, out):
        old.reused, old.source = True, row.source
        return old, None
    row.status, row.report_dir = PENDING, source.id
    report_dir = out / row.report_dir
    if report_dir.exists():
        shutil.rmtree(report_dir)  # never a stale report taken for this run's
    report_dir.mkdir(parents=True)
    grading = Grading(staged.folder, tier=tier, lang=lang, report_dir=report_dir, options=("-q",))
    return row, Job(id=source.id, grading=grading, log=report_dir / LOG_FILE, timeout_s=timeout,
                    bytecode=out / CACHE_DIR / "bytecode")


def _reusable(old: Row, new: Row, out: Path) -> bool:
    if old.digest != new.digest:
        return False
    if old.status == GRADED:
        return (out / old.report_dir / "report.json").is_file()
    if old.status == TIMEOUT:
        return old.timeout_s >= new.timeout_s  # a longer limit deserves another try
    return False  # the grader's own failures are tried again


def _record(row: Row, result: Finished, out: Path, lang: str) -> None:
    """Fill `row` from the run's report (or say why there is none)."""
    row.duration_s = round(result.duration_s, 2)
    row.attempts, row.graded_by = result.attempt, result.host
    if result.stopped_reason:
        row.status = GRADER_ERROR
        row.reason = Text(
            f"Les tâches ECS qui le notaient se sont arrêtées ({result.stopped_reason}) : non noté, relancez la "
            f"commande pour réessayer.",
            f"The ECS tasks grading it stopped ({result.stopped_reason}): not graded, run the command again to "
            f"try again.")(lang)
        return
    if result.exit_code is None:
        row.status = TIMEOUT
        row.reason = Text(
            f"La notation a dépassé {row.timeout_s:g} s et a été arrêtée (relancez avec un --timeout plus grand "
            f"et --regrade {row.id}).",
            f"Grading took more than {row.timeout_s:g} s and was stopped (run again with a larger --timeout and "
            f"--regrade {row.id}).")(lang)
        return
    report = result.report
    if report is None:
        row.status = GRADER_ERROR
        how = f"signal {result.signal_name}" if result.signal_name else f"code {result.exit_code}"
        row.reason = Text(f"La notation s'est arrêtée sans rapport ({how}) ; journal : {result.job.log}"
                          f"{_last_line(result.job.log)}",
                          f"Grading ended without a report ({how}); log: {result.job.log}"
                          f"{_last_line(result.job.log)}")(lang)
        return
    row.status = GRADED
    row.score, row.max_score, row.graded_max = report["score"], report["max_score"], report["graded_max"]
    row.bonus, row.bonus_max = report["bonus_score"], report["bonus_max"]
    row.checkpoints = {c["id"]: (None if c["status"] == "not_graded" else c["score"]) for c in report["checkpoints"]}


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f" — {lines[-1][:300]}" if lines else ""


# --- Output -------------------------------------------------------------------------------------------


def _say(lang: str, text: Text) -> None:
    print(text(lang), flush=True)


def _progress(total: int, lang: str, disabled: bool):
    import tqdm

    tqdm.tqdm.monitor_interval = 0  # no monitor thread: this process forks the graders
    return tqdm.tqdm(total=total, desc="Grading" if lang == "en" else "Notation",
                     unit=" submission" if lang == "en" else " rendu", file=sys.stderr, disable=disabled,
                     dynamic_ncols=True, mininterval=0.5)


def _similarity_in_background(batch: Batch, out: Path) -> multiprocessing.Process:
    """The similarity of the staged files, computed in a child process while the batch grades
    (it needs only the files): OUT/.cache/similarity.pickle."""
    folders = {row.id: str(out / row.staged) for row in batch.rows if row.files}
    target = out / CACHE_DIR / SIMILARITY_FILE
    target.unlink(missing_ok=True)
    process = multiprocessing.get_context("fork").Process(target=_similarity, args=(folders, target),
                                                          name="similarity", daemon=True)
    process.start()
    return process


def _similarity(folders: dict[str, str], target: Path) -> None:
    import pickle

    from grader.batch.class_report import TEMPLATE
    from grader.batch.similarity import find_similar

    result = find_similar({row_id: Path(folder) for row_id, folder in folders.items()}, TEMPLATE)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(result))
    tmp.replace(target)


def _similarity_result(process: multiprocessing.Process, out: Path):
    """The background result, or None (the class report then computes it itself)."""
    import pickle

    process.join(timeout=600)
    if process.is_alive():
        process.terminate()
        return None
    try:
        return pickle.loads((out / CACHE_DIR / SIMILARITY_FILE).read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        return None


def _class_report(batch: Batch, out: Path, lang: str, similar: multiprocessing.Process) -> Path | None:
    try:
        from grader.batch.class_report import write_class_report

        return write_class_report(out, batch, similar=_similarity_result(similar, out))
    except Exception as error:  # noqa: BLE001 - the gradebook is written; say what failed
        _say(lang, Text(f"Rapport de classe non écrit : {type(error).__name__}: {error}",
                        f"Class report not written: {type(error).__name__}: {error}"))
        return None


def _summary(batch: Batch, gradebook: Path, report: Path | None, lang: str) -> None:
    counts: dict[str, int] = {}
    for row in batch.rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    parts = [f"{n} {status_label(status, lang)}" for status, n in counts.items()]
    scores = [row.score for row in batch.rows if row.graded and row.score is not None]
    reused = sum(row.reused for row in batch.rows)
    _say(lang, Text(f"{len(batch.rows)} rendu(s) : {', '.join(parts)} ({reused} repris tels quels) en "
                    f"{i18n.number(batch.duration_s, lang)} s.",
                    f"{len(batch.rows)} submission(s): {', '.join(parts)} ({reused} reused as they were) in "
                    f"{i18n.number(batch.duration_s, lang)} s."))
    if scores:
        maximum = next(row.max_score for row in batch.rows if row.graded)
        mean, median = i18n.number(statistics.mean(scores), lang), i18n.number(statistics.median(scores), lang)
        _say(lang, Text(f"Note moyenne {mean}/{maximum:g}, médiane {median}.",
                        f"Mean score {mean}/{maximum:g}, median {median}."))
    _say(lang, Text(f"Carnet de notes : {gradebook}", f"Gradebook: {gradebook}"))
    if report is not None:
        _say(lang, Text(f"Rapport de classe : {report}", f"Class report: {report}"))


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
