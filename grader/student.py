"""The student's code, as the checks see it: handles on objects that live in the worker, and
outcomes turned into feedback.

    ops = student.new("ops", "ImageClassifierOperations", region=REGION, session=SESSION)
    arn = ops.call("register_image_classifier_task_definition", image, role, execution_role)
    outcome = ops.run("monitor_task", cluster, arn, poll_interval=10.0, timeout=300.0)

``call`` returns the value or fails the check with what went wrong (an exception, a missing
method, an endless loop, a crash...); ``run`` returns the :class:`Outcome` for the check to
judge. Nothing here executes the student's code: it runs in the worker (grader.worker).
"""

from __future__ import annotations

from typing import Any

from grader.feedback import NotGraded, Text, fail, shorten
from grader.worker.process import ImportProblem, Outcome, Worker, WorkerFailure
from grader.worker.values import StudentError

__all__ = ["NO_EXCEPTION", "Handle", "Outcome", "Student", "StudentError", "answered", "error_text",
           "expect_returned", "failure_key", "failure_text", "import_problem_text"]


class Student:
    """The student's code for one check: a child of the worker, forked at the first call."""

    def __init__(self, worker: Worker, clock: Any = None, *, time_limit_s: float = 15.0,
                 on_process: Any = None, flags: list[str] | None = None, endless: set[str] | None = None,
                 real_waits: dict[str, Outcome] | None = None) -> None:
        self.worker = worker
        self.clock = clock
        self.time_limit_s = time_limit_s
        self.on_process = on_process  # called with the check's process once forked
        self.flags = flags if flags is not None else []
        self.endless = endless if endless is not None else set()  # targets that never returned in this run
        # targets that waited in real time in a way the virtual clock could not cover: not graded again
        self.real_waits = real_waits if real_waits is not None else {}
        self._process = None

    @property
    def process(self):
        if self._process is None:
            try:
                self._process = self.worker.fork(self.clock)
            except WorkerFailure as failure:
                if not failure.submission_fault:
                    raise  # the grader's machine: the check is not graded
                fail("Le processus où s'exécute votre code ne répond plus : ce que vos modules font à l'import "
                     "(remplacer des fonctions de Python, arrêter le processus...) l'a rendu inutilisable.",
                     "The process that runs your code no longer answers: what your modules do at import "
                     "(replacing Python's functions, ending the process...) made it unusable.")
            if self.on_process is not None:
                self.on_process(self._process)
        return self._process

    def close(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None

    # --- handles -------------------------------------------------------------------------
    def module(self, name: str) -> "Handle":
        """A module of the submission (fails the check when it cannot be imported)."""
        problem = self.worker.module_problem(name)
        if problem is not None:
            text = import_problem_text(f"{name}.py", problem)
            fail(text.fr, text.en, key=f"student.import.{name}.{problem.kind}")
        return Handle(self, f"{name}:", name)

    def new(self, handle: str, module: str, attribute: str, *args: Any, **kwargs: Any) -> "Handle":
        """`module.attribute(*args, **kwargs)` kept in the worker as `handle` (the student's object)."""
        owner = self.module(module)
        outcome = self.run(f"{owner.prefix}{attribute}", f"{attribute}(...)", args, kwargs, keep=handle)
        expect_returned(outcome, f"{attribute}(...)")
        return Handle(self, f"{handle}.", handle)

    def run(self, target: str, label: str, args: tuple, kwargs: dict, keep: str | None = None,
            time_limit_s: float | None = None) -> Outcome:
        """The call's outcome; NotGraded when it waited in real time beyond what the virtual clock covers."""
        if target in self.endless:
            return Outcome("timeout", detail="again")
        if target in self.real_waits:
            raise NotGraded(failure_text(self.real_waits[target], label))
        outcome = self.process.call(target, args, kwargs, keep=keep, time_limit_s=time_limit_s or self.time_limit_s)
        for flag in outcome.flags:
            if flag not in self.flags:
                self.flags.append(flag)
        if outcome.status == "timeout":
            self.endless.add(target)
        if outcome.status == "real_wait":  # not an answer to judge: the grader's limit, the check is not graded
            self.real_waits[target] = Outcome("real_wait", detail=outcome.detail, reason=outcome.reason)
            flag = f"real-time wait, checks not graded: {label}"  # a submission could dodge checks this way
            if flag not in self.flags:
                self.flags.append(flag)
            raise NotGraded(failure_text(outcome, label))
        return outcome


class Handle:
    """A module or an object of the student's, living in the worker."""

    def __init__(self, student: Student, prefix: str, name: str) -> None:
        self.student = student
        self.prefix = prefix  # "s3_io:" (a module) or "ops." (a kept object)
        self.name = name

    def run(self, method: str, *args: Any, time_limit_s: float | None = None, **kwargs: Any) -> Outcome:
        """Call `method`; whatever happens is returned, for the check to judge."""
        return self.student.run(f"{self.prefix}{method}", method, args, kwargs, time_limit_s=time_limit_s)

    def call(self, method: str, *args: Any, time_limit_s: float | None = None, **kwargs: Any) -> Any:
        """Call `method`, which must return: its value, or the check fails with what happened."""
        outcome = self.run(method, *args, time_limit_s=time_limit_s, **kwargs)
        expect_returned(outcome, method)
        return outcome.value

    def answer(self, method: str, *args: Any, time_limit_s: float | None = None, **kwargs: Any) -> Outcome:
        """Call `method`, which must return or raise (the check judges which): its outcome.

        Anything else (a missing method, NotImplementedError, sys.exit, a loop, a crash) fails the
        check with what happened: none of these is an answer.
        """
        return answered(self.run(method, *args, time_limit_s=time_limit_s, **kwargs), method)

    def raised(self, method: str, *args: Any, **kwargs: Any) -> StudentError | None:
        """Call `method`, which must raise: its exception (None if it returned)."""
        outcome = self.run(method, *args, **kwargs)
        if outcome.status == "raised" and not _aborts(outcome.error):
            return outcome.error
        if outcome.status == "returned":
            return None
        fail_with(outcome, method)


def error_text(error: StudentError | None, nothing: Text | None = None) -> Text | None:
    """The student's exception in both languages ("ValueError: ... (file.py, line 12)"), for a check's `seen`."""
    if error is None:
        return nothing
    return Text(shorten(error.summary("fr"), 320), shorten(error.summary("en"), 320))


NO_EXCEPTION = Text("aucune exception", "no exception")


def _aborts(error: StudentError | None) -> bool:
    """What is never an answer of the student's function: it did not finish its job."""
    return error is not None and (error.is_a("NotImplementedError") or error.is_a("SystemExit"))


def answered(outcome: Outcome, what: str) -> Outcome:
    """`outcome` when it is an answer (a value, or an exception the code raised: Handle.answer); anything
    else fails the check with what happened."""
    if outcome.status == "returned" or (outcome.status == "raised" and not _aborts(outcome.error)):
        return outcome
    fail_with(outcome, what)


def expect_returned(outcome: Outcome, what: str) -> None:
    if outcome.status != "returned":
        fail_with(outcome, what)


def fail_with(outcome: Outcome, what: str) -> None:
    text = failure_text(outcome, what)
    fail(text.fr, text.en, key=failure_key(outcome, what))


def failure_key(outcome: Outcome, what: str) -> str:
    """The same for every submission whose `what` failed the same way (`ops.monitor_task.raised.ClientError`)."""
    kind = outcome.status
    if kind == "raised" and outcome.error is not None:
        name = "".join(c for c in outcome.error.type_name if c.isalnum() or c == "_")[:60]
        kind += "." + (name or "exception")
    return f"student.{what}.{kind}"


def failure_text(outcome: Outcome, what: str) -> Text:
    """Why the student's function did not give an answer, in both languages.

    When the student's call raised, its exception is the message, even when the call was then
    stopped (a time limit, the scorer's scenario): what the code said beats what it might have done.
    """
    status, error = outcome.status, outcome.error
    if error is not None and status not in ("returned", "missing"):
        status = "raised"
    if status == "missing":
        if outcome.missing == what or not outcome.missing:
            return Text(f"La méthode {what} est introuvable : gardez le nom et la signature du modèle.",
                        f"Method {what} not found: keep the template's name and signature.")
        return Text(f"{what} : « {outcome.missing} » est introuvable : gardez les noms du modèle.",
                    f"{what}: \"{outcome.missing}\" not found: keep the template's names.")
    if status == "raised" and error is not None:
        if error.is_a("NotImplementedError"):
            return Text(f"{what} n'est pas encore implémentée (NotImplementedError).",
                        f"{what} is not implemented yet (NotImplementedError).")
        if error.is_a("SystemExit"):
            code = error.attribute("code")
            return Text(f"{what} a appelé sys.exit({code!r}) : levez une exception à la place.",
                        f"{what} called sys.exit({code!r}): raise an exception instead.")
        return Text(f"{what} a levé une exception : {error.summary('fr')}",
                    f"{what} raised an exception: {error.summary('en')}")
    if status == "timeout":
        if outcome.detail == "again":
            return Text(f"{what} a déjà tourné sans fin dans une vérification précédente : corrigez d'abord la boucle.",
                        f"{what} already ran forever in an earlier check: fix the loop first.")
        shown = _last_exception(outcome)
        if shown:
            return Text(f"{what} ne rend pas la main (arrêtée au bout de {outcome.detail} s) après avoir affiché "
                        f"une exception : {shown}",
                        f"{what} does not return (stopped after {outcome.detail} s) after printing an exception: "
                        f"{shown}")
        return Text(f"{what} ne répond pas : arrêtée au bout de {outcome.detail} s. Boucle sans fin, ou attente "
                    "sans limite de temps ?",
                    f"{what} does not answer: stopped after {outcome.detail} s. An endless loop, or a wait "
                    "without a time limit?")
    if status == "real_wait":
        seen = outcome.reason if isinstance(outcome.reason, Text) else Text(outcome.detail, outcome.detail)
        return Text(f"{what} attend en temps réel, d'une façon que le correcteur ne sait pas faire passer en temps "
                    f"virtuel ; arrêtée à la limite de temps. Vu : {seen.fr}. Un programme lancé sans "
                    "l'environnement reçu (LD_PRELOAD), ou une entrée-sortie qui ne répond jamais ?",
                    f"{what} waits in real time, in a way the grader cannot turn into virtual time; stopped at "
                    f"the time limit. Seen: {seen.en}. A program started without the environment it was given "
                    "(LD_PRELOAD), or I/O that never answers?")
    if status == "endless":
        hours = float(outcome.detail or 0) / 3600
        return Text(f"{what} tourne sans fin : aucune limite de temps n'arrête la boucle (arrêtée après "
                    f"{hours:g} h de temps virtuel).",
                    f"{what} runs forever: no time limit stops the loop (stopped after {hours:g} h of "
                    "virtual time).")
    if status == "stopped":
        reason = outcome.reason if isinstance(outcome.reason, Text) else Text(str(outcome.reason), str(outcome.reason))
        return Text(f"{what} a été arrêtée : {reason.fr}.", f"{what} was stopped: {reason.en}.")
    if status == "crashed":
        return Text(f"{what} a fait planter son processus ({_signal_text(outcome.detail).fr}).",
                    f"{what} crashed its process ({_signal_text(outcome.detail).en}).")
    if status == "exited" and _signal_of_status(outcome.detail):
        signal_text = _signal_text(_signal_of_status(outcome.detail))
        return Text(f"{what} a fait planter son processus ({signal_text.fr}).",
                    f"{what} crashed its process ({signal_text.en}).")
    if status == "exited":
        return Text(f"{what} a arrêté son processus (os._exit({outcome.detail}) ?) sans rendre la main : levez "
                    "une exception à la place.",
                    f"{what} ended its process (os._exit({outcome.detail})?) without returning: raise an "
                    "exception instead.")
    return Text(f"{what} : réponse illisible de son processus ({outcome.detail}).",
                f"{what}: unreadable answer from its process ({outcome.detail}).")


def _last_exception(outcome: Outcome) -> str:
    """The last "SomeError: message" line the student's code printed (a traceback, a logged error), or ""."""
    import re

    for line in reversed(outcome.output.splitlines()[-40:]):
        line = line.strip()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\b.*:", line):
            return shorten(line, 300)
    return ""


def _signal_text(name: str) -> Text:
    known = {
        "SIGSEGV": Text("SIGSEGV : erreur de segmentation, accès mémoire invalide ou pile C épuisée",
                        "SIGSEGV: segmentation fault, invalid memory access or C stack exhausted"),
        "SIGKILL": Text("SIGKILL : tué, mémoire épuisée (le noyau arrête le code étudiant en premier) ou limite "
                        "de temps de calcul atteinte ?",
                        "SIGKILL: killed, memory exhausted (the kernel stops the student's code first) or CPU time "
                        "limit reached?"),
        "SIGXCPU": Text("SIGXCPU : limite de temps de calcul atteinte", "SIGXCPU: CPU time limit reached"),
        "SIGABRT": Text("SIGABRT : arrêt brutal (abort)", "SIGABRT: aborted"),
    }
    return known.get(name, Text(name, name))


def _signal_of_status(detail: Any) -> str:
    """The signal's name when an exit status says "killed by a signal": -N (Python's returncode) or
    128 + N (a shell's, bubblewrap's)."""
    import signal

    try:
        status = int(detail)
        number = -status if status < 0 else status - 128 if 128 < status < 128 + 65 else 0
        return signal.Signals(number).name if number else ""
    except (TypeError, ValueError):
        return ""


def import_problem_text(file: str, problem: ImportProblem) -> Text:
    """`file` cannot be used: why, and that it comes first."""
    kind = problem.kind
    if kind == "absent":
        return Text(f"Fichier introuvable : {file} dans le rendu.", f"File not found: {file} in the submission.")
    if kind == "raised" and problem.error is not None:
        error = problem.error
        if error.is_a("SystemExit"):
            detail = Text(f"SystemExit({error.attribute('code')!r}) : le module appelle sys.exit à l'import "
                          "(il manque la garde if __name__ == \"__main__\" ?)",
                          f"SystemExit({error.attribute('code')!r}): the module calls sys.exit at import "
                          "(is the if __name__ == \"__main__\" guard missing?)")
        else:
            detail = Text(error.summary("fr"), error.summary("en"))
    elif kind == "timeout":
        detail = Text(f"l'import ne se termine pas en {problem.detail} s (boucle infinie ou attente au niveau du "
                      "module ?)",
                      f"the import does not finish in {problem.detail} s (an endless loop or a wait at module "
                      "level?)")
    elif kind == "endless":
        detail = Text("l'import ne se termine pas en 600 s de temps virtuel (boucle infinie ou attente au niveau "
                      "du module ?)",
                      "the import does not finish in 600 s of virtual time (an endless loop or a wait at module "
                      "level?)")
    elif kind == "exited" and _signal_of_status(problem.detail):
        # bubblewrap reports a child killed by a signal as the status 128 + the signal's number
        signal_text = _signal_text(_signal_of_status(problem.detail))
        detail = Text(f"l'import a fait planter le processus ({signal_text.fr})",
                      f"the import crashed the process ({signal_text.en})")
    elif kind == "exited":
        detail = Text(f"l'import a arrêté le processus (os._exit({problem.detail}) ?) avant sa fin",
                      f"the import ended the process (os._exit({problem.detail})?) before it finished")
    else:
        detail = Text(kind, kind)
    return Text(f"{file} ne s'importe pas : {detail.fr}. Corrigez cette erreur d'abord : aucune vérification qui "
                "utilise ce fichier ne peut passer.",
                f"{file} cannot be imported: {detail.en}. Fix this first: no check that uses this file can pass.")
