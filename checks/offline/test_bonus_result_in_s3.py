"""Bonus checkpoint bonus_result_in_s3: the result is read back from S3 (download_s3_result)."""

import json

from grader.evidence.awslogs import result_document
from grader.feedback import Text, expect


def test_reads_and_parses_the_result(ops, account, lab):
    document = result_document(f"s3://{lab.bucket}/input/image.jpg")
    account.client("s3").put_object(Bucket=lab.bucket, Key="output/result.json",
                                    Body=json.dumps(document).encode(), ContentType="application/json")
    value = ops.call("download_s3_result", f"s3://{lab.bucket}/output/result.json")
    expect(value == document, "download_s3_result doit renvoyer le document JSON décodé (dict).",
           "download_s3_result must return the decoded JSON document (dict).", expected=document, seen=value)
    read = [c for c in account.requests.calls if c.caller == "student" and c.operation.startswith("GET ")
            and c.operation.endswith("/output/result.json")]
    expect(read, "Le document doit être lu dans S3 (get_object sur la clé de l'URI).",
           "The document must be read from S3 (get_object on the URI's key).",
           seen=account.requests.operations()[-5:])


def test_a_missing_result_is_an_error(ops, lab):
    error = ops.raised("download_s3_result", f"s3://{lab.bucket}/output/absent.json")
    expect(error is not None and error.is_exception, "Un résultat absent doit lever une exception.",
           "A missing result must raise an exception.", expected=Text("une exception", "an exception"),
           seen=Text("aucune exception", "no exception"))
