"""Bonus : lecture de l'image et écriture du résultat dans S3 (solution de référence).

Le classificateur (containers/image-classifier/classifier.py) importe ce module
en mode S3 : ``python classifier.py s3://bucket/input/image.jpg s3://bucket/output/result.json``.
"""

from __future__ import annotations

import json


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Découpe « s3://bucket/cle » en (bucket, cle) ; ValueError pour toute autre forme."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"URI S3 invalide (attendu s3://bucket/cle) : {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket or not key:
        raise ValueError(f"URI S3 invalide (bucket ou clé manquant) : {uri!r}")
    return bucket, key


def download_image(s3_client, uri: str) -> bytes:
    """Télécharge l'objet S3 désigné par ``uri`` et renvoie son contenu brut."""
    bucket, key = parse_s3_uri(uri)
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def upload_result(s3_client, uri: str, result: dict) -> None:
    """Écrit ``result`` en JSON (type application/json) à l'emplacement ``uri``."""
    bucket, key = parse_s3_uri(uri)
    s3_client.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(result, ensure_ascii=False, indent=2).encode("utf-8"),
        ContentType="application/json",
    )
