"""The offline tier: one moto world for the whole tier, a clean account for every check."""

from __future__ import annotations

import pytest

from grader.harness.aws import moto_world, new_account
from grader.harness.lab import LabBase, provision_lab


@pytest.fixture(scope="package")
def world():
    with moto_world():
        yield


@pytest.fixture(scope="package")
def lab_base(world):
    return LabBase.provision(new_account())


@pytest.fixture
def account(world, lab_base):
    """A clean moto account; the student's calls through `account.session` are recorded."""
    return new_account()


@pytest.fixture
def lab(account, lab_base):
    """The lab's resources (subnets, security group, cluster, repositories, roles, bucket)."""
    return provision_lab(account, lab_base)
