"""Checkpoint bonus_s3_upload (bonus 1), with a real container: your ``upload_result`` writes the
result to S3.

The classifier image the grader builds with your ``s3_io.py`` runs in S3 mode
(``python classifier.py s3://in s3://out``) against the moto server, with the credentials
of the lab's classifier task role: the output object must exist, be JSON with the content
type ``application/json``, and hold the document the classifier printed. With an input
that is not an image, the container must exit 1 and write no output object (only judged
once a valid image does give an object: writing nothing at all earns nothing).
"""

from __future__ import annotations

import json
import uuid

import pytest

from ecslab.facts import REGION
from grader.feedback import Text, expect

from grader.tiers.local.containers import run_container
from grader.tiers.local.photos import photo_path

pytestmark = pytest.mark.timeout(120, func_only=True)


def _s3_run(world, body: bytes, content_type: str):
    prefix = f"local-checks/{uuid.uuid4().hex[:8]}"
    s3 = world.client("s3")
    s3.put_object(Bucket=world.bucket, Key=f"{prefix}/in.png", Body=body, ContentType=content_type)
    credentials = world.client("sts").assume_role(RoleArn=world.outputs["ImageClassifierTaskRoleArn"],
                                                  RoleSessionName="local-check")["Credentials"]
    environment = {"AWS_ENDPOINT_URL": world.ecs.container_endpoint_url, "AWS_DEFAULT_REGION": REGION,
                   "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                   "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                   "AWS_SESSION_TOKEN": credentials["SessionToken"]}
    output_key = f"{prefix}/out/result.json"
    run = run_container(world.ecs, world.images.classifier,
                        ["python", "classifier.py", f"s3://{world.bucket}/{prefix}/in.png",
                         f"s3://{world.bucket}/{output_key}"], environment=environment)
    try:
        head = s3.head_object(Bucket=world.bucket, Key=output_key)
        content = s3.get_object(Bucket=world.bucket, Key=output_key)["Body"].read()
    except (s3.exceptions.NoSuchKey, s3.exceptions.ClientError):
        head, content = None, None
    return run, head, content, f"s3://{world.bucket}/{output_key}"


def _good_run(world):
    return world.shared_run("bonus_s3_upload:coffee").get(
        lambda: _s3_run(world, photo_path("coffee.png").read_bytes(), "image/png"))


@pytest.mark.weight(3)
def test_result_object_written(world):
    run, head, content, output_uri = _good_run(world)
    expect(run.exit_code == 0, "Le classificateur en mode S3 doit se terminer avec le code 0.",
           "The classifier in S3 mode must exit with code 0.", expected=0,
           seen=f"{run.exit_code} : {run.output[-300:]}")
    expect(head is not None, "upload_result n'a écrit aucun objet dans S3.", "upload_result wrote no object to S3.",
           expected=output_uri, seen=Text("aucun objet (le conteneur s'est pourtant terminé avec le code 0)",
                                          "no object (although the container exited with code 0)"))
    expect(head.get("ContentType") == "application/json", "L'objet doit avoir le type application/json.",
           "The object must have the content type application/json.", seen=head.get("ContentType"))
    try:
        document = json.loads(content)
    except ValueError:
        document = None
    expect(isinstance(document, dict), "L'objet doit contenir le document résultat en JSON.",
           "The object must hold the result document as JSON.", seen=content[:200])
    expect(document == run.result_document(), "L'objet doit contenir le document que le classificateur a produit.",
           "The object must hold the document the classifier produced.", seen=document)


@pytest.mark.weight(1)
def test_bad_input_writes_nothing(world):
    _run, good_head, _content, _uri = _good_run(world)
    expect(good_head is not None, "Vérifiable seulement quand une image valide donne un objet résultat dans S3.",
           "Only verifiable once a valid image gives a result object in S3.")
    run, head, _content, _uri = _s3_run(world, b"<html>pas une image</html>", "image/png")
    expect(run.exit_code == 1, "Une entrée S3 qui n'est pas une image doit terminer le conteneur avec le code 1.",
           "An S3 input that is not an image must end the container with code 1.", expected=1, seen=run.exit_code)
    expect(head is None, "Aucun objet résultat ne doit être écrit quand la classification échoue.",
           "No result object may be written when the classification fails.")
