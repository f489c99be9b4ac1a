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

from PIL import Image, ImageOps, UnidentifiedImageError

from errors import ClassifierError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_PIXELS = 50_000_000
_CHUNK = 64 * 1024
_USER_AGENT = "ecs-lab-image-classifier/1.0"
# The modes decode() returns, which the preprocessing takes as they are.
MODEL_MODES = ("RGB", "RGBX", "L")
# Pillow modes of more than 8 bits per sample, which convert("RGB") would clip (16-bit grey -> white).
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        raise ClassifierError(f"Variable d'environnement {name} invalide : {os.environ[name]!r}",
                              f"Invalid environment variable {name}: {os.environ[name]!r}") from None
    if value <= 0:
        raise ClassifierError(f"Variable d'environnement {name} invalide : doit être positive",
                              f"Invalid environment variable {name}: must be positive")
    return value


def max_bytes() -> int:
    return int(_env_number("MAX_DOWNLOAD_BYTES", DEFAULT_MAX_BYTES))


def download_timeout() -> float:
    return _env_number("DOWNLOAD_TIMEOUT", DEFAULT_TIMEOUT)


def max_pixels() -> int:
    return int(_env_number("MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS))


def too_big(limit: int) -> ClassifierError:
    return ClassifierError(f"Image trop volumineuse : plus de {limit / 1024 / 1024:.1f} Mo (limite)",
                           f"Image too large: over {limit / 1024 / 1024:.1f} MB (limit)")


def _too_slow(url: str, timeout: float) -> ClassifierError:
    return ClassifierError(f"Téléchargement trop lent : délai de {timeout:g} s dépassé pour {url}",
                           f"Download too slow: {timeout:g} s timeout exceeded for {url}")


def is_url(source: str) -> bool:
    return urlparse(source).scheme.lower() in ("http", "https")


def http_client():
    """``requests``, imported on first use: about 70 ms of the start of a process that reads a file."""
    import requests
    return requests


def download(url: str, limit: int | None = None, timeout: float | None = None) -> bytes:
    """Download ``url``; refuse HTTP errors, bodies over ``limit`` bytes and slow servers."""
    requests = http_client()
    from urllib3.exceptions import ReadTimeoutError

    limit = limit or max_bytes()
    timeout = timeout or download_timeout()
    deadline = time.monotonic() + timeout
    try:
        with requests.get(url, stream=True, timeout=timeout, headers={"User-Agent": _USER_AGENT}) as resp:
            if resp.status_code >= 400:
                status = f"HTTP {resp.status_code} {resp.reason or ''}".rstrip()
                raise ClassifierError(f"Téléchargement impossible : le serveur a répondu {status} pour {url}",
                                      f"Download failed: the server answered {status} for {url}")
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_big(limit)
            body = bytearray()
            for chunk in resp.iter_content(_CHUNK):
                body += chunk
                if len(body) > limit:
                    raise too_big(limit)
                if time.monotonic() > deadline:
                    raise requests.Timeout()
            return bytes(body)
    except requests.Timeout:
        raise _too_slow(url, timeout) from None
    except requests.exceptions.InvalidURL:
        raise ClassifierError(f"URL invalide : {url}", f"Invalid URL: {url}") from None
    except requests.RequestException as exc:
        if any(isinstance(arg, ReadTimeoutError) for arg in exc.args):  # timed out while streaming the body
            raise _too_slow(url, timeout) from None
        reason = type(exc).__name__
        raise ClassifierError(f"Téléchargement impossible ({reason}) : serveur injoignable pour {url}",
                              f"Download failed ({reason}): server unreachable for {url}") from None


def read_file(path: str, limit: int | None = None) -> bytes:
    """Read a local image file, refusing missing files and files over ``limit`` bytes."""
    limit = limit or max_bytes()
    p = Path(path)
    if not p.is_file():
        raise ClassifierError(f"Fichier introuvable : {path}", f"File not found: {path}")
    if p.stat().st_size > limit:
        raise too_big(limit)
    try:
        return p.read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc
        raise ClassifierError(f"Lecture impossible du fichier {path} : {reason}",
                              f"Cannot read the file {path}: {reason}") from None


def fetch(source: str) -> bytes:
    """Bytes of an http(s) URL or a local path; other schemes are refused."""
    scheme = urlparse(source).scheme.lower()
    if is_url(source):
        return download(source)
    if scheme and len(scheme) > 1:  # "C:" style drive letters are paths, "ftp:" is not
        raise ClassifierError(
            f"Adresse non prise en charge : {source} (utilisez http(s)://, s3:// ou un fichier)",
            f"Unsupported address: {source} (use http(s)://, s3:// or a file)")
    return read_file(source)


def decode(data: bytes, limit_pixels: int | None = None) -> Image.Image:
    """Decode image bytes into an 8-bit RGB, RGBX or grey (L) PIL image; refuse non-images and oversized images."""
    limit_pixels = limit_pixels or max_pixels()
    if not data:
        raise ClassifierError("Le contenu reçu est vide : ce n'est pas une image",
                              "The content received is empty: it is not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > limit_pixels:
                raise ClassifierError(
                    f"Image trop grande pour être décodée sans risque : {width}×{height} pixels"
                    f" (limite {limit_pixels} pixels)",
                    f"Image too large to be decoded safely: {width}×{height} pixels (limit {limit_pixels} pixels)")
            if _fast_png(image, data):
                decoded = _decode_png_rgb(data)
                if decoded is not None:
                    return decoded
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # as transformers' load_image does
            return to_8bit(image)
    except ClassifierError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ClassifierError("Image trop grande pour être décodée sans risque (bombe de décompression)",
                              "Image too large to be decoded safely (decompression bomb)") from None
    except UnidentifiedImageError:
        raise ClassifierError("Le contenu reçu n'est pas une image reconnue (JPEG, PNG, GIF, WebP...)",
                              "The content received is not a recognised image (JPEG, PNG, GIF, WebP...)") from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types on a corrupt file
        reason = str(exc) or type(exc).__name__
        raise ClassifierError(f"Image corrompue ou illisible : {reason}",
                              f"Corrupt or unreadable image: {reason}") from None


def _fast_png(image: Image.Image, data: bytes) -> bool:
    """A colour PNG that libspng decodes to the same RGB pixels as Pillow, 1.3 to 3.7 times faster.

    (Pillow inflates with the system's zlib and unfilters one byte at a time; grey
    PNGs gain nothing.) Not with an EXIF orientation to apply: those go through Pillow.
    """
    return (image.format == "PNG" and image.mode in ("RGB", "RGBA", "P")
            and "exif" not in image.info and b"eXIf" not in _png_chunk_types(data))


def _png_chunk_types(data: bytes) -> set[bytes]:
    """The types of a PNG's chunks, read from their headers (a few dozen, where scanning
    the whole file for one would take a quarter of a millisecond)."""
    types, position = set(), 8
    while position + 8 <= len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        types.add(kind)
        if kind == b"IEND":
            break
        position += 12 + length
    return types


def _decode_png_rgb(data: bytes) -> Image.Image | None:
    """The PNG decoded by libspng (pyspng), or None to let Pillow decode it or say why it cannot.

    The image is RGBX: libspng's RGBA pixels, used without a copy (Pillow keeps RGB
    in 4 bytes per pixel anyway), whose fourth byte the preprocessing ignores.
    """
    try:
        import pyspng
    except ImportError:  # optional: Pillow gives the same pixels
        return None
    try:
        pixels = pyspng.load(data, format="RGBA")
        return Image.frombuffer("RGBX", (pixels.shape[1], pixels.shape[0]), pixels, "raw", "RGBX", 0, 1)
    except Exception:  # noqa: BLE001 - a corrupt file: Pillow's error message is the one the user reads
        return None


def to_8bit(image: Image.Image) -> Image.Image:
    """8-bit RGB, or 8-bit greyscale (``L``) for a grey image, with the full range of
    images of more than 8 bits per sample kept.

    Pillow's ``convert("RGB")`` clips 16-bit and 32-bit samples at 255, which makes
    a 16-bit greyscale PNG an all-white picture; those are scaled to 8 bits first.
    A grey image stays grey: resized as one channel instead of three, it gives the
    same pixels as its RGB conversion (see preprocessing.py). Transparency is
    dropped, as transformers' ``convert("RGB")`` does.
    """
    if image.mode in MODEL_MODES:
        return image
    if image.mode in _WIDE_MODES:
        return _wide_to_grey(image)
    if image.mode in ("1", "LA"):
        return image.convert("L")
    try:
        return image.convert("RGB")
    except ValueError:  # a colour space Pillow cannot turn into RGB (LAB, ...)
        raise ClassifierError(f"Espace de couleurs non pris en charge : {image.mode} (attendu RGB, niveaux de gris,"
                              f" palette ou CMJN)",
                              f"Unsupported colour space: {image.mode} (expected RGB, greyscale, palette or CMYK)"
                              ) from None


def _wide_to_grey(image: Image.Image) -> Image.Image:
    """An 8-bit greyscale image from a 16-bit, 32-bit integer or float one."""
    import numpy as np  # not at the top: the model loader imports it meanwhile (see classifier.py)

    pixels = np.asarray(image)
    if pixels.dtype.kind == "f":
        pixels = np.nan_to_num(pixels, nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(pixels.max(initial=0.0))
        scale = 255.0 if peak <= 1.0 else 255.0 / peak  # [0, 1] images, or whatever range they use
        return Image.fromarray(np.clip(pixels * scale + 0.5, 0, 255).astype(np.uint8), mode="L")
    peak = int(pixels.max(initial=0))
    if image.mode != "I" or peak > 255:  # 16-bit samples (or an "I" image that uses more than 8 bits)
        shift = 8 if peak <= 0xFFFF else max(0, peak.bit_length() - 8)
        pixels = np.right_shift(np.clip(pixels, 0, None), shift)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")
