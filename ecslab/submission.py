"""Loading a student's module from a submission directory, by path.

The submission directory goes on ``sys.path`` so that the student's module can
import its siblings (``s3_io``). Any failure while loading (missing file,
syntax error, failing import, exception or ``sys.exit`` at import time) is a
:class:`SubmissionError` with a message for the student, never a traceback.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from ecslab.errors import LabError


class SubmissionError(LabError):
    """The submission's module could not be loaded (``key`` says why)."""

    def __init__(self, key: str, module: str, path: str, **params: object) -> None:
        super().__init__(key, module=module, path=path, **params)
        self.module = module
        self.path = path


def _forget_foreign_siblings(directory: Path) -> None:
    """Drop cached modules named like this submission's files but loaded from elsewhere.

    Without this, a second submission loaded in the same process would import
    the first one's ``s3_io``.
    """
    for source in directory.glob("*.py"):
        cached = sys.modules.get(source.stem)
        cached_file = getattr(cached, "__file__", None)
        if cached is not None and (cached_file is None or Path(cached_file).resolve().parent != directory):
            del sys.modules[source.stem]


def load_module(submission_dir: str | Path, name: str) -> ModuleType:
    """Import ``<submission_dir>/<name>.py`` freshly and return it (registered as ``name``)."""
    directory = Path(submission_dir).resolve()
    path = directory / f"{name}.py"
    if not directory.is_dir():
        raise SubmissionError("submission_missing_dir", module=name, path=str(directory))
    if not path.is_file():
        raise SubmissionError("submission_module_missing", module=name, path=str(path))

    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    _forget_foreign_siblings(directory)
    sys.modules.pop(name, None)

    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SubmissionError("submission_module_missing", module=name, path=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise SubmissionError(
            "submission_syntax_error",
            module=name,
            path=str(exc.filename or path),
            line=exc.lineno or 0,
            error=exc.msg,
        ) from None
    except ImportError as exc:
        sys.modules.pop(name, None)
        raise SubmissionError("submission_import_error", module=name, path=str(path), error=str(exc)) from None
    except (Exception, SystemExit) as exc:  # student code at import time: anything can happen
        sys.modules.pop(name, None)
        where = _student_frame(exc, directory)
        raise SubmissionError(
            "submission_exec_error",
            module=name,
            path=str(path),
            error=f"{type(exc).__name__}: {exc}{where}",
        ) from None
    return module


def _student_frame(exc: BaseException, directory: Path) -> str:
    """`` (fichier.py, ligne N)`` of the innermost frame inside the submission, if any."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve().parent == directory:
            return f" ({Path(frame.filename).name}:{frame.lineno})"
    return ""


def get_attribute(module: ModuleType, attribute: str) -> object:
    """``module.attribute`` or a :class:`SubmissionError` naming what is missing."""
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise SubmissionError(
            "submission_attribute_missing",
            module=module.__name__,
            path=str(getattr(module, "__file__", "?")),
            attribute=attribute,
        ) from None
