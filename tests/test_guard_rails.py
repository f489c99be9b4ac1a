"""Guard rails (issue 11): a misuse of the grader stops with one clear sentence (French, English with
--lang en) and the right exit status, never a silent wrong grade nor an overwritten report.

Each test runs the grader as a student does (`python -m pytest` in a subprocess), from the project
root or from one of its folders, or from a copy of the project in a temporary folder; the reports
always go to a temporary folder. `ecs-lab`'s help is read in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from grading_support import REPORT_FILES, ROOT, _child_env

from ecslab.cli import main
from grader.plugin.options import marker_names

RUN_TIMEOUT_S = 240
USAGE_ERROR = 4
# pytest's own last line ("34 failed, 8 passed, 60 deselected, 11 errors in 3.31s"), which the grader replaces.
PYTEST_STATS = re.compile(r"\b\d+ (failed|passed|deselected|errors?)\b.* in [\d.]+s\b")


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
        python: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`python -m pytest ARGS` in `cwd`, a fresh run (none of this session's pytest settings)."""
    return subprocess.run([sys.executable, *python, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL,
                          env={**_child_env(), **(env or {})}, check=False)


def shown(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def explain(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"


def copy_project(target: Path) -> Path:
    """The project as a student has it (what a grading run reads), without tests, caches or reports."""
    ignored = shutil.ignore_patterns(".git", ".cache", ".pytest_cache", ".ruff_cache", "__pycache__",
                                     "*.egg-info", "reports", "build", "tests", "benchmarks")
    shutil.copytree(ROOT, target, ignore=ignored)
    return target


# --- 1. -m: every name must be a checkpoint, a tier or a known marker ------------------------------


def test_an_unknown_checkpoint_in_m_stops_before_anything_is_graded(tmp_path):
    reports = tmp_path / "reports"
    result = run("-m", "task_defintion", f"--report-dir={reports}")
    assert result.returncode == USAGE_ERROR, explain(result)
    assert "« task_defintion » (vouliez-vous dire task_definition ?)" in result.stderr, explain(result)
    assert "n'est ni un point de contrôle, ni un tier, ni un marqueur connu" in result.stderr
    assert "aucun rapport n'est écrit" in result.stderr
    assert "Traceback" not in shown(result) and not reports.exists()

    result = run("-m", "stackz or not (foo and offline)", f"--report-dir={reports}", "--lang", "en", "-n", "2")
    assert result.returncode == USAGE_ERROR, explain(result)
    assert '"stackz" (did you mean stacks?), "foo" are neither checkpoints, tiers nor known markers' \
        in result.stderr, explain(result)
    assert "Checkpoints: stacks, cluster," in result.stderr  # "foo" is close to nothing: the list
    assert "Traceback" not in shown(result) and not reports.exists()


def test_checkpoints_tiers_and_markers_are_accepted_in_m(tmp_path):
    result = run("--collect-only", "-q", "--tier=all", "-m", "local and not (task_definition or skip or timeout(seconds=1))",
                 f"--report-dir={tmp_path}")
    assert result.returncode == 0, explain(result)
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert collected and all(line.startswith("checks/local/") for line in collected), result.stdout
    assert not any("test_task_definition" in line for line in collected)


def test_marker_names_of_an_expression():
    assert marker_names("a and not (b or c(x=1, y='z')) or a") == ["a", "b", "c"]
    assert marker_names("task_definition") == ["task_definition"]
    assert marker_names("a $ b") is None  # pytest itself refuses it, and says why


# --- 2. --stage belongs to the aws tier ----------------------------------------------------------


def test_stage_without_the_aws_tier_is_a_usage_error(tmp_path):
    result = run("--stage", "part1", f"--report-dir={tmp_path / 'reports'}")
    assert result.returncode == USAGE_ERROR, explain(result)
    assert "--stage part1 ne s'applique qu'au tier aws : ajoutez --tier aws (ou --tier all)" in result.stderr
    assert not (tmp_path / "reports").exists()
    result = run("--stage=final", "--tier=local", "--lang=en", f"--report-dir={tmp_path / 'reports'}")
    assert result.returncode == USAGE_ERROR, explain(result)
    assert "--stage final applies to the aws tier only: add --tier aws (or --tier all)" in result.stderr
    assert "(tier chosen: local)" in result.stderr
    assert "Traceback" not in shown(result) and not (tmp_path / "reports").exists()


# --- 3. `pytest` typed in a folder of the project grades as from its root --------------------------


def test_pytest_in_student_template_grades_as_from_the_root(tmp_path):
    project = copy_project(tmp_path / "lab")
    # `python -m pytest` puts the folder first on sys.path: the scorer must not import a module from there.
    (project / "student_template" / "boto3.py").write_text("raise SystemExit('the scorer imported boto3.py')\n")
    env = {"PYTHONPATH": str(project)}  # this copy's grader, as `pip install -e .` in it would give
    result = run("-q", cwd=project / "student_template", env=env)
    assert result.returncode == 0, explain(result)
    report = json.loads((project / "reports" / "report.json").read_text(encoding="utf-8"))
    assert report["submission"] == "student_template"
    checkpoints = {c["id"]: c for c in report["checkpoints"]}
    assert checkpoints["stacks"]["status"] == "passed" and checkpoints["task_definition"]["status"] == "failed"
    assert not (project / "student_template" / "reports").exists()
    assert "the scorer imported boto3.py" not in shown(result)

    # Paths given on the command line stay relative to where pytest was typed.
    result = run("--submission=.", "--report-dir=../out", "--lang=en", "-m", "stacks", cwd=project / "student_template",
                 env=env)
    assert result.returncode == 0, explain(result)
    assert "graded as from the project's root" in result.stdout, explain(result)
    partial = json.loads((project / "out" / "partial" / "report.json").read_text(encoding="utf-8"))
    assert partial["submission"] == "student_template"
    assert {c["id"]: c["status"] for c in partial["checkpoints"]}["stacks"] == "passed"


# --- 4. the grader must be the one of the project pytest runs in --------------------------------------


def test_a_grader_from_another_checkout_is_refused(tmp_path):
    other = tmp_path / "other-lab"
    other.mkdir()
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy(ROOT / name, other / name)
    for folder in ("grader", "checks", "student_template"):
        shutil.copytree(ROOT / folder, other / folder, ignore=shutil.ignore_patterns("__pycache__"))
    # The grader of ROOT (PYTHONPATH), pytest started in the other copy (-P: not its own folder first).
    env = {"PYTHONPATH": str(ROOT)}
    result = run(f"--report-dir={tmp_path / 'reports'}", cwd=other, env=env, python=("-P",))
    assert result.returncode == USAGE_ERROR, explain(result)
    assert f"le paquet grader vient de {ROOT}, mais pytest tourne dans {other.resolve()}" in result.stderr, \
        explain(result)
    assert "python -m pip install -e ." in result.stderr
    result = run("--lang=en", f"--report-dir={tmp_path / 'reports'}", cwd=other, env=env, python=("-P",))
    assert result.returncode == USAGE_ERROR, explain(result)
    assert f"the grader package comes from {ROOT}, but pytest runs in {other.resolve()}" in result.stderr
    assert "Traceback" not in shown(result) and not (tmp_path / "reports").exists()


def test_a_check_the_grader_cannot_load_is_shown_as_the_graders_error(tmp_path):
    """Tracebacks are hidden for the feedback's sake; a check module that does not import stops the run
    before any grade, and must say so (it once printed only "1 error during collection")."""
    copy = copy_project(tmp_path / "lab")
    broken = copy / "checks" / "offline" / "test_task_definition.py"
    broken.write_text(broken.read_text(encoding="utf-8") + "\nimport a_module_the_grader_lacks\n", encoding="utf-8")
    env = {"PYTHONPATH": str(copy)}
    result = run(f"--report-dir={tmp_path / 'reports'}", cwd=copy, env=env, python=("-P",))
    assert result.returncode != 0, explain(result)
    assert "Le correcteur n'a pas pu charger ses vérifications" in result.stdout, explain(result)
    assert "checks/offline/test_task_definition.py" in result.stdout
    assert "No module named 'a_module_the_grader_lacks'" in result.stdout
    assert "erreur du correcteur, pas de votre rendu" in result.stdout
    result = run("--lang=en", f"--report-dir={tmp_path / 'reports'}", cwd=copy, env=env, python=("-P",))
    assert "The grader could not load its checks" in result.stdout, explain(result)
    assert "the grader's error, not your submission's" in result.stdout


# --- 5. a -m/-k selection writes its reports beside the full ones ----------------------------------


def test_a_selection_never_replaces_the_full_report(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "report.html").write_text("the full report")
    result = run("-m", "stacks", f"--report-dir={reports}", "-q")
    assert result.returncode == 0, explain(result)
    assert (reports / "report.html").read_text() == "the full report"
    assert sorted(p.name for p in (reports / "partial").iterdir()) == sorted(REPORT_FILES)
    assert (f"Rapport partiel (-m stacks) : {reports / 'partial' / 'report.html'} ; le rapport complet "
            f"{reports / 'report.html'} n'est pas remplacé.") in result.stdout, explain(result)

    elsewhere = tmp_path / "first-run"
    result = run("-k", "web_task_definition", f"--report-dir={elsewhere}", "--lang=en", "-q")
    assert result.returncode == 0, explain(result)
    assert not (elsewhere / "report.json").exists() and (elsewhere / "partial" / "report.json").is_file()
    assert "Partial report (-k web_task_definition):" in result.stdout, explain(result)
    assert "no full report yet (run pytest without -m or -k" in result.stdout


# --- 6, 7. the last lines: the checks, then the --fail-under gate ----------------------------------


def test_the_last_line_counts_checks_not_pytest_outcomes(tmp_path):
    result = run("-m", "stacks or task_definition", f"--report-dir={tmp_path}")
    assert result.returncode == 0, explain(result)
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"=+ 11 vérifications en [\d,]+ s : 5 réussies, 6 échouées, 0 non notée "
                        r"\(le détail et la note sont ci-dessus\) =+", last), last
    assert not PYTEST_STATS.search("\n".join(result.stdout.splitlines()[-3:])), explain(result)

    junit = tmp_path / "junit.xml"
    result = run("-m", "stacks or task_definition", f"--report-dir={tmp_path}", "-q", "-n", "2", "--lang=en",
                 f"--junitxml={junit}")
    assert result.returncode == 0, explain(result)
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"11 checks in [\d.]+ s: 5 passed, 6 failed, 0 not graded \(details and grade above\)",
                        last), last
    assert not PYTEST_STATS.search("\n".join(result.stdout.splitlines()[-3:])), explain(result)
    assert junit.is_file() and 'tests="11"' in junit.read_text()

    result = run("-m", "task_definition", f"--report-dir={tmp_path}", "-x")  # stops at the first failed check
    assert result.returncode == 0, explain(result)
    assert "1 vérification en" in result.stdout and "0 réussie, 1 échouée" in result.stdout, explain(result)


def test_fail_under_says_why_the_run_fails(tmp_path):
    result = run("-m", "stacks", "--fail-under=50", f"--report-dir={tmp_path}", "-q")
    assert result.returncode == 1, explain(result)
    assert result.stdout.strip().splitlines()[-1] == \
        "--fail-under=50 : note 8/100, inférieure au seuil : code de sortie 1.", explain(result)
    result = run("-m", "stacks", "--fail-under=7.5", "--lang=en", f"--report-dir={tmp_path}", "-q")
    assert result.returncode == 0, explain(result)
    assert result.stdout.strip().splitlines()[-1] == \
        "--fail-under=7.5: score 8/100, at or above the threshold: exit status 0.", explain(result)


# --- 8. ecs-lab's help in the run's language ----------------------------------------------------------


def help_of(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0  # --help: main returns argparse's status, it does not exit
    return capsys.readouterr().out


def test_ecs_lab_help_is_french_by_default_and_english_with_lang_en(capsys, monkeypatch):
    monkeypatch.delenv("ECS_LAB_LANG", raising=False)
    text = help_of(capsys, "--help")
    assert text.startswith("usage : ecs-lab")
    for french in ("arguments positionnels :", "options :", "afficher cette aide et quitter", "COMMANDE",
                   "supprimer toutes les ressources du lab", "noter une classe"):
        assert french in text, french
    for english in ("usage:", "show this help", "positional arguments", "options:"):
        assert english not in text, english

    text = help_of(capsys, "--lang", "en", "--help")
    assert text.startswith("usage: ecs-lab")
    for english in ("positional arguments:", "options:", "show this help message and exit", "COMMAND",
                    "delete all the lab's resources", "grade a class", "language of the messages"):
        assert english in text, english
    assert "défaut" not in text and "afficher" not in text
    assert argparse._("usage: ") == "usage: "  # argparse's own words are put back


@pytest.mark.parametrize("command", ["grade", "gradescope-bundle", "classroom", "push"])
def test_subcommand_help_follows_the_language(command, capsys, monkeypatch):
    monkeypatch.setenv("ECS_LAB_LANG", "fr")
    french = help_of(capsys, command, "--help")
    assert french.startswith(f"usage : ecs-lab {command}") and "afficher cette aide et quitter" in french
    monkeypatch.setenv("ECS_LAB_LANG", "en")
    english = help_of(capsys, command, "--help")
    assert english.startswith(f"usage: ecs-lab {command}") and "show this help message and exit" in english
    assert "défaut" not in english and "dossier" not in english, english
    expected = {"grade": ("un rendu (dossier ou .zip)", "a submission (folder or .zip)"),
                "gradescope-bundle": ("le zip à écrire", "the zip to write"),
                "classroom": ("dossier à noter", "folder to grade"),
                "push": ("dossier de votre code", "folder of your code")}[command]
    assert expected[0] in french and expected[1] in english
    assert help_of(capsys, command, "--lang=fr", "--help") == french  # --lang wins over $ECS_LAB_LANG


def test_usage_errors_follow_the_language(capsys, monkeypatch):
    monkeypatch.delenv("ECS_LAB_LANG", raising=False)
    assert main(["push", "database"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage : ecs-lab push") and "Erreur : argument target : choix invalide : 'database'" in err
    assert main(["push", "database", "--lang", "en"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ecs-lab push") and "Error: argument target: invalid choice: 'database'" in err
    assert main([]) == 2
    assert "Erreur : arguments obligatoires manquants : COMMANDE" in capsys.readouterr().err
