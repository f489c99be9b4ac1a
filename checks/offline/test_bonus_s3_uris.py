"""Bonus checkpoint bonus_s3_uris: S3 URIs accepted (s3_io.parse_s3_uri, the S3 task command)."""

import pytest

from ecslab.facts import CLASSIFIER_CONTAINER
from grader.feedback import Text, expect
from grader.student import Outcome, answered, expect_returned
from grader.tiers.fixtures import judged_once
from grader.tiers.offline.provision import register_classifier_task_definition

INPUT = "s3://ecs-lab-images-123456789012-eu-west-1/input/image.jpg"
OUTPUT = "s3://ecs-lab-images-123456789012-eu-west-1/output/result.json"
VALID = [(INPUT, ("ecs-lab-images-123456789012-eu-west-1", "input/image.jpg")),
         ("s3://bucket/a/b/c d.png", ("bucket", "a/b/c d.png"))]
INVALID = ["https://bucket.s3.amazonaws.com/key.jpg", "s3://bucket", "s3://bucket/", "s3:///key.jpg", "bucket/key.jpg", ""]


@pytest.fixture
def parsed(request) -> dict[str, Outcome]:
    """parse_s3_uri's outcome for every URI of this module, from one process of the student's code (a
    pure function: a process per URI cost a fork each); after a crash or a loop, the next URI runs in a
    fresh process, as it would alone."""
    return judged_once(request, _parse_every_uri)


def _parse_every_uri(fixture) -> dict[str, Outcome]:
    s3_io = fixture("s3_io")
    outcomes = {}
    for uri in [uri for uri, _expected in VALID] + INVALID:
        outcomes[uri] = s3_io.run("parse_s3_uri", uri)
        if outcomes[uri].status not in ("returned", "raised"):
            s3_io.student.close()
    return outcomes


@pytest.mark.parametrize("uri, expected", VALID)
def test_parses_valid_uris(parsed, uri, expected):
    expect_returned(parsed[uri], "parse_s3_uri")
    value = parsed[uri].value
    expect(tuple(value) == expected if isinstance(value, (tuple, list)) else False,
           "parse_s3_uri doit renvoyer (bucket, clé).", "parse_s3_uri must return (bucket, key).",
           expected=expected, seen=value)


@pytest.mark.parametrize("uri", INVALID)
def test_rejects_invalid_uris(parsed, uri):
    outcome = answered(parsed[uri], "parse_s3_uri")
    error = outcome.error
    expect(error is not None and error.is_a("ValueError"),
           "parse_s3_uri doit lever ValueError pour tout ce qui n'est pas s3://bucket/clé.",
           "parse_s3_uri must raise ValueError for anything that is not s3://bucket/key.",
           expected=Text(f"ValueError pour {uri!r}", f"ValueError for {uri!r}"),
           seen=error.type_name if error else outcome.value)


@pytest.mark.weight(2)
def test_s3_task_command(ops, account, lab):
    task_definition_arn = register_classifier_task_definition(account.backends, lab)
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
