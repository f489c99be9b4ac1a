"""Checkpoint main_runs (step 12): `run_image_classification_lab` runs end to end.

Both stacks exist with their outputs, the cluster exists and the image is in ECR (steps 2, 3
and 10: graded by their own checkpoints, here they are done right). When the student's code starts a task, the scorer's
server stands in for the container: it writes the classifier's output where the awslogs
configuration of the student's task definition sends it, and the task stops with the
scripted exit code. Judged on the server's record (the task definition registered, the task
run with it, its log stream read) and on the label printed, which must be the one the
container wrote (it differs from one submission to another).
"""

import hashlib

import pytest

from standin import moto_bridge
from ecslab.facts import log_stream
from grader.evidence.awslogs import classifier_output, result_document, write_container_output
from grader.evidence.docker_engine import ecr_put_image
from grader.feedback import Text, expect, tail
from grader.judges.logs import missed_read
from grader.student import failure_text
from grader.worker.values import SESSION

URL = "https://huggingface.co/datasets/Xenova/transformers.js-docs/resolve/main/tiger.jpg"
LABELS = ["tiger, Panthera tigris", "tabby, tabby cat", "golden retriever", "espresso", "speedboat",
          "lakeside, lakeshore", "missile", "moped", "Egyptian cat", "jaguar, panther, Panthera onca"]


@pytest.fixture
def top_label(submission) -> str:
    """The container's top label: fixed for a submission, not guessable from one to another."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in submission.files.values())).digest()
    return LABELS[digest[0] % len(LABELS)]


@pytest.fixture
def container(account, lab_outputs, top_label):
    """Stand in for the container of every task the student starts; returns its settings."""
    ecs = account.client("ecs")
    ecr_put_image(account.client("ecr"))(lab_outputs["ClassifierECRRepository"], "latest")
    behaviour = {"exit_code": 0, "tasks": [], "written": []}
    document = result_document(URL, [(top_label, 0.8731), ("tiger cat", 0.1012), ("lynx, catamount", 0.0051)])

    def run_container(params: dict, response: dict) -> None:
        for task in response.get("tasks", []):
            definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
            log = definition["containerDefinitions"][0].get("logConfiguration") or {}
            options = log.get("options") or {}
            if log.get("logDriver") == "awslogs":
                group = options.get("awslogs-group", "")
                stream = write_container_output(account.backends, task["taskArn"],
                                                classifier_output(document), group=group)
                behaviour["written"].append((group, stream))
            moto_bridge.task_model(task["taskArn"]).containers[0].exitCode = behaviour["exit_code"]
            behaviour["tasks"].append(task["taskArn"])

    account.requests.on_call("RunTask", run_container)
    return behaviour


def _main(ops_module):
    return ops_module.run("run_image_classification_lab", URL, "eu-west-1", SESSION)


def _seen(outcome, account=None, container=None) -> Text:
    shown = tail(outcome.output, 600)
    if outcome.status == "returned":
        seen = Text(f"code {outcome.value!r}, sortie : {shown}", f"code {outcome.value!r}, output: {shown}")
    else:
        seen = failure_text(outcome, "run_image_classification_lab")
    missed = missed_read(account, container["written"]) if account is not None and container else None
    if missed is not None:  # CloudWatch's own answer names the wrong thing: say which stream was read
        return Text(f"{missed.fr}\n{seen.fr}", f"{missed.en}\n{seen.en}")
    return seen


def _evidence(account, task_arns: list[str]) -> list[Text]:
    """What the server did not see the main do (each step of Part 2 that reaches AWS)."""
    missing = []
    registered = account.requests.of("RegisterTaskDefinition")
    runs = account.requests.of("RunTask")
    if not registered:
        missing.append(Text("aucune task definition enregistrée", "no task definition registered"))
    if not runs:
        missing.append(Text("aucune tâche lancée", "no task run"))
    if not account.requests.of("DescribeTasks"):
        missing.append(Text("la tâche n'est pas suivie (describe_tasks)", "the task is not followed (describe_tasks)"))
    streams = {log_stream(arn) for arn in task_arns}
    reads = [c.params for c in account.requests.of("GetLogEvents") + account.requests.of("FilterLogEvents")]
    if not any(p.get("logStreamName") in streams or set(p.get("logStreamNames") or []) & streams
               or any(s.startswith(str(p.get("logStreamNamePrefix") or "\0")) for s in streams) for p in reads):
        missing.append(Text("les logs de la tâche ne sont pas lus", "the task's logs are not read"))
    return missing


@pytest.mark.weight(2)
def test_main_succeeds_and_prints_the_result(ops_module, account, container, top_label):
    outcome = _main(ops_module)
    expect(outcome.status == "returned" and outcome.value == 0,
           "run_image_classification_lab doit enchaîner les étapes et renvoyer 0 quand la tâche réussit.",
           "run_image_classification_lab must chain the steps and return 0 when the task succeeds.",
           expected=0, seen=_seen(outcome, account, container))
    missing = _evidence(account, container["tasks"])
    expect(not missing, "Le programme renvoie 0, mais le serveur n'a pas vu toutes les étapes de la partie 2.",
           "The program returns 0, but the server did not see every step of Part 2.",
           expected=Text("task definition, run_task, describe_tasks, lecture des logs",
                         "task definition, run_task, describe_tasks, log reads"),
           seen=Text(" ; ".join(m.fr for m in missing), "; ".join(m.en for m in missing)))
    expect(top_label.split(",")[0] in outcome.stdout,
           "Le résultat de la classification doit être affiché (la meilleure prédiction lue dans les logs).",
           "The classification result must be printed (the top prediction read from the logs).",
           expected=top_label, seen=tail(outcome.stdout, 600))


def test_main_reports_a_failed_task_without_traceback(ops_module, account, container):
    first = _main(ops_module)
    expect(first.status == "returned" and first.value == 0, "Le scénario nominal doit d'abord réussir (code 0).",
           "The nominal run must succeed first (code 0).", expected=0, seen=_seen(first, account, container))
    container["exit_code"] = 1
    outcome = _main(ops_module)
    expect(outcome.status == "returned" and outcome.value == 1 and "Traceback" not in outcome.output,
           "Quand la tâche échoue, le script doit afficher un message clair et renvoyer 1, sans traceback.",
           "When the task fails, the script must print a clear message and return 1, without a traceback.",
           expected=1, seen=_seen(outcome))
