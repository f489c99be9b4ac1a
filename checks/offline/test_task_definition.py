"""Checkpoint task_definition (step 11): the classifier's Fargate task definition.

Judged on the parameters the student's code sent to RegisterTaskDefinition, as the scorer's
server received them, so that what AWS accepts is accepted: extra environment variables or tags,
container-level memory, "1 vCPU"/"2 GB" spellings, any keyword order.
"""

import pytest

from grader.feedback import expect, fail
from grader.judges import task_definitions as judge
from grader.tiers.fixtures import judged_once


@pytest.fixture
def sent(request):
    """(returned value, parameters sent to RegisterTaskDefinition, image URI, stored ARNs, the lab),
    from one call of the student's code for every check of this module."""
    return judged_once(request, _register)


def _register(fixture):
    ops, account, lab = fixture("ops"), fixture("account"), fixture("lab")
    image = f"{lab.classifier_repository_uri}:latest"
    returned = ops.call("register_image_classifier_task_definition", image, lab.task_role_arn,
                        lab.execution_role_arn)
    calls = account.requests.of("RegisterTaskDefinition")
    if not calls:
        fail("Aucun appel à ecs.register_task_definition n'a été fait.",
             "No call to ecs.register_task_definition was made.")
    arns = [d for d in account.client("ecs").list_task_definitions()["taskDefinitionArns"]]
    return returned, calls[-1].params, image, arns, lab


@pytest.fixture
def spec(sent):
    """What the handout asks (grader.judges.task_definitions: the aws tier judges the same way)."""
    lab = sent[4]
    return judge.classifier_spec(task_role_arn=lab.task_role_arn, execution_role_arn=lab.execution_role_arn,
                                 image=sent[2], region="eu-west-1")


def test_returns_the_registered_arn(sent):
    returned, _params, _image, arns, _lab = sent
    expect(isinstance(returned, str) and returned in arns,
           "La méthode doit renvoyer l'ARN de la task definition enregistrée "
           "(response[\"taskDefinition\"][\"taskDefinitionArn\"]).",
           "The method must return the registered task definition's ARN "
           "(response[\"taskDefinition\"][\"taskDefinitionArn\"]).",
           expected=arns[-1] if arns else "arn:aws:ecs:...:task-definition/image-classifier:1", seen=returned)


def test_family_network_mode_and_fargate(sent, spec):
    judge.family_network_fargate(sent[1], spec)


def test_task_cpu_and_memory(sent, spec):
    judge.cpu_and_memory(sent[1], spec)


def test_task_and_execution_roles(sent, spec):
    judge.roles(sent[1], spec)


def test_essential_container_with_the_image(sent, spec):
    judge.essential_container_with_image(sent[1], spec)


def test_awslogs_configuration(sent, spec):
    judge.awslogs(sent[1], spec)
