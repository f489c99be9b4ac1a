"""`ecs-lab grade`: a class graded in one command (grader/batch/).

One broad run grades a class as an instructor receives it: a nested submission, the same one
zipped, the template, faulty ones, one that hangs, one that crashes its process, one without the
files, an unreadable zip. Every row has its status; the grades are those of a single
`pytest --submission=` run of the same files (the session's own gradings, shared with
tests/test_grading.py); a second run reuses what did not change and `--regrade` forces.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from grading_support import ROOT, TIMING_KEYS, _child_env
from submissions.faults import FAULTY, materialise

from grader.batch import discover as finding
from grader.catalogue import load_catalogue

OPS, S3_IO = "image_classifier_operations.py", "s3_io.py"
SAME_AS_SINGLE_RUNS = [e for e in FAULTY if e.name in ("task_definition_cpu_512", "monitor_busy_loop",
                                                          "result_first_page_only")]
HANG = '''

def _hang(*args, **kwargs):
    import select
    select.select([], [], [])  # waits for nothing, forever, without using the CPU


for _name in [n for n, v in vars(ImageClassifierOperations).items() if callable(v) and not n.startswith("__")]:
    setattr(ImageClassifierOperations, _name, _hang)  # each method costs the grader its 15 s limit
'''
CRASH = '''

import ctypes
ctypes.string_at(0)  # reads address 0: the process dies of SIGSEGV while importing
'''
TIMEOUT_S = 45  # the hanging submission needs far more (every method waits 15 s); the others far less


def ecs_lab(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecslab.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**_child_env(), "ECS_LAB_LANG": "fr"}, stdin=subprocess.DEVNULL,
                          check=False)


def _copy_reference(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in (OPS, S3_IO):
        shutil.copyfile(ROOT / "reference" / name, folder / name)
    return folder


def _write_class(root: Path) -> Path:
    klass = root / "class"
    _copy_reference(klass / "alice" / "lab8" / "student_template")
    (klass / "alice" / "notes.txt").write_text("pas du code")
    with zipfile.ZipFile(klass / "bob.zip", "w") as archive:  # the same files, zipped in a folder
        for name in (OPS, S3_IO):
            archive.write(ROOT / "reference" / name, f"rendu/{name}")
        archive.writestr("../../evil.py", "print('hors du dossier')")  # never extracted
    carol = klass / "carol"
    carol.mkdir()
    for name in (OPS, S3_IO):
        shutil.copyfile(ROOT / "student_template" / name, carol / name)
    for entry in SAME_AS_SINGLE_RUNS:
        materialise(entry, klass / entry.name)
    hanging = _copy_reference(klass / "dave")
    hanging.joinpath(OPS).write_text(hanging.joinpath(OPS).read_text() + HANG)
    crashing = _copy_reference(klass / "erin")
    crashing.joinpath(S3_IO).write_text(crashing.joinpath(S3_IO).read_text() + CRASH)
    (klass / "frank").mkdir()
    (klass / "frank" / "README.md").write_text("oublié")
    (klass / "gina.zip").write_bytes(b"PK\x03\x04 not really a zip")
    return klass


def _checkpoints(report_dir: Path) -> list[dict]:
    """A report's checkpoints without what differs between two runs of the same files."""
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    return [{k: v for k, v in c.items() if k not in TIMING_KEYS | {"checks"}} for c in report["checkpoints"]]


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("batch")
    klass = _write_class(root)
    out = root / "out"
    run = ecs_lab("grade", str(klass), "--out", str(out), "-j", "2", "--timeout", str(TIMEOUT_S), "--no-progress")
    return klass, out, run


def test_a_class_is_graded_in_one_command(graded_class, reference, template, graded_once):
    klass, out, run = graded_class
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    batch = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    rows = {row["id"]: row for row in batch["rows"]}
    expected = {"alice", "bob", "carol", *(e.name for e in SAME_AS_SINGLE_RUNS), "dave", "erin", "frank", "gina"}
    assert set(rows) == expected
    status = {i: r["status"] for i, r in rows.items()}
    assert status["dave"] == "timeout" and "--regrade dave" in rows["dave"]["reason"], rows["dave"]
    assert status["frank"] == "missing_files" and status["gina"] == "bad_archive", status
    assert all(status[i] == "graded" for i in expected - {"dave", "frank", "gina"}), status
    # which files were used, found in nested folders and in the zip (never outside it)
    assert rows["alice"]["files"] == [f"lab8/student_template/{OPS}", f"lab8/student_template/{S3_IO}"]
    assert rows["bob"]["files"] == [f"rendu/{OPS}", f"rendu/{S3_IO}"]
    assert not (out.parent / "evil.py").exists() and not list(out.rglob("evil.py"))
    # the crash is the student's feedback, not the batch's problem
    erin = json.loads((out / "erin" / "report.json").read_text(encoding="utf-8"))
    assert "SIGSEGV" in json.dumps(erin, ensure_ascii=False)
    assert rows["erin"]["bonus"] < rows["alice"]["bonus"]  # s3_io.py serves the bonus only

    # the same grades as single runs of the same files
    assert _checkpoints(out / "alice") == _checkpoints(reference.report_dir)
    assert _checkpoints(out / "bob") == _checkpoints(reference.report_dir)
    assert _checkpoints(out / "carol") == _checkpoints(template.report_dir)
    for entry in SAME_AS_SINGLE_RUNS:
        single = graded_once(entry.name, lambda directory, _reports, e=entry: materialise(e, directory))
        assert _checkpoints(out / entry.name) == _checkpoints(single.report_dir), entry.name
    for row_id in expected - {"dave", "frank", "gina"}:
        assert {p.name for p in (out / row_id).iterdir()} >= {"report.html", "report.md", "report.json",
                                                                "results.json", "grading.log"}

    # the gradebook: one row per submission, one column per checkpoint
    with (out / "grades.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    ids = [c.id for c in load_catalogue().checkpoints]
    assert list(table[0]) == ["id", "total", "bonus", "status", *ids]
    by_id = {r["id"]: r for r in table}
    assert set(by_id) == expected
    assert float(by_id["alice"]["total"]) == reference.report["score"]
    assert float(by_id["alice"]["bonus"]) == reference.report["bonus_score"]
    assert by_id["dave"]["total"] == "" and by_id["dave"]["status"] == "délai dépassé"
    assert by_id["frank"]["status"] == "fichiers manquants"
    assert by_id["carol"]["task_run"] == "0" and by_id["carol"]["web_service"] == ""  # 0 points / not verified
    assert "Carnet de notes" in run.stdout
    # the class report: every submission, the files graded, links to the reports
    page = (out / "class-report.html").read_text(encoding="utf-8")
    assert f"lab8/student_template/{OPS}" in page and 'href="alice/report.html' in page
    assert all(row_id in page for row_id in expected)


def test_a_second_run_reuses_what_did_not_change(graded_class):
    klass, out, _first = graded_class
    again = ecs_lab("grade", str(klass), "--out", str(out), "--timeout", str(TIMEOUT_S), "--no-progress")
    assert again.returncode == 0, again.stdout + again.stderr
    rows = {r["id"]: r for r in json.loads((out / "batch.json").read_text(encoding="utf-8"))["rows"]}
    graded = [i for i, r in rows.items() if r["status"] in ("graded", "timeout")]
    assert all(rows[i]["reused"] for i in graded), rows
    assert "0 à noter" in again.stdout

    # a changed file is graded again, the others are not; --regrade forces one
    carol = klass / "carol" / S3_IO
    carol.write_text(carol.read_text() + "\n# relu\n")
    forced = ecs_lab("grade", str(klass), "--out", str(out), "--timeout", str(TIMEOUT_S), "--no-progress",
                     "--regrade", "alice")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    rows = {r["id"]: r for r in json.loads((out / "batch.json").read_text(encoding="utf-8"))["rows"]}
    assert not rows["carol"]["reused"] and not rows["alice"]["reused"]
    assert rows["bob"]["reused"] and rows["dave"]["reused"]
    assert "2 à noter" in forced.stdout


@pytest.mark.parametrize(("args", "says"), [
    (["/nonexistent/class"], "n'existe pas"),
    (["pyproject.toml"], "ni un dossier ni un fichier .zip"),
    (["student_template", "--out", "student_template/out"], "est dans le rendu"),
    (["student_template", "--regrade", "nobody"], "identifiant(s) inconnu(s) : nobody"),
    (["student_template", "-j", "0"], "-j doit être au moins 1"),
])
def test_bad_input_is_one_sentence_and_exit_2(args, says, tmp_path):
    run = ecs_lab("grade", *args, *(["--out", str(tmp_path / "out")] if "--out" not in args else []))
    assert run.returncode == 2, run.stdout + run.stderr
    assert says in run.stderr and "Traceback" not in run.stderr, run.stderr


# --- Finding the submissions ---------------------------------------------------------------------------


def test_a_folder_of_submissions_and_a_single_submission(tmp_path):
    klass = tmp_path / "class"
    _copy_reference(klass / "ann" / "deep" / "er")
    _copy_reference(klass / "ann b" / "student_template")
    (klass / "empty").mkdir()
    ids = [s.id for s in finding.discover([klass])]
    assert ids == ["ann", "ann_b", "empty"]
    # the same folder given alone is one submission; so is a project clone (student_template/)
    assert [s.id for s in finding.discover([klass / "ann"])] == ["ann"]
    assert [s.path for s in finding.discover([ROOT])] == [ROOT]
    # ids stay unique and never take a name the batch uses
    twice = finding.discover([klass / "ann", klass / "ann"], reserved={"ann"})
    assert [s.id for s in twice] == ["ann-2", "ann-3"]


def test_a_gradescope_export_is_a_class_even_with_one_submission(tmp_path):
    export = tmp_path / "export"
    _copy_reference(export / "submission_123" / "lab8")
    (export / "submission_metadata.yml").write_text("submission_123:\n  :submitters: []\n")
    sources = finding.discover([export])
    assert [(s.id, s.kind) for s in sources] == [("submission_123", "folder")]


def test_the_files_graded_are_both_files_first_then_the_shallowest(tmp_path):
    root = tmp_path / "sub"
    _copy_reference(root / "a" / "b" / "complete")
    (root / "stray").mkdir(parents=True)
    (root / "stray" / S3_IO).write_text("# an old copy\n")
    folder, files = finding.find_submission_files(root)
    assert folder == root / "a" / "b" / "complete" and [f.name for f in files] == [OPS, S3_IO]


def test_links_and_hidden_folders_are_never_followed(tmp_path):
    root = tmp_path / "sub"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / OPS).write_text("x = 1\n")
    os.symlink(ROOT / "reference", root / "linked")
    assert finding.find_submission_files(root) == (None, [])


def test_an_archive_that_lies_about_its_size_is_refused(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(OPS, b"#" * (finding.MAX_FILE_BYTES + 1))
    with pytest.raises(finding.ArchiveError):
        finding.stage(finding.Source("bomb", bomb, "zip"), tmp_path / "staged")


def test_an_interrupted_batch_keeps_what_is_graded_and_leaves_no_process(tmp_path):
    klass = tmp_path / "class"
    _copy_reference(klass / "ok")
    hanging = _copy_reference(klass / "stuck")
    hanging.joinpath(OPS).write_text(hanging.joinpath(OPS).read_text() + HANG)
    out = tmp_path / "out"
    batch = subprocess.Popen([sys.executable, "-m", "ecslab.cli", "grade", str(klass), "--out", str(out), "-j", "2",
                              "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**_child_env(), "ECS_LAB_LANG": "fr"}, stdin=subprocess.DEVNULL)
    import psutil

    tree: set[int] = set()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            tree |= {p.pid for p in psutil.Process(batch.pid).children(recursive=True)}
            rows = {r["id"]: r["status"] for r in json.loads((out / "batch.json").read_text())["rows"]}
        except (OSError, ValueError, psutil.Error):
            rows = {}
        if rows.get("ok") == "graded":
            break
        time.sleep(0.5)
    assert rows.get("ok") == "graded", rows
    batch.terminate()  # SIGTERM, as a scheduler or `kill` sends it
    output, _ = batch.communicate(timeout=60)
    assert batch.returncode == 130 and "Interrompu" in output and "Traceback" not in output, output
    rows = {r["id"]: r["status"] for r in json.loads((out / "batch.json").read_text())["rows"]}
    assert rows == {"ok": "graded", "stuck": "pending"}
    time.sleep(1)
    assert not [pid for pid in tree if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"], tree
