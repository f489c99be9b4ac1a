"""Read the image to classify: an http(s) URL or a local file, with safety limits.

Limits (environment variables, with defaults):
- ``MAX_DOWNLOAD_BYTES`` (20 MiB): larger downloads or files are refused;
- ``DOWNLOAD_TIMEOUT`` (30 s): connection/read timeout and total download time;
- ``MAX_IMAGE_PIXELS`` (50 million): larger images are refused before decoding
  (a "decompression bomb" is a small file that decodes to a huge image).
"""
from __future__ import annotations

import io
import os
import time
import warnings
from pathlib import Path
from urllib.parse import urlparse

import requests
from PIL import Image, ImageOps, UnidentifiedImageError
from urllib3.exceptions import ReadTimeoutError

from errors import ClassifierError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_PIXELS = 50_000_000
_CHUNK = 64 * 1024
_USER_AGENT = "ecs-lab-image-classifier/1.0"


def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        raise ClassifierError(f"Variable d'environnement {name} invalide : {os.environ[name]!r}") from None
    if value <= 0:
        raise ClassifierError(f"Variable d'environnement {name} invalide : doit être positive")
    return value


def max_bytes() -> int:
    return int(_env_number("MAX_DOWNLOAD_BYTES", DEFAULT_MAX_BYTES))


def download_timeout() -> float:
    return _env_number("DOWNLOAD_TIMEOUT", DEFAULT_TIMEOUT)


def max_pixels() -> int:
    return int(_env_number("MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS))


def _too_big(limit: int) -> ClassifierError:
    return ClassifierError(f"Image trop volumineuse : plus de {limit / 1024 / 1024:.1f} Mo (limite)")


def _too_slow(url: str, timeout: float) -> ClassifierError:
    return ClassifierError(f"Téléchargement trop lent : délai de {timeout:g} s dépassé pour {url}")


def is_url(source: str) -> bool:
    return urlparse(source).scheme.lower() in ("http", "https")


def download(url: str, limit: int | None = None, timeout: float | None = None) -> bytes:
    """Download ``url``; refuse HTTP errors, bodies over ``limit`` bytes and slow servers."""
    limit = limit or max_bytes()
    timeout = timeout or download_timeout()
    deadline = time.monotonic() + timeout
    try:
        with requests.get(url, stream=True, timeout=timeout, headers={"User-Agent": _USER_AGENT}) as resp:
            if resp.status_code >= 400:
                raise ClassifierError(
                    f"Téléchargement impossible : le serveur a répondu HTTP {resp.status_code}"
                    f" {resp.reason or ''}".rstrip() + f" pour {url}")
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _too_big(limit)
            body = bytearray()
            for chunk in resp.iter_content(_CHUNK):
                body += chunk
                if len(body) > limit:
                    raise _too_big(limit)
                if time.monotonic() > deadline:
                    raise requests.Timeout()
            return bytes(body)
    except requests.Timeout:
        raise _too_slow(url, timeout) from None
    except requests.exceptions.InvalidURL:
        raise ClassifierError(f"URL invalide : {url}") from None
    except requests.RequestException as exc:
        if any(isinstance(arg, ReadTimeoutError) for arg in exc.args):  # timed out while streaming the body
            raise _too_slow(url, timeout) from None
        reason = type(exc).__name__
        raise ClassifierError(f"Téléchargement impossible ({reason}) : serveur injoignable pour {url}") from None


def read_file(path: str, limit: int | None = None) -> bytes:
    """Read a local image file, refusing missing files and files over ``limit`` bytes."""
    limit = limit or max_bytes()
    p = Path(path)
    if not p.is_file():
        raise ClassifierError(f"Fichier introuvable : {path}")
    if p.stat().st_size > limit:
        raise _too_big(limit)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ClassifierError(f"Lecture impossible du fichier {path} : {exc.strerror or exc}") from None


def fetch(source: str) -> bytes:
    """Bytes of an http(s) URL or a local path; other schemes are refused."""
    scheme = urlparse(source).scheme.lower()
    if is_url(source):
        return download(source)
    if scheme and len(scheme) > 1:  # "C:" style drive letters are paths, "ftp:" is not
        raise ClassifierError(
            f"Adresse non prise en charge : {source} (utilisez http(s)://, s3:// ou un fichier)")
    return read_file(source)


def decode(data: bytes, limit_pixels: int | None = None) -> Image.Image:
    """Decode image bytes into an RGB PIL image; refuse non-images and oversized images."""
    limit_pixels = limit_pixels or max_pixels()
    if not data:
        raise ClassifierError("Le contenu reçu est vide : ce n'est pas une image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > limit_pixels:
                raise ClassifierError(
                    f"Image trop grande pour être décodée sans risque : {width}×{height} pixels"
                    f" (limite {limit_pixels} pixels)")
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # as transformers' load_image does
            return image if image.mode == "RGB" else image.convert("RGB")
    except ClassifierError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ClassifierError("Image trop grande pour être décodée sans risque (bombe de décompression)") from None
    except UnidentifiedImageError:
        raise ClassifierError("Le contenu reçu n'est pas une image reconnue (JPEG, PNG, GIF, WebP...)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ClassifierError(f"Image corrompue ou illisible : {exc}") from None
