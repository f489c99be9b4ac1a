"""The offline checks can fail, and grade right: the grader run on a corpus of submissions.

Each test runs the grader as a student or an instructor does (`python -m pytest
--submission=DIR` from the project root, in a subprocess) and reads the reports it writes.
The corpus (tests/submissions/faults.py) is the reference plus small documented patches:
faulty submissions must lose exactly their checkpoints, broken ones must still get a complete
report, alternative correct ones must get full marks.

Runs of the reference, the template and the corpus are cached for the session and shared by
pytest-xdist workers (`-n 2`), so each is graded once.
"""

from __future__ import annotations

import dataclasses

import pytest
from grading_support import (
    ROOT,
    CATALOGUE,
    OFFLINE,
    TODOS,
    Graded,
    _normalised,
    assert_complete,
    feedback,
    grade,
    offline_marks,
)
from submissions.faults import (
    ALTERNATIVES,
    BROKEN,
    BUNDLES,
    FAULTY,
    LAB_RULES,
    S3_IO,
    Replace,
    Submission,
    materialise,
)


def _writer(entry: Submission):
    return lambda directory, _reports: materialise(entry, directory)


def _partial(graded: Graded) -> Graded:
    """A -m/-k selection writes its reports into <report-dir>/partial/: the full report is never replaced."""
    return dataclasses.replace(graded, report_dir=graded.report_dir / "partial")


# --- The corpus ------------------------------------------------------------------------------------

# Slow entries first, so that xdist starts them first.
CORPUS_RUNS = [
    pytest.param(s, id=s.name, marks=[pytest.mark.xfail(strict=True, reason=s.known_gap)] if s.known_gap else [])
    for s in sorted([*BROKEN, *FAULTY, *BUNDLES, *LAB_RULES], key=lambda s: not s.slow)
]


def told(checkpoint: dict, checkpoints: dict) -> str:
    """A checkpoint's feedback, with the message of the earlier checkpoint it repeats (caused_by):
    one root cause is told once, under the first checkpoint it fails."""
    origin = checkpoints[checkpoint["caused_by"]] if checkpoint.get("caused_by") else None
    return (feedback(checkpoint) + " " + (feedback(origin) if origin else "")).casefold()


@pytest.mark.parametrize("entry", CORPUS_RUNS)
def test_faulty_submission_loses_exactly_its_checkpoints(entry: Submission, graded_once, gradescope_schema):
    graded = graded_once(entry.name, _writer(entry))
    assert_complete(graded, gradescope_schema)
    checkpoints = graded.checkpoints
    wrong = []
    for checkpoint_id in sorted(OFFLINE):
        checkpoint = checkpoints[checkpoint_id]
        score, maximum = checkpoint["score"], checkpoint["max_points"]
        if checkpoint_id in entry.loses:
            if not (score < maximum and checkpoint["status"] in ("failed", "partial") and checkpoint["feedback"]):
                wrong.append(f"{checkpoint_id}: should lose points, got {score}/{maximum} {checkpoint['status']}")
            elif checkpoint_id in entry.says and entry.says[checkpoint_id].casefold() not in told(checkpoint, checkpoints):
                wrong.append(f"{checkpoint_id}: feedback should mention {entry.says[checkpoint_id]!r}, "
                             f"got {feedback(checkpoint)!r}")
        elif not (score == maximum and checkpoint["status"] == "passed"):
            wrong.append(f"{checkpoint_id}: should keep {maximum}, got {score} {checkpoint['status']}: "
                         f"{feedback(checkpoint)!r}")
    assert not wrong, f"{entry.name} ({entry.why})\n" + "\n".join(wrong)


@pytest.mark.parametrize("entry", ALTERNATIVES, ids=lambda s: s.name)
def test_alternative_correct_submission_scores_full_marks(entry: Submission, graded_once, gradescope_schema):
    graded = graded_once(entry.name, _writer(entry))
    assert_complete(graded, gradescope_schema)
    lost = {i: (s, m, feedback(graded.checkpoints[i])) for i, (s, m) in offline_marks(graded).items() if s < m}
    assert not lost, f"{entry.name} ({entry.why}) lost points:\n{lost}"


def test_broken_submissions_say_which_file_and_why(graded_once):
    """The message names the file that cannot be used, and the reason, in every check it costs."""
    expectations = {
        "broken_syntax_error": ("image_classifier_operations.py ne s'importe pas", "SyntaxError"),
        "broken_import_error": ("image_classifier_operations.py ne s'importe pas", "ModuleNotFoundError"),
        "broken_sys_exit_at_import": ("image_classifier_operations.py ne s'importe pas", "SystemExit(1)"),
        "broken_endless_loop_at_import": ("s3_io.py ne s'importe pas", "ne se termine pas en"),
        "broken_os_exit_at_import": ("s3_io.py ne s'importe pas", "os._exit"),
    }
    by_name = {s.name: s for s in BROKEN}
    for name, fragments in expectations.items():
        graded = graded_once(name, _writer(by_name[name]))
        for checkpoint_id in by_name[name].loses:
            failed = [c for c in graded.checkpoints[checkpoint_id]["checks"] if c["outcome"] == "failed"]
            assert failed, (name, checkpoint_id, "no failed check: the message cannot be judged")
            for check in failed:
                assert all(f in check["message"] for f in fragments), (name, check)


def test_a_uri_that_ends_the_process_loses_that_check_only(graded_once):
    """parse_s3_uri's eight URIs run in one process of the student's code (one fork instead of eight):
    the one that ends it loses its own check, the URIs after it run in a fresh process and keep theirs."""
    exits = Submission("uri_ends_the_process", "parse_s3_uri calls os._exit(3) for s3://bucket only.", (
        Replace(S3_IO, '    if not isinstance(uri, str) or not uri.startswith("s3://"):\n',
                '    if uri == "s3://bucket":\n        import os\n\n        os._exit(3)\n'
                '    if not isinstance(uri, str) or not uri.startswith("s3://"):\n'),))
    graded = _partial(graded_once("uri_ends_the_process", _writer(exits), "-m", "bonus_s3_uris"))
    checks = graded.checkpoints["bonus_s3_uris"]["checks"]
    failed = [c for c in checks if c["outcome"] == "failed"]
    assert len(checks) == 9 and len(failed) == 1, graded.explain()
    assert failed[0]["name"] == "test_rejects_invalid_uris[s3://bucket]" and "os._exit(3)" in failed[0]["message"], failed


# --- Reference, template, options ----------------------------------------------------------------


def test_reference_scores_full_marks_offline(reference: Graded, gradescope_schema):
    assert_complete(reference, gradescope_schema)
    marks = offline_marks(reference)
    assert set(marks) == OFFLINE
    lost = {i: (s, m, feedback(reference.checkpoints[i])) for i, (s, m) in marks.items() if s < m}
    assert not lost, lost
    report = reference.report
    assert report["score"] == report["graded_max"] == sum(m for i, (s, m) in marks.items()
                                                          if not CATALOGUE.get(i).bonus)
    assert report["bonus_score"] == sum(m for i, (s, m) in marks.items() if CATALOGUE.get(i).bonus)


def test_template_scores_zero_on_every_todo(template: Graded, gradescope_schema):
    assert_complete(template, gradescope_schema)
    checkpoints = template.checkpoints
    assert TODOS <= OFFLINE
    for checkpoint_id in TODOS:
        checkpoint = checkpoints[checkpoint_id]
        assert checkpoint["score"] == 0 and checkpoint["status"] == "failed", checkpoint
        assert checkpoint["feedback"], checkpoint
    # What the template gives (the lab's resources) is not a to-do: full marks.
    for checkpoint_id in OFFLINE - TODOS:
        assert checkpoints[checkpoint_id]["status"] == "passed", checkpoints[checkpoint_id]
    assert "NotImplementedError" in feedback(checkpoints["task_definition"])


def test_two_runs_give_the_same_report(graded_once, tmp_path):
    """Same code, same grade, same feedback: only the timing fields differ."""
    entry = next(s for s in FAULTY if s.name == "task_run_launch_type_ec2")  # feedback quotes moto's answers
    first = graded_once(entry.name, _writer(entry))
    second = grade(first.report_dir.parent / "submission", tmp_path / "again")
    assert second.returncode == 0, second.explain()
    assert _normalised(second.report) == _normalised(first.report)
    assert _normalised(second.results) == _normalised(first.results)


def test_english_feedback(graded_once, gradescope_schema):
    graded = _partial(graded_once("template-en-selection", "student_template", "--lang", "en",
                                  "-m", "task_definition or classifier_image_pushed"))
    assert_complete(graded, gradescope_schema)
    report = graded.report
    assert report["lang"] == "en"
    checkpoints = graded.checkpoints
    assert checkpoints["task_definition"]["title"] == CATALOGUE.get("task_definition").title.en
    text = feedback(checkpoints["task_definition"]) + feedback(checkpoints["classifier_image_pushed"])
    assert "is not implemented yet" in text
    for french in ("n'est pas", "Relisez", "attendu", "obtenu"):
        assert french not in text and french not in graded.stdout, french
    assert "Re-read step 11" in graded.stdout
    assert "Not selected" in checkpoints["task_run"]["reason"]
    assert "graded here" in graded.results["output"]


def test_marker_grades_only_that_checkpoint(graded_once, gradescope_schema):
    graded = _partial(graded_once("reference-task-definition", "reference", "-m", "task_definition"))
    assert_complete(graded, gradescope_schema)
    checkpoints = graded.checkpoints
    assert checkpoints["task_definition"]["status"] == "passed"
    assert checkpoints["task_definition"]["score"] == checkpoints["task_definition"]["max_points"]
    for checkpoint_id in OFFLINE - {"task_definition"}:
        checkpoint = checkpoints[checkpoint_id]
        assert checkpoint["status"] == "not_graded" and checkpoint["score"] == 0, checkpoint
        assert "-m" in checkpoint["reason"], checkpoint
    assert graded.report["score"] == checkpoints["task_definition"]["max_points"]


def test_missing_submission_is_a_clear_usage_error(tmp_path):
    missing = tmp_path / "pas-de-rendu"
    graded = grade(missing, tmp_path / "reports")
    shown = graded.stdout + graded.stderr
    assert graded.returncode != 0, graded.explain()
    assert "n'existe pas" in shown and str(missing) in shown, graded.explain()
    assert "Traceback" not in shown, graded.explain()
    assert not (tmp_path / "reports" / "report.json").exists()


def test_parallel_checks_give_the_serial_grades(graded_once, gradescope_schema):
    """`pytest -n 2` gives exactly the grades of a serial run (results travel with pytest's reports)."""
    entry = next(s for s in BUNDLES if s.name == "variants_2")
    for key, submission in (("template", "student_template"), (entry.name, _writer(entry))):
        serial = graded_once(key, submission)
        parallel = graded_once(f"{key}-n2", submission, "-n", "2")
        assert_complete(parallel, gradescope_schema)
        assert offline_marks(parallel) == offline_marks(serial)
        assert [c["feedback"] for c in parallel.report["checkpoints"]] == \
            [c["feedback"] for c in serial.report["checkpoints"]]


def test_ten_reruns_give_the_same_grade(graded_once, tmp_path):
    """Same code, same grade: the time-sensitive checkpoints (virtual clock, polling, the main) ten times."""
    entry = next(s for s in BUNDLES if s.name == "variants_1")  # monitor_no_timeout: stopped by the clock
    first = graded_once(entry.name, _writer(entry))
    selection = ("-m", "task_monitoring or main_runs or classification_result or classifier_image_pushed")
    reports = [_partial(grade(first.report_dir.parent / "submission", tmp_path / f"run-{i}", *selection))
               for i in range(10)]
    marks = [{c["id"]: (c["score"], c["feedback"]) for c in r.report["checkpoints"] if c["status"] != "not_graded"}
             for r in reports]
    assert all(m == marks[0] for m in marks), marks
    expected = {i: (c["score"], c["feedback"]) for i, c in first.checkpoints.items() if i in marks[0]}
    assert marks[0] == expected


def test_a_report_dir_the_submission_could_write_to_is_refused(tmp_path):
    submission = tmp_path / "rendu"
    submission.mkdir()
    for name in ("image_classifier_operations.py", "s3_io.py"):
        (submission / name).write_text((ROOT / "student_template" / name).read_text(encoding="utf-8"))
    graded = grade(submission, submission / "reports")
    shown = graded.stdout + graded.stderr
    assert graded.returncode != 0 and "dans le dossier noté" in shown and "Traceback" not in shown, graded.explain()
    assert not (submission / "reports" / "report.json").exists()
