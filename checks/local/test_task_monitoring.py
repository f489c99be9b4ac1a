"""Checkpoint task_monitoring (step 11), on the local ECS: your code drives a task that really runs.

Your ``run_image_classification_task`` starts the classifier as an ECS task of the local
ECS (a real container, from the image the grader builds with your s3_io.py and its
test model: your own image is graded by classifier_image_local), your ``monitor_task``
follows it until it is STOPPED, and your ``get_classification_result`` reads the result
document from the CloudWatch Logs stream the container really wrote. Also verified: a
task whose container exits with code 1 (the URL answers 404) and a task whose image cannot
be pulled (CannotPullContainerError, no exit code) make ``monitor_task`` raise
``TaskFailedError`` with what ECS reports, and a task that hangs makes it raise
``TimeoutError`` within its ``timeout``. The task definition is the harness's own
(step 11a is graded by ``task_definition``).
"""

from __future__ import annotations

import pytest

from ecslab.facts import CLASSIFIER_CONTAINER, CLASSIFIER_LOG_GROUP, CLUSTER, log_stream
from grader.feedback import Text, expect, fail
from grader.student import error_text
from grader.tiers.local.runs import POLL, monitor, start_classification

pytestmark = pytest.mark.timeout(150, func_only=True)
NO_EXCEPTION = Text("aucune exception", "no exception")


def _exit_code(task: dict):
    return next((c.get("exitCode") for c in task.get("containers", []) if c.get("name") == CLASSIFIER_CONTAINER),
                None)


def _start(ops, world, url: str, task_definition: str | None = None) -> str:
    return start_classification(world, ops, "run_image_classification_task", url, task_definition=task_definition)


def _successful_run(world, ops):
    def work():
        task_arn = _start(ops, world, world.photos.photo("coffee.png"))
        outcome = monitor(ops, task_arn)
        return task_arn, outcome.value, outcome.error, outcome.stdout
    return world.shared_run("task_monitoring:coffee").get(work)


@pytest.mark.weight(3)
def test_monitor_follows_a_real_task_to_exit_code_0(world, ops):
    task_arn, value, error, printed = _successful_run(world, ops)
    real = world.wait_stopped(task_arn)
    exit_code = _exit_code(real)
    expect(real.get("lastStatus") == "STOPPED" and exit_code == 0,
           "La tâche lancée par votre code ne s'est pas terminée avec le code 0 dans l'ECS local.",
           "The task your code started did not end with exit code 0 on the local ECS.",
           seen=f"{real.get('lastStatus')}, code {exit_code}, {real.get('stoppedReason')}")
    if error is not None:
        fail(f"monitor_task a levé {error.summary('fr')} pour une tâche terminée avec le code 0.",
             f"monitor_task raised {error.summary('en')} for a task that ended with exit code 0.")
    task = value if isinstance(value, dict) else {}
    expect(task.get("lastStatus") == "STOPPED", "monitor_task doit renvoyer la tâche une fois STOPPED.",
           "monitor_task must return the task once it is STOPPED.", seen=task.get("lastStatus", value))
    expect("STOPPED" in printed, "monitor_task doit afficher les changements de statut (dont STOPPED).",
           "monitor_task must print the status changes (STOPPED included).", seen=printed[-300:])
    statuses = [s for s in ("PROVISIONING", "PENDING", "ACTIVATING", "RUNNING") if s in printed]
    expect(statuses, "Les statuts intermédiaires (PENDING, RUNNING...) doivent aussi être affichés.",
           "The intermediate statuses (PENDING, RUNNING...) must be printed too.", seen=printed[-300:])
    repeated = [line for line in set(printed.splitlines()) if "RUNNING" in line and printed.count(line) > 1
                and line.strip()]
    expect(not repeated, "Chaque changement de statut ne doit être affiché qu'une fois.",
           "Each status change must be printed only once.", seen=repeated[:2])


@pytest.mark.weight(2)
def test_result_read_from_the_real_log_stream(world, ops):
    task_arn, _value, _error, _printed = _successful_run(world, ops)
    world.wait_stopped(task_arn)
    events = world.client("logs").get_log_events(logGroupName=CLASSIFIER_LOG_GROUP, logStreamName=log_stream(task_arn),
                                                 startFromHead=True)["events"]
    written = [e["message"] for e in events if e["message"].startswith("{") and '"predictions"' in e["message"]]
    expect(written, "Le conteneur n'a écrit aucun document résultat dans CloudWatch Logs.",
           "The container wrote no result document to CloudWatch Logs.")
    document = ops.call("get_classification_result", task_arn)
    expect(isinstance(document, dict) and document.get("predictions"),
           "get_classification_result doit renvoyer le document résultat.",
           "get_classification_result must return the result document.", seen=document)
    top = document["predictions"][0].get("label")
    expect(top == "espresso", "Le document renvoyé n'est pas celui que le conteneur a écrit.",
           "The returned document is not the one the container wrote.", expected="espresso", seen=top)


@pytest.mark.weight(2)
def test_failed_container_raises_with_its_exit_code(world, ops):
    task_arn = _start(ops, world, world.photos.url("/missing.png"))
    error = monitor(ops, task_arn).error
    real = world.wait_stopped(task_arn)
    expect(_exit_code(real) == 1, "Le conteneur aurait dû se terminer avec le code 1.",
           "The container should have exited with code 1.", seen=_exit_code(real))
    expect(error is not None, "monitor_task doit lever TaskFailedError quand le conteneur sort avec le code 1.",
           "monitor_task must raise TaskFailedError when the container exits with code 1.")
    expect(error.is_a("TaskFailedError"), "L'exception attendue est TaskFailedError.",
           "TaskFailedError is the expected exception.", seen=error_text(error))
    expect(error.attribute("exit_code") == 1, "TaskFailedError.exit_code doit être le vrai code de sortie.",
           "TaskFailedError.exit_code must be the real exit code.", expected=1, seen=error.attribute("exit_code"))


@pytest.mark.weight(2)
def test_image_pull_error_raises_with_the_reason(world, ops):
    task_definition = world.register_classifier(f"{world.outputs['ClassifierECRRepository']}:absente")
    task_arn = _start(ops, world, world.photos.photo("coffee.png"), task_definition)
    error = monitor(ops, task_arn).error
    real = world.wait_stopped(task_arn)
    expect("CannotPullContainerError" in (real.get("stoppedReason") or ""), "L'ECS local aurait dû échouer au pull.",
           "The local ECS should have failed the pull.", seen=real.get("stoppedReason"))
    expect(error is not None and error.is_a("TaskFailedError"),
           "monitor_task doit lever TaskFailedError quand l'image ne peut pas être téléchargée.",
           "monitor_task must raise TaskFailedError when the image cannot be pulled.",
           seen=error_text(error) if error else NO_EXCEPTION)
    expect("exit_code" in error.attributes and error.attribute("exit_code") is None,
           "Sans conteneur démarré, exit_code doit être None.",
           "With no container started, exit_code must be None.", seen=error.attribute("exit_code", "absent"))
    expect("CannotPullContainerError" in str(error.attribute("stopped_reason", "")),
           "TaskFailedError.stopped_reason doit donner la raison d'ECS (stoppedReason).",
           "TaskFailedError.stopped_reason must carry ECS's reason (stoppedReason).",
           seen=error.attribute("stopped_reason"))


@pytest.mark.weight(1)
@pytest.mark.timeout(90, func_only=True)  # the student's timeout is 4 s here; the call's limit 23 s
def test_hanging_task_times_out(world, ops):
    response = world.client("ecs").run_task(
        cluster=CLUSTER, taskDefinition=world.register_classifier(), launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": world.subnets,
                                                      "securityGroups": [world.security_group],
                                                      "assignPublicIp": "ENABLED"}},
        overrides={"containerOverrides": [{"name": CLASSIFIER_CONTAINER, "command": ["sleep", "600"]}]})
    task_arn = response["tasks"][0]["taskArn"]
    try:
        outcome = monitor(ops, task_arn, timeout=4.0)
        error, elapsed = outcome.error, outcome.wall_s
    finally:
        world.client("ecs").stop_task(cluster=CLUSTER, task=task_arn, reason="check finished")
    expect(error is not None and error.is_a("TimeoutError"),
           "monitor_task doit lever TimeoutError pour une tâche qui ne s'arrête pas.",
           "monitor_task must raise TimeoutError for a task that never stops.",
           seen=error_text(error) if error else NO_EXCEPTION)
    expect(elapsed < 4.0 + 3 * POLL + 5, "monitor_task doit abandonner au bout de timeout secondes.",
           "monitor_task must give up after timeout seconds.", expected="~4 s", seen=f"{elapsed:.1f} s")
