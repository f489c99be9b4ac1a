"""Call the student's code and turn whatever happens into feedback, never a traceback."""

from __future__ import annotations

import os
import traceback
from typing import Any, Callable

from _pytest.outcomes import OutcomeException

from grader.feedback import CheckFailed, Text, fail
from grader.harness.clock import VirtualTimeExceeded
from grader.watchdog import CheckTimeout

_ABORTS = (OutcomeException, KeyboardInterrupt, CheckFailed)  # pytest's own control flow
_ENDLESS: set[str] = set()  # student functions already seen looping forever in this run


class _HardExit(BaseException):
    """os._exit called by student code: it would end the grading process without a report."""

    def __init__(self, code: Any) -> None:
        super().__init__(code)
        self.code = code


def _refuse_hard_exit(code: Any = 0) -> None:
    raise _HardExit(code)


def where(error: BaseException, module_file: str | None) -> str:
    """' (ligne N)' of the deepest frame in the student's file, if any."""
    if not module_file:
        return ""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == module_file]
    return f" (ligne {frames[-1].lineno})" if frames else ""


def method(obj: Any, name: str) -> Callable:
    function = getattr(obj, name, None)
    if not callable(function):
        fail(f"La méthode {name} est introuvable : gardez le nom et la signature du modèle.",
             f"Method {name} not found: keep the template's name and signature.")
    return function


def outcome(what: Text, function: Callable, *args: Any, **kwargs: Any) -> tuple[Any, BaseException | None]:
    """Run student code; return (value, None) or (None, the exception it raised)."""
    code = getattr(function, "__code__", None)
    module_file = getattr(code, "co_filename", None)
    key = f"{module_file}:{getattr(code, 'co_firstlineno', '')}"
    if key in _ENDLESS:  # don't burn the time limit again on every check of this function
        fail(f"{what.fr} a déjà tourné sans fin dans une vérification précédente : corrigez d'abord la boucle.",
             f"{what.en} already ran forever in an earlier check: fix the loop first.")
    hard_exit, os._exit = os._exit, _refuse_hard_exit  # os._exit would kill the run, report unwritten
    try:
        return function(*args, **kwargs), None
    except _HardExit as error:
        fail(f"{what.fr} a appelé os._exit({error.code!r}), qui arrête tout le programme sans nettoyage : "
             "levez une exception à la place.",
             f"{what.en} called os._exit({error.code!r}), which ends the whole program without clean-up: "
             "raise an exception instead.")
    except (CheckTimeout, OutcomeException) as error:
        if isinstance(error, CheckTimeout) or "Timeout" in str(error):
            _ENDLESS.add(key)
        raise
    except _ABORTS:
        raise
    except VirtualTimeExceeded:
        fail(f"{what.fr} tourne sans fin : aucune limite de temps n'arrête la boucle.",
             f"{what.en} runs forever: no time limit stops the loop.")
    except NotImplementedError:
        fail(f"{what.fr} n'est pas encore implémentée (NotImplementedError).",
             f"{what.en} is not implemented yet (NotImplementedError).")
    except SystemExit as error:
        fail(f"{what.fr} a appelé sys.exit({error.code!r}) : levez une exception à la place.",
             f"{what.en} called sys.exit({error.code!r}): raise an exception instead.")
    except BaseException as error:  # noqa: BLE001 - judged by the caller
        error.grader_where = where(error, module_file)  # type: ignore[attr-defined]
        return None, error
    finally:
        os._exit = hard_exit


def call(what: Text, function: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run student code that must succeed; its exception becomes the feedback."""
    value, error = outcome(what, function, *args, **kwargs)
    if error is not None:
        fail_with(what, error)
    return value


def fail_with(what: Text, error: BaseException) -> None:
    """Fail the check with the exception the student's code raised."""
    detail = f"{type(error).__name__}: {error}{getattr(error, 'grader_where', '')}"
    fail(f"{what.fr} a levé une exception : {detail}", f"{what.en} raised an exception: {detail}")


def raised(what: Text, function: Callable, *args: Any, **kwargs: Any) -> BaseException | None:
    """Run student code that must fail; return its exception (None if it returned)."""
    return outcome(what, function, *args, **kwargs)[1]

