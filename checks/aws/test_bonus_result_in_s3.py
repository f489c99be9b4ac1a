"""Checkpoint bonus_result_in_s3 (bonus step 4), aws: the result document is readable in S3.

Reads: S3 GetObject of output/result.json in the lab's bucket (or of the output URI of the
latest S3-mode run, ECS or CloudTrail RunTask, when it names another key of the bucket).
Verified at stage part2.
"""

import json

import pytest

from grader.tiers.aws import lookup
from grader.feedback import expect, fail

pytestmark = pytest.mark.stage("part2")


@pytest.fixture(scope="module")
def result(world, names):
    keys = [lookup.RESULT_KEY]
    for run in lookup.classifier_runs(world):
        uris = [arg for arg in run.command if arg.startswith(f"s3://{names.bucket}/")]
        if run.s3_mode and uris:
            keys.append(uris[-1].removeprefix(f"s3://{names.bucket}/"))
    for key in dict.fromkeys(keys):
        found = lookup.s3_object(world, names.bucket, key)
        if found is not None:
            world.note(uri=f"s3://{names.bucket}/{key}", written_at=found[0].get("LastModified"))
            return key, found[1]
    fail(f"Aucun résultat dans S3 : s3://{names.bucket}/{lookup.RESULT_KEY} n'existe pas (bonus, étape 4).",
         f"No result in S3: s3://{names.bucket}/{lookup.RESULT_KEY} does not exist (bonus, step 4).",
         expected=f"s3://{names.bucket}/{lookup.RESULT_KEY}", seen=lookup.NOTHING)


def test_result_object_exists(result):
    assert result


def test_result_is_a_classification_document(world, result):
    key, body = result
    try:
        document = json.loads(body)
    except ValueError:
        fail(f"{key} n'est pas un document JSON.", f"{key} is not a JSON document.", seen=body[:120])
    problems = lookup.result_problems(document, world.lang)
    expect(not problems, f"{key} n'est pas un résultat de classification réussi.",
           f"{key} is not a successful classification result.",
           expected='{"input": {"url": "s3://…"}, "predictions": [...], "processing": {"success": true}}',
           seen=problems)
