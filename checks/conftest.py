"""Fixtures shared by the checks of every tier: the submission and the offline AWS account."""

from __future__ import annotations

import pytest

from grader.feedback import Text
from grader.harness import student
from grader.harness.aws import REGION
from grader.harness.clock import VirtualClock
from grader.plugin import grading_key
from grader.submission import Submission

OPS_MODULE = "image_classifier_operations"
S3_IO_MODULE = "s3_io"


@pytest.fixture(scope="session")
def submission(pytestconfig: pytest.Config) -> Submission:
    loaded = Submission(pytestconfig.stash[grading_key].submission)
    loaded.prefetch(OPS_MODULE, S3_IO_MODULE)
    return loaded


@pytest.fixture
def ops_module(submission: Submission):
    """The student's image_classifier_operations module (a failed check if it cannot load)."""
    return submission.module(OPS_MODULE)


@pytest.fixture
def s3_io(submission: Submission):
    """The student's s3_io module (bonus)."""
    return submission.module(S3_IO_MODULE)


@pytest.fixture
def clock(ops_module):
    """A virtual clock: sleeping costs no real time, time limits are still honoured."""
    with VirtualClock().install(ops_module) as virtual:
        yield virtual


@pytest.fixture
def ops(ops_module, account):
    """ImageClassifierOperations built from the student's module on the moto session."""
    cls = student.method(ops_module, "ImageClassifierOperations")
    return student.call(Text("ImageClassifierOperations(...)", "ImageClassifierOperations(...)"),
                        cls, region=REGION, session=account.session)
