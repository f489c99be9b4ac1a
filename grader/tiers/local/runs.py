"""Runs of the student's code on the local ECS that two checkpoints judge (one real task, two
verdicts): the classification run of task_monitoring, and the bonus's S3 run shared by
bonus_task_exit_0 and bonus_result_in_s3. Only plain data is kept: the next check runs in a
process of its own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ecslab.facts import CLUSTER
from grader.feedback import expect
from grader.student import Handle
from grader.tiers.local.photos import photo_path
from grader.worker.process import Outcome

POLL = 0.5
MONITOR_TIMEOUT_S = 60.0  # a classifier task takes a few seconds here


@dataclass
class S3Run:
    input_uri: str
    output_uri: str
    task_arn: str
    monitor: Outcome
    task: dict  # DescribeTasks, by the scorer, once STOPPED


def start_classification(world: Any, ops: Handle, method: str, *args: Any, task_definition: str | None = None) -> str:
    """The student's run_*_classification_task with the harness's task definition; its task ARN."""
    task_arn = ops.call(method, CLUSTER, task_definition or world.register_classifier(), world.subnets,
                        world.security_group, *args)
    expect(isinstance(task_arn, str) and ":task/" in task_arn, f"{method} doit renvoyer l'ARN de la tâche.",
           f"{method} must return the task ARN.", seen=task_arn)
    return task_arn


def monitor(ops: Handle, task_arn: str, timeout: float = MONITOR_TIMEOUT_S) -> Outcome:
    # The call's own limit: well past the student's timeout, so that only a loop without one reaches it.
    return ops.answer("monitor_task", CLUSTER, task_arn, poll_interval=POLL, timeout=timeout,
                      time_limit_s=2 * timeout + 15)


def s3_run(world: Any, ops: Handle) -> S3Run:
    """Your run_s3_classification_task then monitor_task, on a photo put in the lab's bucket."""
    def work() -> S3Run:
        prefix = f"local-checks/{uuid.uuid4().hex[:8]}"
        input_uri = f"s3://{world.bucket}/{prefix}/input/coffee.png"
        output_uri = f"s3://{world.bucket}/{prefix}/output/result.json"
        world.client("s3").put_object(Bucket=world.bucket, Key=f"{prefix}/input/coffee.png",
                                      Body=photo_path("coffee.png").read_bytes(), ContentType="image/png")
        task_arn = start_classification(world, ops, "run_s3_classification_task", input_uri, output_uri)
        outcome = monitor(ops, task_arn)
        return S3Run(input_uri, output_uri, task_arn, outcome, world.wait_stopped(task_arn))
    return world.shared_run("bonus:s3").get(work)
