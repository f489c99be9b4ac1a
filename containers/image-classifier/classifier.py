"""Image classifier of the ECS lab (container ``image-classifier``).

Usage::

    python classifier.py <http(s) URL | local file>      (or IMAGE_URL=... python classifier.py)
    python classifier.py s3://bucket/in.jpg s3://bucket/out.json
    python classifier.py --self-check                     (load the model, classify a test pattern)

Prints the top 5 predictions, then the result document as one line of JSON;
exits 0. On bad input, prints one French message on stderr and exits 1.
The model directory comes from ``MODEL_DIR`` (default ``/app/model``).
"""
from __future__ import annotations

import functools
import os
import sys
import threading
import time
from typing import TYPE_CHECKING

from PIL import Image

from errors import ClassifierError, tr
from image_input import decode, fetch, http_client, is_url, max_bytes, too_big
from result import build_result, to_json_line, top_lines

if TYPE_CHECKING:
    from model import ImageClassifier  # imported by the model loader: NumPy and onnxruntime take 80 ms

DEFAULT_MODEL_DIR = "/app/model"
USAGE_FR = ("Utilisation : python classifier.py <URL http(s) ou fichier>\n"
            "          ou python classifier.py s3://bucket/entree.jpg s3://bucket/sortie.json\n"
            "          (ou la variable d'environnement IMAGE_URL ; ECS_LAB_LANG=en pour l'anglais)")
USAGE_EN = ("Usage: python classifier.py <http(s) URL or file>\n"
            "    or python classifier.py s3://bucket/input.jpg s3://bucket/output.json\n"
            "       (or the IMAGE_URL environment variable; ECS_LAB_LANG=fr for French)")


@functools.lru_cache(maxsize=None)
def _load_classifier(model_dir: str) -> ImageClassifier:
    from model import ImageClassifier
    return ImageClassifier(model_dir)


def get_classifier() -> ImageClassifier:
    """The classifier of ``MODEL_DIR``, loaded once per process."""
    return _load_classifier(os.environ.get("MODEL_DIR", DEFAULT_MODEL_DIR))


class ModelLoading:
    """:func:`get_classifier` run in a background thread, started before the image is downloaded.

    In a task's single run, importing NumPy and onnxruntime and creating the session
    (about 140 ms) overlap the download (from a URL or S3), which waits on the network;
    :meth:`result` waits for the model and raises its error, if any.
    """

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: ImageClassifier | None = None
        self._error: BaseException | None = None
        # A daemon: a bad image ends the process without waiting for the model.
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def _load(self) -> None:
        try:
            self._value = get_classifier()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by result()
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> ImageClassifier:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


def classify_bytes(data: bytes, source: str, clf: ImageClassifier | ModelLoading | None = None) -> dict:
    """Decode, classify (with ``clf``, default :func:`get_classifier`) and build the result document."""
    start = time.perf_counter()
    image = decode(data)
    if isinstance(clf, ModelLoading):
        clf = clf.result()
    clf = clf or get_classifier()
    predictions = clf.classify(image, top_k=5)
    duration_ms = (time.perf_counter() - start) * 1000
    return build_result(source, clf.name, clf.version, predictions, duration_ms)


def classify_source(source: str) -> dict:
    """Fetch (URL or file), then classify; the duration covers the download too."""
    start = time.perf_counter()
    # Downloading waits on the network: the model loads meanwhile, once requests is imported (two
    # threads importing side by side only contend for the GIL: measured slower). A file is read at once.
    model = None
    if is_url(source):
        http_client()
        model = ModelLoading()
    result = classify_bytes(fetch(source), source, model)
    result["processing"]["duration_ms"] = round((time.perf_counter() - start) * 1000, 1)
    return result


def _s3_client():
    import boto3  # only needed in S3 mode
    return boto3.client("s3")


def classify_s3(input_uri: str, output_uri: str, s3_client=None) -> dict:
    """S3 mode (bonus): read the image, classify, write the result document."""
    model = ModelLoading()  # while boto3 is imported and the image downloaded
    try:
        import s3_io  # the student's module, copied into the image at build time
    except ModuleNotFoundError as exc:
        if exc.name != "s3_io":
            raise ClassifierError(f"Le module s3_io.py ne se charge pas : {exc}",
                                  f"The s3_io.py module does not load: {exc}") from None
        raise ClassifierError("Mode S3 indisponible : le module s3_io.py est absent de l'image",
                              "S3 mode unavailable: the s3_io.py module is not in the image") from None
    except Exception as exc:  # noqa: BLE001 - the student's code may fail in any way
        raise ClassifierError(f"Le module s3_io.py ne se charge pas : {type(exc).__name__}: {exc}",
                              f"The s3_io.py module does not load: {type(exc).__name__}: {exc}") from None
    for uri in (input_uri, output_uri):
        try:
            s3_io.parse_s3_uri(uri)
        except ValueError:
            raise ClassifierError(f"URI S3 invalide : {uri} (attendu s3://bucket/clé)",
                                  f"Invalid S3 URI: {uri} (expected s3://bucket/key)") from None
    client = s3_client or _s3_client()
    start = time.perf_counter()
    try:
        data = s3_io.download_image(client, input_uri)
    except ClassifierError:
        raise
    except Exception as exc:  # noqa: BLE001 - the student's code may raise anything
        raise ClassifierError(f"Lecture impossible de {input_uri} : {_s3_reason(exc)}",
                              f"Cannot read {input_uri}: {_s3_reason(exc)}") from None
    if not isinstance(data, (bytes, bytearray)):
        raise ClassifierError("s3_io.download_image doit renvoyer des octets (bytes)",
                              "s3_io.download_image must return bytes")
    if len(data) > max_bytes():
        raise too_big(max_bytes())
    result = classify_bytes(bytes(data), input_uri, model)
    result["processing"]["duration_ms"] = round((time.perf_counter() - start) * 1000, 1)
    try:
        s3_io.upload_result(client, output_uri, result)
    except Exception as exc:  # noqa: BLE001
        raise ClassifierError(f"Écriture impossible de {output_uri} : {_s3_reason(exc)}",
                              f"Cannot write {output_uri}: {_s3_reason(exc)}") from None
    return result


def _s3_reason(exc: Exception) -> str:
    """A short reason for an S3 failure (botocore's error code when there is one)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return tr("l'objet n'existe pas", "the object does not exist")
        if code == "NoSuchBucket":
            return tr("le bucket n'existe pas", "the bucket does not exist")
        if code in ("AccessDenied", "403"):
            return tr("accès refusé", "access denied")
        if code:
            return tr(f"erreur S3 {code}", f"S3 error {code}")
    return str(exc) or type(exc).__name__


def self_check() -> None:
    """Load the model and classify a generated picture (build-time smoke test)."""
    clf = get_classifier()
    predictions = clf.classify(Image.linear_gradient("L").convert("RGB").resize((320, 240)), top_k=1)
    print(tr(f"Modèle OK : {clf.name} ({clf.version}), {len(clf.labels)} classes,"
             f" {clf.threads} thread(s), fichier {clf.onnx_path.name} -> {predictions[0].label}",
             f"Model OK: {clf.name} ({clf.version}), {len(clf.labels)} classes,"
             f" {clf.threads} thread(s), file {clf.onnx_path.name} -> {predictions[0].label}"))


def run(argv: list[str]) -> int:
    if argv == ["--self-check"]:
        self_check()
        return 0
    if argv in (["-h"], ["--help"]):
        print(tr(USAGE_FR, USAGE_EN))
        return 0
    if not argv and os.environ.get("IMAGE_URL"):
        argv = [os.environ["IMAGE_URL"]]
    if len(argv) == 1 and not argv[0].startswith("s3://"):
        print(tr(f"Classification de l'image : {argv[0]}", f"Classifying the image: {argv[0]}"), flush=True)
        result = classify_source(argv[0])
    elif len(argv) == 2:
        if not (argv[0].startswith("s3://") and argv[1].startswith("s3://")):
            raise ClassifierError("Mode S3 : les deux arguments doivent être des URI s3://bucket/clé"
                                  " (voir python classifier.py --help)",
                                  "S3 mode: both arguments must be s3://bucket/key URIs"
                                  " (see python classifier.py --help)")
        print(tr(f"Classification de l'image S3 : {argv[0]} -> {argv[1]}",
                 f"Classifying the S3 image: {argv[0]} -> {argv[1]}"), flush=True)
        result = classify_s3(argv[0], argv[1])
    else:
        raise ClassifierError("Arguments invalides : attendu une URL http(s), un fichier, ou deux URI s3://"
                              " (voir python classifier.py --help)",
                              "Invalid arguments: expected an http(s) URL, a file, or two s3:// URIs"
                              " (see python classifier.py --help)")

    print(tr("Modèle : ", "Model: ") + f"{result['model']['name']} ({result['model']['version']})")
    print(tr("Top 5 des prédictions :", "Top 5 predictions:"))
    for line in top_lines(result):
        print(line)
    if len(argv) == 2:
        print(tr(f"Résultat écrit dans {argv[1]}", f"Result written to {argv[1]}"))
    print(to_json_line(result), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    error = tr("Erreur : ", "Error: ")
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except ClassifierError as exc:
        message = str(exc)
    except KeyboardInterrupt:
        message = tr("interrompu", "interrupted")
    except MemoryError:
        message = tr("mémoire insuffisante pour traiter cette image", "not enough memory to process this image")
    except Exception as exc:  # noqa: BLE001 - a student never sees a traceback
        error = tr(f"Erreur inattendue ({type(exc).__name__}) : ", f"Unexpected error ({type(exc).__name__}): ")
        message = str(exc)
    print(error + " ".join(message.split()), file=sys.stderr, flush=True)  # one line, whatever the text
    return 1


def exit_now(code: int) -> None:
    """Exit once the output is flushed, without the interpreter's teardown (about 30 ms of a
    task's billed time: onnxruntime's thread pools, NumPy, and a model loader still running
    when the image was refused)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
