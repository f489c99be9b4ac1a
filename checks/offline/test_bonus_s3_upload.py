"""Bonus checkpoint bonus_s3_upload: the JSON result is written to S3 (s3_io.upload_result).

Judged on the bucket's content as moto holds it, not on what the function returns.
"""

import json

from grader.evidence.awslogs import result_document
from grader.feedback import expect
from grader.worker.values import client


def test_writes_the_result_as_json(s3_io, account, lab):
    document = result_document(f"s3://{lab.bucket}/input/image.jpg")
    s3_io.call("upload_result", client("s3"), f"s3://{lab.bucket}/output/result.json", document)
    s3 = account.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=lab.bucket).get("Contents", [])]
    expect("output/result.json" in keys, "upload_result doit écrire l'objet à la clé de l'URI.",
           "upload_result must write the object at the URI's key.", expected="output/result.json", seen=keys)
    stored = s3.get_object(Bucket=lab.bucket, Key="output/result.json")
    try:
        parsed = json.loads(stored["Body"].read())
    except ValueError:
        parsed = None
    expect(parsed == document, "L'objet écrit doit être le document résultat en JSON.",
           "The written object must be the result document as JSON.", expected=document, seen=parsed)


def test_sets_the_json_content_type(s3_io, account, lab):
    s3_io.call("upload_result", client("s3"), f"s3://{lab.bucket}/output/result.json", {"predictions": []})
    s3 = account.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=lab.bucket).get("Contents", [])]
    content_type = s3.head_object(Bucket=lab.bucket, Key="output/result.json").get("ContentType") \
        if "output/result.json" in keys else None
    expect(content_type == "application/json", "Le résultat doit avoir le type de contenu application/json.",
           "The result must have the application/json content type.", expected="application/json", seen=content_type)
