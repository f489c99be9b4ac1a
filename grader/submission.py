"""Load a student's modules so that a broken file costs only the checks that use it.

Each module is first imported in a throw-away subprocess (with a time limit), which catches
syntax errors, import errors, `sys.exit` or `os._exit` at import time and endless loops
without risking the grading process; only a module that imports cleanly there is imported
in-process.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from grader.feedback import fail

IMPORT_TIME_LIMIT_S = 20

_PROBE = textwrap.dedent(
    """
    import sys, traceback
    sys.path.insert(0, sys.argv[1])
    try:
        __import__(sys.argv[2])
    except SystemExit as exc:
        print(f"SystemExit({exc.code!r})", file=sys.stderr); sys.exit(3)
    except BaseException as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(sys.argv[1])]
        where = f" ({frames[-1].filename.rsplit('/', 1)[-1]}, ligne {frames[-1].lineno})" if frames else ""
        if isinstance(exc, SyntaxError):
            where = f" ({(exc.filename or '').rsplit('/', 1)[-1]}, ligne {exc.lineno})"
        print(f"{type(exc).__name__}: {exc}{where}", file=sys.stderr); sys.exit(2)
    print(sys.argv[3], file=sys.stderr)
    """
)
# Printed by the probe once the import has returned: os._exit(0) at import also ends with code 0.
_IMPORTED = "grader-probe: import complete"


@dataclass
class Submission:
    """A directory holding the student's image_classifier_operations.py and s3_io.py."""

    path: Path
    _modules: dict[str, ModuleType] = field(default_factory=dict)
    _errors: dict[str, tuple[str, str]] = field(default_factory=dict)
    _probes: dict[str, "ImportProbe"] = field(default_factory=dict)

    def prefetch(self, *names: str) -> None:
        """Start the import probes now, in parallel, so that they overlap with other set-up."""
        for name in names:
            if name not in self._probes and (self.path / f"{name}.py").is_file():
                self._probes[name] = ImportProbe(self.path, name)

    def module(self, name: str) -> ModuleType:
        """The imported module, or a failed check explaining why it cannot be imported."""
        if name in self._modules:
            return self._modules[name]
        if name not in self._errors:
            self._load(name)
        if name in self._errors:
            fr, en = self._errors[name]
            fail(fr, en)
        return self._modules[name]

    def _load(self, name: str) -> None:
        file = self.path / f"{name}.py"
        if not file.is_file():
            self._errors[name] = (
                f"Fichier introuvable : {name}.py dans {self.path}.",
                f"File not found: {name}.py in {self.path}.",
            )
            return
        problem = (self._probes.pop(name, None) or ImportProbe(self.path, name)).problem()
        if problem:
            self._errors[name] = (
                f"{name}.py ne s'importe pas : {problem}. Corrigez cette erreur d'abord : "
                "aucune vérification qui utilise ce fichier ne peut passer.",
                f"{name}.py cannot be imported: {problem}. Fix this first: no check that "
                "uses this file can pass.",
            )
            return
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        if str(self.path) not in sys.path:
            sys.path.insert(0, str(self.path))
        try:
            spec.loader.exec_module(module)
        except BaseException as error:  # noqa: BLE001 - a student's import never stops the run
            sys.modules.pop(name, None)
            self._errors[name] = (
                f"{name}.py ne s'importe pas : {type(error).__name__}: {error}",
                f"{name}.py cannot be imported: {type(error).__name__}: {error}",
            )
            return
        self._modules[name] = module


class ImportProbe:
    """Import a module from `directory` in a subprocess and report what went wrong, if anything."""

    def __init__(self, directory: Path, name: str) -> None:
        env = {
            **os.environ,
            "PYTHONDONTWRITEBYTECODE": "1",
            # A module that calls AWS at import must not reach a real account from a grader.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        env.pop("AWS_PROFILE", None)
        self._process = subprocess.Popen(
            [sys.executable, "-c", _PROBE, str(directory), name, _IMPORTED],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, env=env,
        )

    def problem(self) -> str | None:
        try:
            _, stderr = self._process.communicate(timeout=IMPORT_TIME_LIMIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
            return (f"l'import ne se termine pas en {IMPORT_TIME_LIMIT_S} s (boucle infinie "
                    "ou attente au niveau du module ?)")
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        if self._process.returncode == 0:
            if lines and lines[-1] == _IMPORTED:
                return None
            return "l'import a arrêté le processus avec le code 0 avant sa fin (os._exit(0) ?)"
        if not lines:
            return f"le processus s'est arrêté avec le code {self._process.returncode} (os._exit ?)"
        return lines[-1]
