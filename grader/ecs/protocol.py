"""What the launcher and the grading tasks agree on: the message, the S3 keys, the environment.

    runs/<run>/input/<id>/<files>        the staged submission (written by the launcher)
    runs/<run>/claims/<task>/<id>.json   a task took <id>: its receipt (released when the task stops), when
    runs/<run>/results/<id>/<files>      the reports of <id> (report.{html,md,json}, results.json, grading.log)
    runs/<run>/done/<id>.json            written last: how the grading ended (an Outcome)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

STACK_NAME = "ecs-lab-grading"
FAMILY_SUFFIX = "-grader"  # the task definition's family: <stack>-grader
CONTAINER = "grader"
STARTED_BY = "ecs-lab-grade"  # run_task's startedBy: the tasks of this command
# The task's environment (the launcher sets it in the task definition's container overrides).
QUEUE_ENV = "ECS_LAB_QUEUE_URL"
BUCKET_ENV = "ECS_LAB_BUCKET"
VISIBILITY_ENV = "ECS_LAB_VISIBILITY_S"
IDLE_ENV = "ECS_LAB_IDLE_S"
# The task's command in the grader's image (the Gradescope autograder's virtualenv).
TASK_COMMAND = ["/autograder/venv/bin/python", "-I", "-m", "grader.ecs.task"]


def run_prefix(run: str) -> str:
    return f"runs/{run}/"


def input_prefix(run: str, submission: str) -> str:
    return f"runs/{run}/input/{submission}/"


def claim_key(run: str, task: str, submission: str) -> str:
    return f"runs/{run}/claims/{task}/{submission}.json"


def claims_prefix(run: str, task: str) -> str:
    return f"runs/{run}/claims/{task}/"


def result_prefix(run: str, submission: str) -> str:
    return f"runs/{run}/results/{submission}/"


def done_prefix(run: str) -> str:
    return f"runs/{run}/done/"


def done_key(run: str, submission: str) -> str:
    return f"{done_prefix(run)}{submission}.json"


def task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


@dataclass
class Message:
    """One submission to grade (the body of its SQS message)."""

    run: str
    id: str
    tier: str
    lang: str
    timeout_s: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Message":
        data = json.loads(text)
        return cls(run=str(data["run"]), id=str(data["id"]), tier=str(data["tier"]), lang=str(data["lang"]),
                   timeout_s=float(data["timeout_s"]))


@dataclass
class Outcome:
    """How one grading ended in a task (runs/<run>/done/<id>.json): grader.runner.Finished, plus where."""

    id: str
    exit_code: int | None
    duration_s: float
    signal_name: str = ""
    report: dict | None = None
    attempt: int = 1  # the message's receive count: 2 when a first task died holding it
    task: str = ""  # the task's id
    cpu_s: float = 0.0  # CPU time of the grading (its children's), for the cost estimate
    files: list[str] = field(default_factory=list)  # the reports put under results/<id>/
    finished_at: float = 0.0  # epoch seconds, the task's clock

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Outcome":
        data = json.loads(text)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
