"""The bonus's S3 run on the local ECS, shared by the checkpoints bonus_task_exit_0 and
bonus_result_in_s3 (one real task, two verdicts)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from grader.feedback import expect

from .support import CLUSTER, photo_path


@dataclass
class S3Run:
    input_uri: str
    output_uri: str
    task_arn: str
    monitor_value: object
    monitor_error: BaseException | None
    task: dict  # DescribeTasks, by the harness, once STOPPED


def s3_run(world, ops) -> S3Run:
    """Your run_s3_classification_task then monitor_task, on a photo put in the lab's bucket."""
    def work() -> S3Run:
        prefix = f"local-checks/{uuid.uuid4().hex[:8]}"
        input_uri = f"s3://{world.bucket}/{prefix}/input/coffee.png"
        output_uri = f"s3://{world.bucket}/{prefix}/output/result.json"
        world.client("s3").put_object(Bucket=world.bucket, Key=f"{prefix}/input/coffee.png",
                                      Body=photo_path("coffee.png").read_bytes(), ContentType="image/png")
        task_arn = world.call("run_s3_classification_task", False, ops, CLUSTER, world.register_classifier(),
                              world.subnets, world.security_group, input_uri, output_uri)
        expect(isinstance(task_arn, str) and ":task/" in task_arn,
               "run_s3_classification_task doit renvoyer l'ARN de la tâche.",
               "run_s3_classification_task must return the task ARN.", seen=task_arn)
        value, error = world.call("monitor_task", True, ops, CLUSTER, task_arn, poll_interval=0.5, timeout=60.0)
        return S3Run(input_uri, output_uri, task_arn, value, error, world.wait_stopped(task_arn))
    return world.shared_run("bonus:s3").get(work)
