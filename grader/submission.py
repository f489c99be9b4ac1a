"""A submission, as the scorer sees it: files to read, never to run.

Only the two files of the lab's contract are handed to the worker (grader.worker); any other
file of the folder is ignored (a ``boto3.py``, ``sitecustomize.py``, ``conftest.py`` or
``pytest.ini`` shadows nothing). The source is read here only to flag what tries to reach the
grader or the solution (the sandbox hides them anyway): the instructor decides.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import grader
from ecslab.facts import STUDENT_MODULES
from grader.project import CHECKS_DIR, LAB_RESOURCES, PROJECT

FORBIDDEN_MODULES = ("grader", "reference", "checks", "tests", "ecslab", "standin")
# The grader's folders, in the checkout and where they are imported from (installed: site-packages).
FORBIDDEN_DIRS = tuple(dict.fromkeys([*(str(PROJECT / name) for name in FORBIDDEN_MODULES),
                                      str(CHECKS_DIR), str(Path(grader.__file__).resolve().parent)]))
MAX_SOURCE = 2 * 1024 * 1024


@dataclass
class Submission:
    path: Path
    files: dict[str, Path] = field(default_factory=dict)  # module name -> file, for those present
    flags: list[str] = field(default_factory=list)  # attempts to reach the grader or the solution
    ignored: list[str] = field(default_factory=list)  # other files of the folder

    @classmethod
    def open(cls, path: Path) -> "Submission":
        submission = cls(path=path)
        for module in STUDENT_MODULES:
            file = path / f"{module}.py"
            if file.is_file():
                submission.files[module] = file
                submission.flags += _flags(file)
        known = {f"{m}.py" for m in STUDENT_MODULES} | {"resources", "reports", "__pycache__"}
        try:
            submission.ignored = sorted(p.name for p in path.iterdir() if p.name not in known
                                        and not p.name.startswith("."))[:20]
        except OSError:
            pass
        return submission

    def changes_lab_files(self) -> bool:
        """True when the submission ships a file of resources/ other than the lab's own copy (the
        report then does not say that those checkpoints' points come from files the lab provides)."""
        own = self.path / "resources"
        if not own.is_dir():
            return False
        for lab_file in LAB_RESOURCES.iterdir():
            mine = own / lab_file.name
            try:
                if mine.is_symlink() or (mine.exists() and (not mine.is_file() or mine.stat().st_size > MAX_SOURCE
                                                            or mine.read_bytes() != lab_file.read_bytes())):
                    return True
            except OSError:
                return True
        return False

    def resource(self, name: str) -> Path | None:
        """The submission's own copy of a file of resources/, if it ships one."""
        own = self.path / "resources" / name
        return own if own.is_file() else None


def _flags(file: Path) -> list[str]:
    """Imports of the grader's packages, and paths into them, in a student's file."""
    try:
        if file.stat().st_size > MAX_SOURCE:
            return []
        tree = ast.parse(file.read_bytes(), filename=file.name)
    except (OSError, SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if any(d in text for d in FORBIDDEN_DIRS) or any(
                    f"{m}/" in text and ("/" + m) in "/" + text for m in ("reference", "grader", "checks")):
                found.append(f"{file.name}:{node.lineno} {text[:80]!r}")
            continue
        for name in names:
            if name.split(".", 1)[0] in FORBIDDEN_MODULES:
                found.append(f"{file.name}:{node.lineno} import {name}")
    return found[:10]
