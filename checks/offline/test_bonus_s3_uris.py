"""Bonus checkpoint bonus_s3_uris: S3 URIs accepted (s3_io.parse_s3_uri, the S3 task command)."""

import pytest

from ecslab.facts import CLASSIFIER_CONTAINER
from grader.feedback import Text, expect
from grader.tiers.offline.provision import register_classifier_task_definition

INPUT = "s3://ecs-lab-images-123456789012-eu-west-1/input/image.jpg"
OUTPUT = "s3://ecs-lab-images-123456789012-eu-west-1/output/result.json"


@pytest.mark.parametrize("uri, expected", [
    (INPUT, ("ecs-lab-images-123456789012-eu-west-1", "input/image.jpg")),
    ("s3://bucket/a/b/c d.png", ("bucket", "a/b/c d.png")),
])
def test_parses_valid_uris(s3_io, uri, expected):
    value = s3_io.call("parse_s3_uri", uri)
    expect(tuple(value) == expected if isinstance(value, (tuple, list)) else False,
           "parse_s3_uri doit renvoyer (bucket, clé).", "parse_s3_uri must return (bucket, key).",
           expected=expected, seen=value)


@pytest.mark.parametrize("uri", ["https://bucket.s3.amazonaws.com/key.jpg", "s3://bucket", "s3://bucket/",
                                 "s3:///key.jpg", "bucket/key.jpg", ""])
def test_rejects_invalid_uris(s3_io, uri):
    outcome = s3_io.answer("parse_s3_uri", uri)
    error = outcome.error
    expect(error is not None and error.is_a("ValueError"),
           "parse_s3_uri doit lever ValueError pour tout ce qui n'est pas s3://bucket/clé.",
           "parse_s3_uri must raise ValueError for anything that is not s3://bucket/key.",
           expected=Text(f"ValueError pour {uri!r}", f"ValueError for {uri!r}"),
           seen=error.type_name if error else outcome.value)


@pytest.mark.weight(2)
def test_s3_task_command(ops, account, lab):
    task_definition_arn = register_classifier_task_definition(account.client, lab)
    ops.call("run_s3_classification_task", lab.cluster, task_definition_arn, lab.subnet_ids,
             lab.security_group_id, INPUT, OUTPUT)
    call = account.requests.last("RunTask")
    overrides = ((call.params if call else {}).get("overrides") or {}).get("containerOverrides") or []
    mine = [o for o in overrides if o.get("name") == CLASSIFIER_CONTAINER]
    command = mine[0].get("command") if mine else None
    expect(command == ["python", "classifier.py", INPUT, OUTPUT],
           "En mode S3, la commande du conteneur image-classifier est "
           "[\"python\", \"classifier.py\", input_s3_uri, output_s3_uri].",
           "In S3 mode the image-classifier container's command is "
           "[\"python\", \"classifier.py\", input_s3_uri, output_s3_uri].",
           expected=["python", "classifier.py", INPUT, OUTPUT], seen=command or overrides)
