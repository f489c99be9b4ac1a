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


@pytest.fixture
def lab_stacks(account, submission):
    """Both lab stacks deployed into moto from the templates the student would deploy.

    The submission's own resources/ directory if it has one, the project's otherwise.
    """
    from ecslab.stacks import deploy_lab_stacks
    from grader.harness.aws import harness_client, harness_session

    templates = submission.path / "resources"
    outputs = deploy_lab_stacks(harness_session(), templates_dir=templates if templates.is_dir() else None)
    yield outputs
    ecr = harness_client("ecr")
    for repository in ecr.describe_repositories()["repositories"]:  # CloudFormation keeps non-empty ones
        images = ecr.list_images(repositoryName=repository["repositoryName"])["imageIds"]
        if images:
            ecr.batch_delete_image(repositoryName=repository["repositoryName"], imageIds=images)
    cfn = harness_client("cloudformation")
    for stack in ("ecs-lab-iam-roles", "ecs-lab-infrastructure"):
        cfn.delete_stack(StackName=stack)  # moto deletes the stacks' resources with them
