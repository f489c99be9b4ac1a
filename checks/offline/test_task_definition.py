"""Checkpoint task_definition (step 11): the classifier's Fargate task definition.

Judged on the parameters the student's code sent to RegisterTaskDefinition (as AWS
receives them), so that what AWS accepts is accepted: extra environment variables or tags,
container-level memory, "1 vCPU"/"2 GB" spellings, any keyword order.
"""

import pytest

from grader.feedback import Text, expect, fail
from grader.harness import student

REGISTER = Text("register_image_classifier_task_definition", "register_image_classifier_task_definition")


@pytest.fixture
def sent(ops, account, lab):
    """(returned value, parameters sent to RegisterTaskDefinition, image URI, stored ARN)."""
    image = f"{lab.classifier_repository_uri}:latest"
    function = student.method(ops, "register_image_classifier_task_definition")
    returned = student.call(REGISTER, function, image, lab.task_role_arn, lab.execution_role_arn)
    calls = account.recorder.of("RegisterTaskDefinition")
    if not calls:
        fail("Aucun appel à ecs.register_task_definition n'a été fait.",
             "No call to ecs.register_task_definition was made.")
    arns = [d for d in account.client("ecs").list_task_definitions()["taskDefinitionArns"]]
    return returned, calls[-1].params, image, arns


def _container(params: dict) -> dict:
    containers = [c for c in params.get("containerDefinitions", []) if c.get("name") == "image-classifier"]
    expect(containers, "La task definition doit contenir un conteneur nommé « image-classifier ».",
           "The task definition must have a container named \"image-classifier\".",
           expected="image-classifier", seen=[c.get("name") for c in params.get("containerDefinitions", [])])
    return containers[0]


def test_returns_the_registered_arn(sent):
    returned, _params, _image, arns = sent
    expect(isinstance(returned, str) and returned in arns,
           "La méthode doit renvoyer l'ARN de la task definition enregistrée "
           "(response[\"taskDefinition\"][\"taskDefinitionArn\"]).",
           "The method must return the registered task definition's ARN "
           "(response[\"taskDefinition\"][\"taskDefinitionArn\"]).",
           expected=arns[-1] if arns else "arn:aws:ecs:...:task-definition/image-classifier:1", seen=returned)


def test_family_network_mode_and_fargate(sent):
    params = sent[1]
    expect(params.get("family") == "image-classifier", "La famille doit être « image-classifier ».",
           "The family must be \"image-classifier\".", expected="image-classifier", seen=params.get("family"))
    expect(params.get("networkMode") == "awsvpc", "Fargate exige le mode réseau « awsvpc ».",
           "Fargate requires the \"awsvpc\" network mode.", expected="awsvpc", seen=params.get("networkMode"))
    expect("FARGATE" in (params.get("requiresCompatibilities") or []),
           "requiresCompatibilities doit contenir « FARGATE ».", "requiresCompatibilities must contain \"FARGATE\".",
           expected=["FARGATE"], seen=params.get("requiresCompatibilities"))


def test_task_cpu_and_memory(sent):
    params = sent[1]
    cpu = str(params.get("cpu", "")).strip().lower()
    memory = str(params.get("memory", "")).strip().lower().replace(" ", "")
    expect(cpu in ("1024", "1 vcpu", "1vcpu"), "Le CPU de la tâche doit être « 1024 » (1 vCPU).",
           "The task CPU must be \"1024\" (1 vCPU).", expected="1024", seen=params.get("cpu"))
    expect(memory in ("2048", "2gb"), "La mémoire de la tâche doit être « 2048 » (2 Go).",
           "The task memory must be \"2048\" (2 GB).", expected="2048", seen=params.get("memory"))


def test_task_and_execution_roles(sent, lab):
    params = sent[1]
    expect(params.get("taskRoleArn") == lab.task_role_arn,
           "taskRoleArn doit être le rôle de tâche reçu en paramètre (accès S3 du classificateur).",
           "taskRoleArn must be the task role given as a parameter (the classifier's S3 access).",
           expected=lab.task_role_arn, seen=params.get("taskRoleArn"))
    expect(params.get("executionRoleArn") == lab.execution_role_arn,
           "executionRoleArn doit être le rôle d'exécution reçu en paramètre (pull ECR, logs).",
           "executionRoleArn must be the execution role given as a parameter (ECR pull, logs).",
           expected=lab.execution_role_arn, seen=params.get("executionRoleArn"))


def test_essential_container_with_the_image(sent):
    params, image = sent[1], sent[2]
    container = _container(params)
    expect(container.get("image") == image, "Le conteneur doit utiliser l'image ECR reçue en paramètre.",
           "The container must use the ECR image given as a parameter.", expected=image, seen=container.get("image"))
    expect(container.get("essential", True) is True, "Le conteneur doit être essentiel (essential=True).",
           "The container must be essential (essential=True).", expected=True, seen=container.get("essential"))


def test_awslogs_configuration(sent):
    container = _container(sent[1])
    config = container.get("logConfiguration") or {}
    options = config.get("options") or {}
    expect(config.get("logDriver") == "awslogs", "Les logs du conteneur doivent utiliser le pilote « awslogs ».",
           "The container's logs must use the \"awslogs\" driver.", expected="awslogs", seen=config.get("logDriver"))
    wanted = {"awslogs-group": "/ecs/ecs-lab/image-classifier", "awslogs-region": "eu-west-1",
              "awslogs-stream-prefix": "ecs"}
    seen = {key: options.get(key) for key in wanted}
    expect(seen == wanted, "Options awslogs incorrectes (groupe, région, préfixe de flux).",
           "Wrong awslogs options (group, region, stream prefix).", expected=wanted, seen=seen)
