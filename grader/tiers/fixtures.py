"""Fixtures every tier that runs the student's code shares: the submission, the student's code
for one check, and handles on its modules and its ``ImageClassifierOperations``.

Each tier's own fixtures (grader/tiers/<tier>/fixtures.py) provide ``world`` (its resources
for the whole tier, with ``worker``, ``flags``, ``endless`` and ``call_time_limit_s``) and
``account`` (one check's fresh view of it, with ``clock`` and ``requests``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from ecslab.facts import OPS_CLASS, OPS_MODULE, REGION, S3_IO_MODULE
from grader.feedback import fail
from grader.plugin.state import grading_key, record_flags, record_protections
from grader.student import Handle, Student
from grader.submission import Submission
from grader.worker.process import WorkerFailure
from grader.worker.values import SESSION


T = TypeVar("T")
_judged_once = pytest.StashKey[dict]()


def judged_once(request: pytest.FixtureRequest, make: Callable[[Callable[[str], Any]], T]) -> T:
    """What several checks of a module judge, made once a run by the first check that asks for it.

    The student's code then runs once for all of them instead of once per check: each check would fork
    the same zygote, in the same clean account, and get the same answer. `make(fixture)` takes the
    fixtures it needs by name (the first check's own account, lab, ops...); what it raised (a failed
    check, a check not graded) is raised again in every check that judges it.
    """
    made = request.config.stash.setdefault(_judged_once, {})
    key = f"{request.node.module.__name__}.{request.fixturename}"
    if key not in made:
        try:
            made[key] = (make(request.getfixturevalue), None)
        except (Exception, pytest.fail.Exception, pytest.skip.Exception) as raised:
            made[key] = (None, raised)
    value, raised = made[key]
    if raised is not None:
        raise raised
    return value


@pytest.fixture(scope="session")
def submission(pytestconfig: pytest.Config) -> Submission:
    return pytestconfig.stash[grading_key].open_submission()


@pytest.fixture
def student(pytestconfig: pytest.Config, world, account) -> Iterator[Student]:
    """The student's code for this check: a child of the tier's worker, killed when the check ends."""
    try:
        worker = world.worker
    except WorkerFailure as failure:
        if not failure.submission_fault:
            raise  # the grader's machine: the check is not graded
        fail("Votre code rend son processus inutilisable dès l'import (il s'arrête ou ne répond plus à chaque "
             "démarrage).", "Your code makes its process unusable from the import on (it ends or stops "
             "answering at every start).")
    record_protections(pytestconfig, worker.protections)

    def attach(process) -> None:
        if account.requests is not None:
            account.requests.on_stop = process.stop

    runner = Student(worker, account.clock, time_limit_s=world.call_time_limit_s, on_process=attach,
                     flags=world.flags, endless=world.endless, real_waits=getattr(world, "real_waits", None))
    try:
        yield runner
    finally:
        runner.close()
        record_flags(pytestconfig, world.flags + worker.flags)


@pytest.fixture
def ops_module(student: Student) -> Handle:
    """The student's image_classifier_operations module (a failed check if it cannot be imported)."""
    return student.module(OPS_MODULE)


@pytest.fixture
def s3_io(student: Student) -> Handle:
    """The student's s3_io module (bonus)."""
    return student.module(S3_IO_MODULE)


@pytest.fixture
def ops(student: Student) -> Handle:
    """ImageClassifierOperations(region, session) built by the student's code, on the tier's endpoints."""
    return student.new("ops", OPS_MODULE, OPS_CLASS, region=REGION, session=SESSION)
