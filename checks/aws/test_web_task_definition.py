"""Checkpoint web_task_definition (step 5), aws: the latest revision of ecs-web-app.

Read: ECS DescribeTaskDefinition("ecs-web-app"), i.e. the latest ACTIVE revision, what the
service of step 6 runs. Judged as the file is judged offline (grader.judges.task_definitions):
Fargate settings, the lab's roles, the web image from ECR, port, logs, health check.
Task definitions stay registered after step 8: verified at stages part1, after-step8, part2.
"""

import pytest

from grader.tiers.aws import lookup
from grader.feedback import Text, expect
from grader.judges import task_definitions as judge

pytestmark = pytest.mark.stage("part1", "after-step8", "part2")


@pytest.fixture(scope="module")
def spec(world, names):
    return judge.web_spec(
        task_role_arn=names.role_arn(lookup.WEB_TASK_ROLE),
        execution_role_arn=names.role_arn(lookup.EXECUTION_ROLE),
        image=f"{names.repository_uri(lookup.WEB_REPOSITORY)}:latest", region=world.region,
        role_origin=Text("du lab (sortie de la pile ecs-lab-iam-roles)", "of the lab (output of the ecs-lab-iam-roles stack)"),
        image_origin=Text("ecs-lab/web-app:latest (sortie WebAppECRRepository)",
                          "ecs-lab/web-app:latest (output WebAppECRRepository)"),
        accept_image_digest=True,
    )


@pytest.fixture(scope="module")
def td(world):
    found = lookup.latest_task_definition(world, lookup.WEB_FAMILY)
    expect(found is not None,
           f"Aucune task definition « {lookup.WEB_FAMILY} » enregistrée : "
           "ecs-lab update-task-definitions --register (étape 5).",
           f"No \"{lookup.WEB_FAMILY}\" task definition registered: "
           "ecs-lab update-task-definitions --register (step 5).", expected=lookup.WEB_FAMILY, seen=lookup.NOTHING)
    world.note(arn=found.get("taskDefinitionArn"), registered_at=found.get("registeredAt"))
    return found


def test_task_level_settings(td, spec):
    judge.family_network_fargate(td, spec)
    judge.cpu_and_memory(td, spec)


def test_roles(td, spec):
    judge.roles(td, spec)


def test_container_image(td, spec):
    judge.essential_container_with_image(td, spec)


def test_container_port_logs_and_health_check(td, spec):
    judge.web_port_environment_and_health_check(td, spec)
    judge.awslogs(td, spec)
