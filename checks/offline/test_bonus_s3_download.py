"""Bonus checkpoint bonus_s3_download: the image is read from S3 (s3_io.download_image)."""

from grader.feedback import Text, expect
from grader.worker.values import client

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def test_downloads_the_object_bytes(s3_io, account, lab):
    account.client("s3").put_object(Bucket=lab.bucket, Key="input/image.png", Body=PNG)
    value = s3_io.call("download_image", client("s3"), f"s3://{lab.bucket}/input/image.png")
    size = len(value) if isinstance(value, (bytes, str, list, dict)) else None
    expect(value == PNG, "download_image doit renvoyer le contenu brut (bytes) de l'objet S3.",
           "download_image must return the S3 object's raw content (bytes).",
           expected=Text(f"{len(PNG)} octets", f"{len(PNG)} bytes"),
           seen=f"{type(value).__name__}{f' ({size})' if size is not None else ''}: {value!r:.80}")


def test_a_missing_object_is_an_error(s3_io, lab):
    error = s3_io.raised("download_image", client("s3"), f"s3://{lab.bucket}/input/absente.jpg")
    expect(error is not None and error.is_exception,
           "Un objet absent doit lever une exception (pas renvoyer des octets vides).",
           "A missing object must raise an exception (not return empty bytes).",
           expected=Text("une exception", "an exception"), seen=Text("aucune exception", "no exception"))
