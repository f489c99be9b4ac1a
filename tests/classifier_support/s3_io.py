"""Stand-in for the lab's ``s3_io`` contract, used only when reference/s3_io.py is absent."""
from __future__ import annotations

import json


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket or not key:
        raise ValueError(f"bucket or key missing: {uri!r}")
    return bucket, key


def download_image(s3_client, uri: str) -> bytes:
    bucket, key = parse_s3_uri(uri)
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def upload_result(s3_client, uri: str, result: dict) -> None:
    bucket, key = parse_s3_uri(uri)
    s3_client.put_object(Bucket=bucket, Key=key, Body=json.dumps(result).encode("utf-8"),
                         ContentType="application/json")
