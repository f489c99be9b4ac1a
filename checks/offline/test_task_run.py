"""Checkpoint task_run (step 11): the classification task is launched as the lab needs it.

Accepts what AWS accepts (launchType FARGATE or a FARGATE capacity provider strategy, extra
environment overrides); rejects what would not work in the lab (EC2, no public IP in the
default VPC, another container name in the override, the URL missing from the command).
"""

from dataclasses import dataclass

import pytest

from ecslab.facts import CLASSIFIER_CONTAINER, LabNames
from grader.feedback import Text, expect, fail
from grader.student import NO_EXCEPTION, error_text, fail_with
from grader.tiers.fixtures import judged_once
from grader.tiers.offline.provision import register_classifier_task_definition

URL = "https://example.org/images/tiger.jpg"


@pytest.fixture
def task_definition_arn(account, lab):
    return register_classifier_task_definition(account.backends, lab)


@pytest.fixture
def launched(request):
    """What one call of the student's code did, for every check of this module but the last."""
    return judged_once(request, _launch)


@dataclass
class Launched:
    returned: object  # the method's value
    params: dict  # the parameters sent to RunTask, as received
    error: object  # the exception the call raised, if any
    run_tasks: int  # how many RunTask calls were made
    running: list  # the account's tasks afterwards
    task_definition_arn: str
    lab: object


def _launch(fixture) -> Launched:
    """The parameters are judged even when the call failed (moto refuses an EC2 launch type
    here, as a cluster without instances would on AWS), so the feedback names the cause."""
    ops, account, lab, task_definition_arn = (fixture("ops"), fixture("account"), fixture("lab"),
                                              fixture("task_definition_arn"))
    outcome = ops.answer("run_image_classification_task", lab.cluster, task_definition_arn, lab.subnet_ids,
                         lab.security_group_id, URL)
    calls = account.requests.of("RunTask")
    if outcome.error is not None and not calls:
        fail_with(outcome, "run_image_classification_task")
    if not calls:
        fail("Aucun appel à ecs.run_task n'a été fait.", "No call to ecs.run_task was made.")
    running = account.client("ecs").list_tasks(cluster=lab.cluster)["taskArns"]
    return Launched(outcome.value, calls[-1].params, outcome.error, len(calls), running, task_definition_arn, lab)


def test_returns_the_task_arn(launched):
    returned, error, running = launched.returned, launched.error, launched.running
    expect(error is None, "run_task doit réussir et la méthode renvoyer l'ARN de la tâche.",
           "run_task must succeed and the method return the task's ARN.", expected="arn:aws:ecs:...:task/...",
           seen=error_text(error) if error else None)
    expect(launched.run_tasks == 1, "Une seule tâche doit être lancée (un seul run_task).",
           "Exactly one task must be launched (one run_task call).", expected=1, seen=launched.run_tasks)
    expect(isinstance(returned, str) and returned in running,
           "La méthode doit renvoyer l'ARN de la tâche lancée (response[\"tasks\"][0][\"taskArn\"]).",
           "The method must return the launched task's ARN (response[\"tasks\"][0][\"taskArn\"]).",
           expected=running[0] if running else "arn:aws:ecs:...:task/...", seen=returned)


def test_cluster_and_task_definition(launched):
    params, lab, task_definition_arn = launched.params, launched.lab, launched.task_definition_arn
    cluster_arn = LabNames().cluster_arn(lab.cluster)
    expect(params.get("cluster") in (lab.cluster, cluster_arn), "La tâche doit être lancée sur le cluster reçu.",
           "The task must be launched on the given cluster.", expected=lab.cluster, seen=params.get("cluster"))
    expect(params.get("taskDefinition") == task_definition_arn,
           "La tâche doit utiliser la task definition reçue en paramètre.",
           "The task must use the task definition given as a parameter.",
           expected=task_definition_arn, seen=params.get("taskDefinition"))


def test_runs_on_fargate(launched):
    params = launched.params
    strategy = params.get("capacityProviderStrategy") or []
    on_fargate = params.get("launchType") == "FARGATE" or (
        "launchType" not in params and any(s.get("capacityProvider") == "FARGATE" for s in strategy))
    expect(on_fargate, "La tâche doit tourner sur Fargate (launchType=\"FARGATE\").",
           "The task must run on Fargate (launchType=\"FARGATE\").", expected="FARGATE",
           seen=params.get("launchType") or strategy or None)


def test_network_configuration(launched):
    lab = launched.lab
    config = (launched.params.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    expect(sorted(config.get("subnets") or []) == sorted(lab.subnet_ids),
           "awsvpcConfiguration doit utiliser les sous-réseaux reçus en paramètre.",
           "awsvpcConfiguration must use the subnets given as a parameter.",
           expected=lab.subnet_ids, seen=config.get("subnets"))
    expect(config.get("securityGroups") == [lab.security_group_id],
           "awsvpcConfiguration doit utiliser le groupe de sécurité reçu : [security_group_id].",
           "awsvpcConfiguration must use the given security group: [security_group_id].",
           expected=[lab.security_group_id], seen=config.get("securityGroups"))
    expect(config.get("assignPublicIp") == "ENABLED",
           "Dans le VPC par défaut, la tâche a besoin d'une IP publique (assignPublicIp=\"ENABLED\") "
           "pour télécharger son image depuis ECR.",
           "In the default VPC the task needs a public IP (assignPublicIp=\"ENABLED\") to pull its image "
           "from ECR.", expected="ENABLED", seen=config.get("assignPublicIp"))


def test_command_override_passes_the_url(launched):
    overrides = (launched.params.get("overrides") or {}).get("containerOverrides") or []
    names = [o.get("name") for o in overrides]
    mine = [o for o in overrides if o.get("name") == CLASSIFIER_CONTAINER]
    expect(mine, "Il faut un override pour le conteneur « image-classifier ».",
           "An override for the \"image-classifier\" container is needed.", expected="image-classifier", seen=names)
    command = mine[0].get("command")
    expect(command == ["python", "classifier.py", URL],
           "La commande du conteneur doit être [\"python\", \"classifier.py\", image_url].",
           "The container command must be [\"python\", \"classifier.py\", image_url].",
           expected=["python", "classifier.py", URL], seen=command)


def test_reports_ecs_failures(ops, account, lab, task_definition_arn):
    reason = "RESOURCE:ENI"
    account.requests.stub("RunTask", lambda params: {
        "tasks": [], "failures": [{"arn": task_definition_arn, "reason": reason}]})
    error = ops.raised("run_image_classification_task", lab.cluster, task_definition_arn, lab.subnet_ids,
                       lab.security_group_id, URL)
    expect(error is not None and error.is_exception and reason in error.message,
           "Quand ECS ne démarre aucune tâche, la méthode doit lever une exception qui cite "
           "response[\"failures\"].",
           "When ECS starts no task, the method must raise an exception quoting response[\"failures\"].",
           expected=f"Exception(... {reason} ...)",
           seen=error_text(error) if error is not None else NO_EXCEPTION)
