"""The offline tier's fixtures: one world for the tier, a clean account for every check.

``world`` (package), ``account`` (per check: clean moto state, the check's scenario, clock and
Docker engine), ``lab`` (the lab's resources made by the scorer), ``lab_stacks`` (both stacks
deployed from the templates the student would deploy).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ecslab.facts import IAM_STACK, INFRASTRUCTURE_STACK
from grader.tiers.fixtures import *  # noqa: F403 - the fixtures every tier shares
from grader.tiers.offline.provision import LabResources, create_output_stacks, lab_stack_outputs, provision_lab
from grader.tiers.offline.world import Account, OfflineWorld


@pytest.fixture(scope="package")
def world(submission) -> Iterator[OfflineWorld]:
    with OfflineWorld(submission) as offline:
        gc.freeze()  # moto's million objects of set-up stay: the collector need not look at them again
        yield offline


@pytest.fixture
def account(world: OfflineWorld) -> Account:
    """A clean moto account; the student's requests are recorded in `account.requests`."""
    return world.reset()


@pytest.fixture
def lab(account: Account, world: OfflineWorld) -> LabResources:
    """The lab's resources (subnets, security group, cluster, repositories, roles, bucket)."""
    return provision_lab(world.base)


@pytest.fixture
def lab_outputs(account: Account, lab: LabResources) -> dict[str, str]:
    """Both stacks present with every output the lab's code reads, pointing at `lab`'s resources.

    For checks of the Python code (the main): the templates are graded by `stacks`, so a
    check of the code neither depends on them nor waits for a real deployment.
    """
    outputs = lab_stack_outputs(lab)
    create_output_stacks(account.client("cloudformation"), outputs)
    return outputs


@pytest.fixture
def lab_stacks(account: Account, submission) -> Iterator[dict[str, str]]:
    """Both lab stacks deployed into moto from the templates the student would deploy.

    The submission's own resources/ directory if it has one, the project's otherwise.
    """
    from ecslab.stacks import IAM_TEMPLATE, INFRASTRUCTURE_TEMPLATE, deploy_lab_stacks
    from grader.feedback import fail
    from grader.judges.templates import UnsafeTemplate, safe_text

    templates = submission.path / "resources"
    for name in (INFRASTRUCTURE_TEMPLATE, IAM_TEMPLATE):
        own = submission.resource(name)
        try:
            if own is not None:
                safe_text(own)  # moto parses the template in this process: refuse what could sink it
        except UnsafeTemplate as refused:
            fail(f"Modèle refusé : {refused}.", f"Template refused: {refused}.")
    outputs = deploy_lab_stacks(account.world.session, templates_dir=templates if templates.is_dir() else None)
    yield outputs
    ecr = account.client("ecr")
    for repository in ecr.describe_repositories()["repositories"]:  # CloudFormation keeps non-empty ones
        images = ecr.list_images(repositoryName=repository["repositoryName"])["imageIds"]
        if images:
            ecr.batch_delete_image(repositoryName=repository["repositoryName"], imageIds=images)
    cfn = account.client("cloudformation")
    for stack in (IAM_STACK, INFRASTRUCTURE_STACK):
        cfn.delete_stack(StackName=stack)  # moto deletes the stacks' resources with them
