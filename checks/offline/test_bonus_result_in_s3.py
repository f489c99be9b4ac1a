"""Bonus checkpoint bonus_result_in_s3: the result is read back from S3 (download_s3_result)."""

import json

from grader.feedback import Text, expect
from grader.harness import student
from grader.harness.awslogs import result_document

DOWNLOAD = Text("download_s3_result", "download_s3_result")


def test_reads_and_parses_the_result(ops, account, lab):
    document = result_document(f"s3://{lab.bucket}/input/image.jpg")
    account.client("s3").put_object(Bucket=lab.bucket, Key="output/result.json",
                                    Body=json.dumps(document).encode(), ContentType="application/json")
    value = student.call(DOWNLOAD, student.method(ops, "download_s3_result"), f"s3://{lab.bucket}/output/result.json")
    expect(value == document, "download_s3_result doit renvoyer le document JSON décodé (dict).",
           "download_s3_result must return the decoded JSON document (dict).", expected=document, seen=value)


def test_a_missing_result_is_an_error(ops, lab):
    value, error = student.outcome(DOWNLOAD, student.method(ops, "download_s3_result"),
                                   f"s3://{lab.bucket}/output/absent.json")
    expect(isinstance(error, Exception), "Un résultat absent doit lever une exception.",
           "A missing result must raise an exception.", expected="une exception", seen=value)
