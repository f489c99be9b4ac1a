"""Checkpoint task_definition (step 11), aws: the latest revision of image-classifier.

Read: ECS DescribeTaskDefinition("image-classifier"), the latest ACTIVE revision (the one
the student's code registered last). Judged with the offline tier's rules
(grader.judges.task_definitions), against the lab's roles and repository in this account.
Verified at stage part2.
"""

import pytest

from grader.tiers.aws import lookup
from grader.feedback import Text, expect
from grader.judges import task_definitions as judge

pytestmark = pytest.mark.stage("part2")


@pytest.fixture(scope="module")
def spec(world, names):
    return judge.classifier_spec(
        task_role_arn=names.role_arn(lookup.CLASSIFIER_TASK_ROLE),
        execution_role_arn=names.role_arn(lookup.EXECUTION_ROLE),
        image=f"{names.repository_uri(lookup.CLASSIFIER_REPOSITORY)}:latest", region=world.region,
        role_origin=Text("du lab (sortie de la pile ecs-lab-iam-roles)", "of the lab (output of the ecs-lab-iam-roles stack)"),
        image_origin=Text("ecs-lab/image-classifier:latest (sortie ClassifierECRRepository)",
                          "ecs-lab/image-classifier:latest (output ClassifierECRRepository)"),
        accept_image_digest=True,
    )


@pytest.fixture(scope="module")
def td(world):
    found = lookup.latest_task_definition(world, lookup.CLASSIFIER_FAMILY)
    expect(found is not None,
           f"Aucune task definition « {lookup.CLASSIFIER_FAMILY} » enregistrée : exécutez votre "
           "register_image_classifier_task_definition (ecs-lab run-classifier).",
           f"No \"{lookup.CLASSIFIER_FAMILY}\" task definition registered: run your "
           "register_image_classifier_task_definition (ecs-lab run-classifier).",
           expected=lookup.CLASSIFIER_FAMILY, seen=lookup.NOTHING)
    world.note(arn=found.get("taskDefinitionArn"), registered_at=found.get("registeredAt"))
    return found


def test_family_network_mode_and_fargate(td, spec):
    judge.family_network_fargate(td, spec)


def test_task_cpu_and_memory(td, spec):
    judge.cpu_and_memory(td, spec)


def test_task_and_execution_roles(td, spec):
    judge.roles(td, spec)


def test_essential_container_with_the_image(td, spec):
    judge.essential_container_with_image(td, spec)


def test_awslogs_configuration(td, spec):
    judge.awslogs(td, spec)
