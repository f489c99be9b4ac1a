"""Checkpoint bonus_result_in_s3 (bonus 4), on the local ECS: the result object is really in S3.

After the real S3 task of bonus_task_exit_0 (your run_s3_classification_task and
monitor_task; the container's s3_io.upload_result is yours), the output object must exist
in the lab's bucket, hold the result document (JSON, predictions of the photo), and your
``download_s3_result`` must return that same document.
"""

from __future__ import annotations

import json

import pytest

from ecslab.facts import CLASSIFIER_CONTAINER
from grader.feedback import Text, expect, fail

from grader.tiers.local.runs import s3_run

pytestmark = pytest.mark.timeout(90, func_only=True)


def _object(world, uri: str) -> bytes | None:
    bucket, _, key = uri[len("s3://"):].partition("/")
    s3 = world.client("s3")
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def _exit_code(task: dict):
    return next((c.get("exitCode") for c in task.get("containers", []) if c.get("name") == CLASSIFIER_CONTAINER),
                None)


@pytest.mark.weight(2)
def test_result_object_is_in_s3(world, ops):
    run = s3_run(world, ops)
    body = _object(world, run.output_uri)
    expect(body is not None, "L'objet résultat n'existe pas dans S3 après la tâche.",
           "The result object does not exist in S3 after the task.", expected=run.output_uri,
           seen=Text(f"tâche {run.task.get('lastStatus')}, code de sortie {_exit_code(run.task)}",
                     f"task {run.task.get('lastStatus')}, exit code {_exit_code(run.task)}"))
    try:
        document = json.loads(body)
    except ValueError:
        fail("L'objet résultat n'est pas du JSON.", "The result object is not JSON.", seen=body[:200])
    top = (document.get("predictions") or [{}])[0].get("label") if isinstance(document, dict) else None
    expect(top == "espresso", "L'objet résultat ne contient pas la classification de l'image.",
           "The result object does not hold the image's classification.", expected="espresso", seen=top)


@pytest.mark.weight(1)
def test_download_s3_result_reads_it(world, ops):
    run = s3_run(world, ops)
    body = _object(world, run.output_uri)
    expect(body is not None, "Pas d'objet résultat dans S3 à relire.", "No result object in S3 to read back.",
           expected=run.output_uri)
    document = ops.call("download_s3_result", run.output_uri)
    expect(document == json.loads(body), "download_s3_result doit renvoyer le document de l'objet S3.",
           "download_s3_result must return the S3 object's document.", seen=document)
