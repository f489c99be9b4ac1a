"""Checkpoint task_monitoring (step 11), on the local ECS: your code drives a task that really runs.

Your ``run_image_classification_task`` starts the classifier as an ECS task of the local
ECS (a real container, from the image built with your s3_io.py), your ``monitor_task``
follows it until it is STOPPED, and your ``get_classification_result`` reads the result
document from the CloudWatch Logs stream the container really wrote. Also verified: a
task whose container exits with code 1 (the URL answers 404) and a task whose image cannot
be pulled (CannotPullContainerError, no exit code) make ``monitor_task`` raise
``TaskFailedError`` with what ECS reports, and a task that hangs makes it raise
``TimeoutError`` within its ``timeout``. The task definition is the harness's own
(step 11a is graded by ``task_definition``).
"""

from __future__ import annotations

import time

import pytest

from grader.feedback import Text, expect, fail
from grader.harness.awslogs import stream_name

from .support import CLUSTER

pytestmark = pytest.mark.timeout(90, func_only=True)
POLL = 0.5
MONITOR_TIMEOUT_S = 60.0  # a classifier task takes a few seconds here
NO_EXCEPTION = Text("aucune exception", "no exception")


def _exit_code(task: dict):
    return next((c.get("exitCode") for c in task.get("containers", []) if c.get("name") == "image-classifier"), None)


def _start(ops, world, url: str, task_definition: str | None = None) -> str:
    task_arn = world.call("run_image_classification_task", False, ops, CLUSTER,
                          task_definition or world.register_classifier(), world.subnets, world.security_group, url)
    expect(isinstance(task_arn, str) and ":task/" in task_arn,
           "run_image_classification_task doit renvoyer l'ARN de la tâche.",
           "run_image_classification_task must return the task ARN.", seen=task_arn)
    return task_arn


def _monitor(world, ops, task_arn: str, timeout: float = MONITOR_TIMEOUT_S):
    return world.call("monitor_task", True, ops, CLUSTER, task_arn, poll_interval=POLL, timeout=timeout)


def _successful_run(world, ops, capsys):
    def work():
        task_arn = _start(ops, world, world.photos.photo("coffee.png"))
        capsys.readouterr()
        value, error = _monitor(world, ops, task_arn)
        printed = capsys.readouterr().out
        return task_arn, value, error, printed
    return world.shared_run("task_monitoring:coffee").get(work)


@pytest.mark.weight(3)
def test_monitor_follows_a_real_task_to_exit_code_0(local_world, ops, capsys):
    task_arn, value, error, printed = _successful_run(local_world, ops, capsys)
    real = local_world.wait_stopped(task_arn)
    exit_code = _exit_code(real)
    expect(real.get("lastStatus") == "STOPPED" and exit_code == 0,
           "La tâche lancée par votre code ne s'est pas terminée avec le code 0 dans l'ECS local.",
           "The task your code started did not end with exit code 0 on the local ECS.",
           seen=f"{real.get('lastStatus')}, code {exit_code}, {real.get('stoppedReason')}")
    if error is not None:
        fail(f"monitor_task a levé {type(error).__name__} pour une tâche terminée avec le code 0 : {error}",
             f"monitor_task raised {type(error).__name__} for a task that ended with exit code 0: {error}")
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
def test_result_read_from_the_real_log_stream(local_world, ops, capsys):
    task_arn, _value, _error, _printed = _successful_run(local_world, ops, capsys)
    local_world.wait_stopped(task_arn)
    events = local_world.client("logs").get_log_events(logGroupName="/ecs/ecs-lab/image-classifier",
                                                       logStreamName=stream_name(task_arn),
                                                       startFromHead=True)["events"]
    written = [e["message"] for e in events if e["message"].startswith("{") and '"predictions"' in e["message"]]
    expect(written, "Le conteneur n'a écrit aucun document résultat dans CloudWatch Logs.",
           "The container wrote no result document to CloudWatch Logs.")
    document = local_world.call("get_classification_result", False, ops, task_arn)
    expect(isinstance(document, dict) and document.get("predictions"),
           "get_classification_result doit renvoyer le document résultat.",
           "get_classification_result must return the result document.", seen=document)
    top = document["predictions"][0].get("label")
    expect(top == "espresso", "Le document renvoyé n'est pas celui que le conteneur a écrit.",
           "The returned document is not the one the container wrote.", expected="espresso", seen=top)


@pytest.mark.weight(2)
def test_failed_container_raises_with_its_exit_code(local_world, ops):
    task_arn = _start(ops, local_world, local_world.photos.url("/missing.png"))
    _value, error = _monitor(local_world, ops, task_arn)
    real = local_world.wait_stopped(task_arn)
    expect(_exit_code(real) == 1, "Le conteneur aurait dû se terminer avec le code 1.",
           "The container should have exited with code 1.", seen=_exit_code(real))
    expect(error is not None, "monitor_task doit lever TaskFailedError quand le conteneur sort avec le code 1.",
           "monitor_task must raise TaskFailedError when the container exits with code 1.")
    expect(type(error).__name__ == "TaskFailedError", "L'exception attendue est TaskFailedError.",
           "TaskFailedError is the expected exception.", seen=f"{type(error).__name__}: {error}")
    expect(getattr(error, "exit_code", None) == 1, "TaskFailedError.exit_code doit être le vrai code de sortie.",
           "TaskFailedError.exit_code must be the real exit code.", expected=1, seen=getattr(error, "exit_code", None))


@pytest.mark.weight(2)
def test_image_pull_error_raises_with_the_reason(local_world, ops):
    task_definition = local_world.register_classifier(f"{local_world.outputs['ClassifierECRRepository']}:absente")
    task_arn = _start(ops, local_world, local_world.photos.photo("coffee.png"), task_definition)
    _value, error = _monitor(local_world, ops, task_arn)
    real = local_world.wait_stopped(task_arn)
    expect("CannotPullContainerError" in (real.get("stoppedReason") or ""), "L'ECS local aurait dû échouer au pull.",
           "The local ECS should have failed the pull.", seen=real.get("stoppedReason"))
    expect(type(error).__name__ == "TaskFailedError",
           "monitor_task doit lever TaskFailedError quand l'image ne peut pas être téléchargée.",
           "monitor_task must raise TaskFailedError when the image cannot be pulled.",
           seen=f"{type(error).__name__}: {error}" if error else NO_EXCEPTION)
    expect(getattr(error, "exit_code", "absent") is None, "Sans conteneur démarré, exit_code doit être None.",
           "With no container started, exit_code must be None.", seen=getattr(error, "exit_code", "absent"))
    expect("CannotPullContainerError" in str(getattr(error, "stopped_reason", "")),
           "TaskFailedError.stopped_reason doit donner la raison d'ECS (stoppedReason).",
           "TaskFailedError.stopped_reason must carry ECS's reason (stoppedReason).",
           seen=getattr(error, "stopped_reason", None))


@pytest.mark.weight(1)
@pytest.mark.timeout(30, func_only=True)  # the student's timeout is 4 s here
def test_hanging_task_times_out(local_world, ops):
    response = local_world.client("ecs").run_task(
        cluster=CLUSTER, taskDefinition=local_world.register_classifier(), launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": local_world.subnets,
                                                      "securityGroups": [local_world.security_group],
                                                      "assignPublicIp": "ENABLED"}},
        overrides={"containerOverrides": [{"name": "image-classifier", "command": ["sleep", "600"]}]})
    task_arn = response["tasks"][0]["taskArn"]
    try:
        started = time.monotonic()
        _value, error = _monitor(local_world, ops, task_arn, timeout=4.0)
        elapsed = time.monotonic() - started
    finally:
        local_world.client("ecs").stop_task(cluster=CLUSTER, task=task_arn, reason="check finished")
    expect(isinstance(error, TimeoutError), "monitor_task doit lever TimeoutError pour une tâche qui ne s'arrête pas.",
           "monitor_task must raise TimeoutError for a task that never stops.",
           seen=f"{type(error).__name__}: {error}" if error else NO_EXCEPTION)
    expect(elapsed < 4.0 + 3 * POLL + 5, "monitor_task doit abandonner au bout de timeout secondes.",
           "monitor_task must give up after timeout seconds.", expected="~4 s", seen=f"{elapsed:.1f} s")
