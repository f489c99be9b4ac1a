"""Bonus : lecture de l'image et écriture du résultat dans S3.

Le classificateur (containers/image-classifier/classifier.py) importe ce module
en mode S3 : ``python classifier.py s3://bucket/input/image.jpg s3://bucket/output/result.json``.
L'image Docker du classificateur est construite avec VOTRE version de ce fichier
(``ecs-lab build classifier``).
"""

from __future__ import annotations

import json  # noqa: F401 - utile pour upload_result


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Découpe une URI S3 en (bucket, clé).

    Exemple : ``parse_s3_uri("s3://mon-bucket/input/image.jpg")`` renvoie
    ``("mon-bucket", "input/image.jpg")``.

    TODO :
    - lever ``ValueError`` avec un message clair si ``uri`` ne commence pas par ``s3://`` ;
    - séparer le bucket de la clé au premier ``/`` après ``s3://`` ;
    - lever ``ValueError`` si le bucket ou la clé est vide.
    """
    raise NotImplementedError("À implémenter")


def download_image(s3_client, uri: str) -> bytes:
    """Télécharge l'image désignée par ``uri`` et renvoie ses octets.

    TODO : utilisez ``parse_s3_uri`` puis ``s3_client.get_object(Bucket=..., Key=...)`` ;
    le contenu se lit avec ``response["Body"].read()``.
    """
    raise NotImplementedError("À implémenter")


def upload_result(s3_client, uri: str, result: dict) -> None:
    """Écrit le document résultat ``result`` en JSON dans S3, à l'emplacement ``uri``.

    TODO : utilisez ``parse_s3_uri`` puis ``s3_client.put_object`` avec
    ``Body=json.dumps(result).encode("utf-8")`` et ``ContentType="application/json"``.
    """
    raise NotImplementedError("À implémenter")
