"""Checkpoint bonus_task_exit_0 (bonus 4), on the local ECS: the S3 task really ends with code 0.

Your ``run_s3_classification_task`` starts the classifier in S3 mode (image read from the
lab's bucket, result written to it, through your s3_io.py in the image the grader
builds with it) as a real task
of the local ECS; the exit code is the container's own, as DescribeTasks reports it.
Your ``monitor_task`` must follow it to STOPPED and return it without raising.
"""

from __future__ import annotations

import pytest

from ecslab.facts import CLASSIFIER_CONTAINER
from grader.feedback import expect
from grader.student import error_text

from grader.tiers.local.runs import s3_run

pytestmark = pytest.mark.timeout(90, func_only=True)


@pytest.mark.weight(2)
def test_s3_task_exits_with_code_0(world, ops):
    run = s3_run(world, ops)
    container = next((c for c in run.task.get("containers", []) if c.get("name") == CLASSIFIER_CONTAINER), {})
    expect(run.task.get("lastStatus") == "STOPPED" and container.get("exitCode") == 0,
           "La tâche S3 doit se terminer avec le code de sortie 0.",
           "The S3 task must end with exit code 0.", expected=0,
           seen=f"{run.task.get('lastStatus')}, code {container.get('exitCode')}, {run.task.get('stoppedReason')}")


@pytest.mark.weight(1)
def test_monitor_reports_the_success(world, ops):
    run = s3_run(world, ops)
    error = run.monitor.error
    expect(error is None, "monitor_task ne doit pas lever d'exception pour une tâche réussie.",
           "monitor_task must not raise for a successful task.", seen=error_text(error) if error else None)
    task = run.monitor.value if isinstance(run.monitor.value, dict) else {}
    expect(task.get("lastStatus") == "STOPPED", "monitor_task doit renvoyer la tâche STOPPED.",
           "monitor_task must return the STOPPED task.", seen=task.get("lastStatus", run.monitor.value))
