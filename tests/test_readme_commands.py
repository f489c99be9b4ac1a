"""The README's first command works on a fresh machine: in a fresh copy of the project (the files
git tracks), it makes a virtual environment, installs the grader from the package index and grades
student_template/ offline, writing the four reports."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from fresh_copy import copy_project

ROOT = Path(__file__).resolve().parents[1]


def readme_first_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The two commands"):]
    return re.search(r"```bash\n(.+?)\n```", section, re.S).group(1).strip()


def test_the_first_command_of_the_readme_grades_the_template_in_a_fresh_copy(tmp_path):
    command = readme_first_command()
    assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && "), command
    copy = tmp_path / "lab"
    copy_project(copy)
    # What a fresh shell has: no virtual environment of ours, no project on the path.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_ADDOPTS")}
    proc = subprocess.run(["bash", "-c", command], cwd=copy, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Note : 13 / 65 points vérifiables hors ligne" in proc.stdout
    assert sorted(p.name for p in (copy / "reports").iterdir()) == [
        "report.html", "report.json", "report.md", "results.json"]
    # It graded with the copy's own grader, not this checkout's.
    assert str(copy) in proc.stdout
