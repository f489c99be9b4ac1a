"""Learning platforms: Gradescope's results.json policy, the autograder bundle, GitHub Classroom.

The bundle is built with ``ecs-lab gradescope-bundle``, unpacked the way Gradescope does
(``autograder/source``) and its ``run_autograder`` run on an upload whose files sit in nested
folders; the Classroom workflow's grading step is run as GitHub Actions would run it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
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
from grader.lms import classroom, gradescope

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
    assert tops == {"setup.sh", "run_autograder", "pyproject.toml", "conftest.py", "ecslab", "standin", "grader", "checks",
                    "resources", "student_template"}, tops  # the template: setup.sh grades it as a trial
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
    # The grade, then the message as the next step (never an empty step of the handout).
    assert results["output"].startswith("## Note : 0 / 65\n\n**Aucun fichier à noter"), results["output"]
    assert "étape  de" not in results["output"] and "Prochaine étape" not in results["output"]
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


def _workflow() -> dict:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    return job


def test_workflow_grades_with_a_pinned_grader_never_the_repositorys():
    """The project's workflow is the one `ecs-lab classroom-workflow` writes, not yet pinned: it installs the
    instructor's release (hash checked) with its setup.sh, grades as root, uploads the reports."""
    assert WORKFLOW.read_text(encoding="utf-8") == classroom.workflow_text(classroom.PLACEHOLDER_URL,
                                                                            classroom.PLACEHOLDER_SHA256)
    job = _workflow()
    assert job["runs-on"] == "ubuntu-24.04"
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "sha256sum --check --strict" in runs and 'sudo AUTOGRADER_ROOT="$LAB8" bash "$LAB8/source/setup.sh"' in runs
    assert "pip install -e" not in runs and "grader.lms.classroom" in runs and "--repository" in runs
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "${{ runner.temp }}/lab8-reports" and upload.get("if") == "always()"


def _run_steps(job: dict, repository: Path, runner_temp: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The workflow's `run:` steps, in order, as GitHub Actions runs them (bash -e, the job's env, sudo)."""
    shim = runner_temp / "bin"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "sudo").write_text("#!/bin/sh\n# this user is root already: options dropped, VAR=value kept\n"
                               "while [ $# -gt 0 ]; do case \"$1\" in -*) shift;; *) break;; esac; done\n"
                               "exec env \"$@\"\n")
    (shim / "sudo").chmod(0o755)
    path = f"{shim}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    output = ""
    for step in job["steps"]:
        if "run" not in step:
            continue
        done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repository, capture_output=True, text=True,
                              timeout=900, check=False,
                              env=_env(**{**job["env"], **env, "PATH": path, "GITHUB_WORKSPACE": str(repository),
                                          "RUNNER_TEMP": str(runner_temp)}))
        output += done.stdout + done.stderr
        if done.returncode:
            return subprocess.CompletedProcess(done.args, done.returncode, output, "")
    return subprocess.CompletedProcess([], 0, output, "")


def test_classroom_grades_with_the_instructors_grader_whatever_the_repository_holds(bundle, template: Graded,
                                                                                     tmp_path: Path):
    """A student repository whose grader/ and checks/ pass everything: the workflow grades its two files with
    the pinned release, as root (bubblewrap), gives the template's grade, and flags the edits; a release whose
    zip does not match the pinned hash is refused before anything runs."""
    zip_path = bundle[0]
    repository = tmp_path / "repository"
    for name in ("grader", "checks", "student_template", "resources"):
        shutil.copytree(ROOT / name, repository / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copyfile(ROOT / name, repository / name)
    for check in (repository / "checks" / "offline").glob("test_*.py"):  # every check passes...
        check.write_text("def test_passes():\n    assert True\n", encoding="utf-8")
    (repository / "grader" / "results.py").write_text("SCORE = 100\n", encoding="utf-8")  # ...and the grader lies
    url = zip_path.as_uri()
    assert main(["classroom-workflow", "--grader-url", url, "--grader-zip", str(zip_path),
                 "--out", str(repository / ".github" / "workflows" / "classroom.yml")]) == 0
    job = yaml.safe_load((repository / ".github" / "workflows" / "classroom.yml").read_text(encoding="utf-8"))
    (job,) = job["jobs"].values()
    runner = tmp_path / "runner"
    env = {"LAB8": str(tmp_path / "opt-lab8"), "GITHUB_OUTPUT": str(tmp_path / "output"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    done = _run_steps(job, repository, runner, env)
    assert done.returncode == 0, "\n".join(l for l in done.stdout.splitlines() if "is ignored" not in l)[-4000:]
    expected = template.report
    score, total = expected["score"] + expected["bonus_score"], expected["graded_max"]
    assert re.findall(r"^Points (\S+)/(\S+)$", done.stdout, re.MULTILINE) == [(f"{score:g}", f"{total:g}")], \
        done.stdout[-3000:]
    assert "Signalé à l'enseignant" in done.stdout and "~ grader/results.py" in done.stdout
    assert "~ checks/offline/test_task_run.py" in done.stdout and ".github/workflows/classroom.yml" not in done.stdout
    reports = runner / "lab8-reports"
    assert (reports / "report.json").is_file() and (reports / "protected-files.txt").is_file()
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "Comment votre code a été exécuté" in summary and "bac à sable bubblewrap" in summary, summary
    assert "utilisateur non privilégié propre à cette notation" in summary, summary
    assert f"points={score:g}/{total:g}" in (tmp_path / "output").read_text()
    # A release that is not the pinned one: refused by its hash, nothing installed.
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(zip_path.read_bytes() + b"\0")
    job["env"]["GRADER_URL"] = tampered.as_uri()
    refused = _run_steps(job, repository, tmp_path / "runner2", {**env, "LAB8": str(tmp_path / "opt-lab8-2")})
    assert refused.returncode != 0 and "FAILED" in refused.stdout, refused.stdout[-2000:]
    assert not (tmp_path / "opt-lab8-2" / "venv").exists()


def test_classroom_refuses_a_missing_submission_clearly(tmp_path: Path, capsys):
    assert main(["classroom", "--submission", str(tmp_path / "absent")]) == 2
    assert main(["--lang", "en", "classroom", "--submission", str(tmp_path),
                 "--report-dir", str(tmp_path / "reports")]) == 2
    shown = capsys.readouterr()
    assert "n'existe pas" in shown.err and "inside the graded folder" in shown.err
    assert "Traceback" not in shown.out + shown.err
