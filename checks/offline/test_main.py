"""Checkpoint main_runs (step 12): `run_image_classification_lab` runs end to end.

Both stacks are deployed into moto from the lab's templates, the cluster exists and the
image is in ECR (steps 2, 3 and 10). When the student's code starts a task, the check
stands in for the container: it writes the classifier's output where the awslogs
configuration of the student's task definition sends it, and the task stops with the
scripted exit code.
"""

import pytest

from grader.feedback import Text, expect
from grader.harness import student
from grader.harness.aws import moto_task
from grader.harness.awslogs import classifier_output, result_document, write_container_output
from grader.harness.docker_double import ecr_put_image
from grader.harness.lab import CLUSTER

MAIN = Text("run_image_classification_lab", "run_image_classification_lab")
URL = "https://huggingface.co/datasets/Xenova/transformers.js-docs/resolve/main/tiger.jpg"


@pytest.fixture
def container(account, lab_stacks):
    """Stand in for the container of every task the student starts; returns its settings."""
    ecs = account.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER, capacityProviders=["FARGATE"])
    ecr_put_image(account.client("ecr"))(lab_stacks["ClassifierECRRepository"], "latest")
    behaviour = {"exit_code": 0}

    def run_container(params: dict, response: dict) -> None:
        for task in response.get("tasks", []):
            definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
            container = definition["containerDefinitions"][0]
            log = container.get("logConfiguration") or {}
            options = log.get("options") or {}
            if log.get("logDriver") == "awslogs":
                write_container_output(account.client("logs"), task["taskArn"],
                                       classifier_output(result_document(URL)),
                                       group=options.get("awslogs-group", ""))
            moto_task(task["taskArn"]).containers[0].exitCode = behaviour["exit_code"]

    account.on_call("RunTask", run_container)
    return behaviour


def _main(ops_module, account, capsys):
    capsys.readouterr()
    code, error = student.outcome(MAIN, student.method(ops_module, "run_image_classification_lab"),
                                  URL, "eu-west-1", account.session)
    return code, error, capsys.readouterr()


@pytest.mark.weight(2)
def test_main_succeeds_and_prints_the_result(ops_module, account, container, clock, capsys):
    code, error, out = _main(ops_module, account, capsys)
    shown = (out.out + out.err)[-600:]
    expect(error is None and code == 0,
           "run_image_classification_lab doit enchaîner les étapes et renvoyer 0 quand la tâche réussit.",
           "run_image_classification_lab must chain the steps and return 0 when the task succeeds.",
           expected=0, seen=f"{type(error).__name__}: {error}" if error else Text(f"code {code}, sortie : {shown}",
                                                                              f"code {code}, output: {shown}"))
    expect("tiger" in out.out, "Le résultat de la classification doit être affiché (meilleure prédiction).",
           "The classification result must be printed (top prediction).", expected="tiger, Panthera tigris",
           seen=shown)


def test_main_reports_a_failed_task_without_traceback(ops_module, account, container, clock, capsys):
    code, error, out = _main(ops_module, account, capsys)
    expect(error is None and code == 0, "Le scénario nominal doit d'abord réussir (code 0).",
           "The nominal run must succeed first (code 0).", expected=0, seen=code if error is None else error)
    container["exit_code"] = 1
    code, error, out = _main(ops_module, account, capsys)
    text = out.out + out.err
    expect(error is None and code == 1 and "Traceback" not in text,
           "Quand la tâche échoue, le script doit afficher un message clair et renvoyer 1, sans traceback.",
           "When the task fails, the script must print a clear message and return 1, without a traceback.",
           expected=1, seen=f"{type(error).__name__}: {error}" if error else Text(f"code {code}, sortie : {text[-400:]}",
                                                                              f"code {code}, output: {text[-400:]}"))
