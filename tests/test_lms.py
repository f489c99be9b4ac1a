"""Learning platforms: Gradescope's results.json policy, the autograder bundle, GitHub Classroom.

The bundle is built with ``ecs-lab gradescope-bundle``, unpacked the way Gradescope does
(``autograder/source``) and its ``run_autograder`` run on an upload whose files sit in nested
folders; the Classroom workflow's grading step is run as GitHub Actions would run it.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from grading_support import CATALOGUE, OFFLINE, ROOT, Graded

from ecslab.cli import main
from grader.lms import gradescope

WORKFLOW = ROOT / ".github" / "workflows" / "classroom.yml"
STUDENT_FILES = ("image_classifier_operations.py", "s3_io.py")
REQUIRED_OFFLINE = sum(c.points for c in CATALOGUE.checkpoints if c.id in OFFLINE and not c.bonus)
BONUS_OFFLINE = sum(c.points for c in CATALOGUE.checkpoints if c.id in OFFLINE and c.bonus)
RUN_TIMEOUT_S = 300


def _env(**extra: str) -> dict[str, str]:
    """This environment without pytest's own variables (the commands run fresh pytest sessions)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST")) and k not in ("PYTEST_ADDOPTS",
                                                                                       "PYTEST_PLUGINS")}
    return {**env, "ECS_LAB_LANG": "fr", **extra}


# --- The bundle ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The zip written by `ecs-lab gradescope-bundle` (default policy) and what the command printed."""
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    command = [sys.executable, "-c", "import sys; from ecslab.cli import main; sys.exit(main(sys.argv[1:]))",
               "gradescope-bundle", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout


def _unpack(zip_path: Path, root: Path) -> Path:
    """Gradescope's layout: the zip in autograder/source, an empty results folder."""
    source = root / "source"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(source)
        for info in archive.infolist():  # zipfile does not restore modes
            (source / info.filename).chmod((info.external_attr >> 16) & 0o777)
    (root / "results").mkdir(parents=True)
    return source


def _run_autograder(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, check=False,
                          env=_env(AUTOGRADER_ROOT=str(root), ECS_LAB_PYTHON=sys.executable))


def test_bundle_holds_the_grader_and_never_the_solution(bundle, tmp_path: Path):
    zip_path, shown = bundle
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        modes = {i.filename: (i.external_attr >> 16) for i in archive.infolist()}
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"setup.sh", "run_autograder", "pyproject.toml", "conftest.py", "ecslab", "grader", "checks",
                    "resources"}, tops
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/." in n or n.startswith(".")]
    for name in ("checks/offline/test_task_run.py", "grader/catalogue.yaml", "grader/lms/autograder.py",
                 "grader/schemas/gradescope-results.schema.json", "resources/infrastructure.yaml"):
        assert name in names, name
    for script in ("setup.sh", "run_autograder"):
        assert modes[script] & stat.S_IXUSR, script
    source = _unpack(zip_path, tmp_path / "autograder")
    for script in ("setup.sh", "run_autograder"):
        syntax = subprocess.run(["bash", "-n", str(source / script)], capture_output=True, text=True, check=False)
        assert syntax.returncode == 0, syntax.stderr
    # What the instructor must set in Gradescope.
    assert "Ubuntu 24.04" in shown and f"Total des points du devoir (Settings) : {REQUIRED_OFFLINE:g}" in shown, shown
    assert str(zip_path) in shown


def test_setup_refuses_an_old_python_clearly(bundle, tmp_path: Path):
    source = _unpack(bundle[0], tmp_path / "autograder")
    fake = tmp_path / "python3.10"
    fake.write_text('#!/bin/sh\ncase "$2" in *print*) echo "Python 3.10";; *) exit 1;; esac\n')
    fake.chmod(0o755)
    empty_path = tmp_path / "bin"  # no apt-get there: nothing is installed
    empty_path.mkdir()
    done = subprocess.run(["/bin/bash", str(source / "setup.sh")], capture_output=True, text=True, check=False,
                          env={"PATH": str(empty_path), "AUTOGRADER_ROOT": str(tmp_path / "autograder"),
                               "ECS_LAB_PYTHON": str(fake)}, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Python 3.10" in done.stderr and "3.11" in done.stderr and "Ubuntu 24.04" in done.stderr, done.stderr
    assert not (tmp_path / "autograder" / "venv").exists()


def test_bundle_grades_a_nested_upload_of_the_reference(bundle, tmp_path: Path, gradescope_schema):
    root = tmp_path / "autograder"
    _unpack(bundle[0], root)
    upload = root / "submission" / "lab8" / "student_template"
    upload.mkdir(parents=True)
    for name in STUDENT_FILES:
        (upload / name).write_bytes((ROOT / "reference" / name).read_bytes())
    (root / "submission" / "README.md").write_text("mon rendu\n")
    done = _run_autograder(root)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(results, gradescope_schema)
    assert results["score"] == REQUIRED_OFFLINE + BONUS_OFFLINE, results["output"]
    assert results["max_score"] == REQUIRED_OFFLINE == sum(t["max_score"] for t in results["tests"])
    assert "lab8/student\\_template" in results["output"] and "Traceback" not in done.stdout + done.stderr
    assert f"noté sur {REQUIRED_OFFLINE:g} points vérifiables ici" in results["output"]
    by_id = {re.search(r"\((\w+)\)$", t["name"]).group(1): t for t in results["tests"]}
    assert {i for i, t in by_id.items() if t.get("status") == "passed"} == OFFLINE
    assert by_id["task_run"]["number"] == "2.4" and by_id["task_run"]["tags"] == ["part2"]


def test_empty_upload_gets_zero_and_a_message(bundle, tmp_path: Path, gradescope_schema):
    root = tmp_path / "autograder"
    _unpack(bundle[0], root)
    (root / "submission" / "lab8").mkdir(parents=True)
    (root / "submission" / "lab8" / "notes.txt").write_text("rien\n")
    done = _run_autograder(root)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(results, gradescope_schema)
    assert results["score"] == 0 and results["extra_data"]["graded"] is False
    assert results["output"].startswith("**Aucun fichier à noter"), results["output"]
    assert results["max_score"] == REQUIRED_OFFLINE


def test_run_autograder_writes_results_even_when_python_is_missing(bundle, tmp_path: Path, gradescope_schema):
    root = tmp_path / "autograder"
    _unpack(bundle[0], root)
    (root / "submission").mkdir()
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, capture_output=True,
                          text=True, timeout=60, check=False,
                          env=_env(AUTOGRADER_ROOT=str(root), ECS_LAB_PYTHON=str(tmp_path / "no-python")))
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(results, gradescope_schema)
    assert results["score"] == 0 and "Prévenez l'enseignant" in results["output"]


def test_bundle_command_refuses_bad_output_clearly(tmp_path: Path, capsys):
    assert main(["gradescope-bundle", str(tmp_path / "autograder.txt")]) == 2
    (tmp_path / "folder.zip").mkdir()
    assert main(["--lang", "en", "gradescope-bundle", str(tmp_path / "folder.zip")]) == 2
    shown = capsys.readouterr()
    assert "doit être un fichier .zip" in shown.err and "is a folder" in shown.err
    assert "Traceback" not in shown.out + shown.err


def test_bundle_command_in_english_with_the_other_policies(tmp_path: Path, capsys):
    out = tmp_path / "autograder.zip"
    assert main(["--lang", "en", "gradescope-bundle", str(out), "--ungraded", "zero", "--bonus", "ignore"]) == 0
    shown = capsys.readouterr().out
    assert "Assignment total points (Settings): 100" in shown and "Ubuntu 24.04" in shown
    for french in ("Dans Gradescope", "Déposez", "Image de base"):
        assert french not in shown
    with zipfile.ZipFile(out) as archive:
        script = archive.read("run_autograder").decode()
    assert "--ungraded=zero" in script and "--bonus=ignore" in script and "--lang=en" in script


# --- The policies, on one graded report -----------------------------------------------------------


def test_default_policy_is_what_the_grader_wrote(reference: Graded):
    report = gradescope.load_report(reference.report)
    assert gradescope.results(report) == reference.results


def test_zero_policy_counts_what_cannot_be_verified(reference: Graded, gradescope_schema):
    report = gradescope.load_report(reference.report)
    results = gradescope.results(report, gradescope.Policy(ungraded="zero", bonus="count"))
    jsonschema.validate(results, gradescope_schema)
    assert results["max_score"] == CATALOGUE.max_points == sum(t["max_score"] for t in results["tests"])
    assert results["score"] == REQUIRED_OFFLINE + BONUS_OFFLINE
    for checkpoint, test in zip(report.checkpoints, results["tests"]):
        if checkpoint.status == "not_graded" and not checkpoint.bonus:
            assert test["max_score"] == checkpoint.max_points and test["score"] == 0 and "status" not in test
            assert "Compté 0 sur" in test["output"], test
    assert "comptés 0 dans le total" in results["output"] and f"sur {CATALOGUE.max_points:g}" in results["output"]


def test_ignore_policy_shows_the_bonus_without_counting_it(reference: Graded, gradescope_schema):
    report = gradescope.load_report(reference.report)
    results = gradescope.results(report, gradescope.Policy(ungraded="exclude", bonus="ignore"))
    jsonschema.validate(results, gradescope_schema)
    assert results["score"] == REQUIRED_OFFLINE and results["max_score"] == REQUIRED_OFFLINE
    bonus = [t for c, t in zip(report.checkpoints, results["tests"]) if c.bonus]
    assert bonus and all(t["score"] == 0 and t["max_score"] == 0 for t in bonus)
    assert any(t.get("status") == "passed" and "non compté" in t["output"] for t in bonus)
    assert "affiché mais non compté" in results["output"]


def test_summary_in_english(reference: Graded):
    report = gradescope.load_report(reference.report)
    report.lang = "en"
    for policy in (gradescope.Policy(), gradescope.Policy("zero", "ignore")):
        results = gradescope.results(report, policy)
        text = results["output"] + "".join(t["output"] for c, t in zip(report.checkpoints, results["tests"])
                                           if c.status != "not_graded")
        assert "graded here" in text and "Total" in text
        for french in ("Note", "Vérifié", "vérifiables", "Calcul", "Réussi", "Exclu", "Compté", "comptés"):
            assert french not in text, (french, text)


def test_policy_refuses_unknown_names():
    with pytest.raises(ValueError):
        gradescope.Policy(ungraded="drop")
    with pytest.raises(ValueError):
        gradescope.Policy(bonus="double")


# --- GitHub Classroom -------------------------------------------------------------------------------


def _grade_step() -> tuple[dict, dict]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    step = next(s for s in job["steps"] if s.get("id") == "grade")
    return job, step


def test_workflow_installs_and_uploads_the_reports():
    job, _step = _grade_step()
    steps = job["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert str(python["with"]["python-version"]) == "3.11"
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "bubblewrap" in runs and 'pip install -e ".[grader]"' in runs
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "${{ env.ECS_LAB_REPORT_DIR }}" and upload.get("if") == "always()"
    assert "ECS_LAB_REPORT_DIR" in job["env"]


def test_classroom_step_grades_the_template_and_prints_points(template: Graded, tmp_path: Path):
    _job, step = _grade_step()
    reports = tmp_path / "reports"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=ROOT, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, check=False,
                          env=_env(ECS_LAB_REPORT_DIR=str(reports), PATH=path,
                                   GITHUB_OUTPUT=str(tmp_path / "output"),
                                   GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md")))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (reports / "report.json").is_file() and "Traceback" not in done.stdout + done.stderr
    expected = template.report
    score, total = expected["score"] + expected["bonus_score"], expected["graded_max"]
    points = re.findall(r"^Points (\S+)/(\S+)$", done.stdout, re.MULTILINE)
    assert points == [(f"{score:g}", f"{total:g}")], done.stdout[-2000:]
    assert "Note du lab 8" in done.stdout  # the grader's own summary is shown
    assert f"points={score:g}/{total:g}" in (tmp_path / "output").read_text()
    assert "vérifiables ici" in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_classroom_refuses_a_missing_submission_clearly(tmp_path: Path, capsys):
    assert main(["classroom", "--submission", str(tmp_path / "absent")]) == 2
    assert main(["--lang", "en", "classroom", "--submission", str(tmp_path),
                 "--report-dir", str(tmp_path / "reports")]) == 2
    shown = capsys.readouterr()
    assert "n'existe pas" in shown.err and "inside the graded folder" in shown.err
    assert "Traceback" not in shown.out + shown.err
