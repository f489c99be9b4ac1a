"""Bonus checkpoint bonus_s3_download: the image is read from S3 (s3_io.download_image)."""

from grader.feedback import Text, expect
from grader.harness import student

DOWNLOAD = Text("download_image", "download_image")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def test_downloads_the_object_bytes(s3_io, account, lab):
    account.client("s3").put_object(Bucket=lab.bucket, Key="input/image.png", Body=PNG)
    value = student.call(DOWNLOAD, student.method(s3_io, "download_image"), account.session.client("s3"),
                         f"s3://{lab.bucket}/input/image.png")
    expect(value == PNG, "download_image doit renvoyer le contenu brut (bytes) de l'objet S3.",
           "download_image must return the S3 object's raw content (bytes).",
           expected=f"{len(PNG)} octets", seen=f"{type(value).__name__} {len(value) if hasattr(value, '__len__') else ''}")


def test_a_missing_object_is_an_error(s3_io, account, lab):
    value, error = student.outcome(DOWNLOAD, student.method(s3_io, "download_image"),
                                   account.session.client("s3"), f"s3://{lab.bucket}/input/absente.jpg")
    expect(isinstance(error, Exception), "Un objet absent doit lever une exception (pas renvoyer des octets vides).",
           "A missing object must raise an exception (not return empty bytes).",
           expected="une exception", seen=value)
