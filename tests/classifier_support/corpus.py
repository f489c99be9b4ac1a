"""The photos the classifier's predictions are pinned on, and the hard cases made from them.

``PHOTOS``: every image of scikit-image's data folder that Pillow opens, plus large
photos made from them (JPEG baseline and progressive, a big PNG), so that the fast
paths of decoding and resizing (JPEG reduced-size decoding, resizing only the crop)
are compared with the predictions recorded before they existed
(``expected_predictions.json``, written by ``python -m classifier_support.corpus``
from ``tests/`` with the classifier of that time).

``variant(kind)``: the same photo (coffee, an espresso) in the forms a user can
send: 16-bit grey and colour PNG, palette, transparency, CMYK and progressive
JPEG, EXIF orientations. Everything is generated deterministically.
"""
from __future__ import annotations

import io
import json
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from classifier_support.paths import photo

EXPECTED_FILE = Path(__file__).with_name("expected_predictions.json")

SKIMAGE_PHOTOS = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "chessboard_GRAY.png",
                  "chessboard_RGB.png", "clock_motion.png", "coffee.png", "coins.png", "color.png", "grass.png",
                  "gravel.png", "horse.png", "hubble_deep_field.jpg", "ihc.png", "logo.png", "microaneurysms.png",
                  "moon.png", "motorcycle_left.png", "motorcycle_right.png", "no_time_for_that_tiny.gif",
                  "page.png", "phantom.png", "retina.jpg", "rocket.jpg", "text.png")
# name -> (source photo, size, format, save options)
LARGE_PHOTOS = {
    "coffee-3000x2000.jpg": ("coffee.png", (3000, 2000), "JPEG", {"quality": 90}),
    "chelsea-2400x1600-progressive.jpg": ("chelsea.png", (2400, 1600), "JPEG", {"quality": 85, "progressive": True}),
    "astronaut-1800x1800.png": ("astronaut.png", (1800, 1800), "PNG", {}),
    "rocket-900x1350-portrait.jpg": ("rocket.jpg", (900, 1350), "JPEG", {"quality": 92}),
}
PHOTOS = SKIMAGE_PHOTOS + tuple(LARGE_PHOTOS)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


@lru_cache(maxsize=None)
def photo_bytes(name: str) -> bytes:
    """The file of a photo of :data:`PHOTOS`."""
    if name in LARGE_PHOTOS:
        source, size, fmt, options = LARGE_PHOTOS[name]
        with Image.open(photo(source)) as image:
            return _encode(image.convert("RGB").resize(size, Image.Resampling.BICUBIC), fmt, **options)
    return photo(name).read_bytes()


def _coffee() -> Image.Image:
    with Image.open(photo("coffee.png")) as image:
        return image.convert("RGB")


def _exif_rotated(orientation: int, fmt: str = "JPEG") -> bytes:
    """Coffee stored so that a viewer applying the EXIF ``orientation`` shows it upright."""
    image = _coffee()
    undo = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
            2: Image.Transpose.FLIP_LEFT_RIGHT}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    options = {"quality": 92} if fmt == "JPEG" else {}
    return _encode(image.transpose(undo), fmt, exif=exif, **options)


def _sixteen_bit_grey() -> bytes:
    grey = np.asarray(_coffee().convert("L"), dtype=np.uint16) * 257  # full 16-bit range
    return _encode(Image.fromarray(grey), "PNG")  # uint16: mode I;16


def _sixteen_bit_colour() -> bytes:
    """A 48-bit RGB PNG, written by hand (Pillow writes no 16-bit colour PNG)."""
    import struct
    import zlib
    rgb = np.asarray(_coffee(), dtype=np.uint16) * 257
    height, width, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6))
            + chunk(b"IEND", b""))


def _transparent_border() -> bytes:
    """Coffee with a fully transparent border whose hidden colour is black (a cut-out)."""
    image = _coffee().convert("RGBA")
    alpha = np.full((image.height, image.width), 255, dtype=np.uint8)
    alpha[:40, :] = alpha[-40:, :] = alpha[:, :40] = alpha[:, -40:] = 0
    pixels = np.asarray(image).copy()
    pixels[alpha == 0] = (0, 0, 0, 0)
    return _encode(Image.fromarray(pixels, mode="RGBA"), "PNG")


# kind -> bytes of the coffee photo in that form; every one must still be an espresso.
VARIANTS = {
    "png-16bit-grey": _sixteen_bit_grey,
    "png-16bit-colour": _sixteen_bit_colour,
    "png-palette": lambda: _encode(_coffee().quantize(256), "PNG"),
    "png-palette-transparency": lambda: _encode(_coffee().quantize(255), "PNG", transparency=0),
    "png-rgba-transparent-border": _transparent_border,
    "png-grey-alpha": lambda: _encode(_coffee().convert("LA"), "PNG"),
    "jpeg-cmyk": lambda: _encode(_coffee().convert("CMYK"), "JPEG", quality=92),
    "jpeg-progressive": lambda: _encode(_coffee(), "JPEG", quality=90, progressive=True),
    "jpeg-grey": lambda: _encode(_coffee().convert("L"), "JPEG", quality=90),
    "webp": lambda: _encode(_coffee(), "WEBP", quality=90),
    "gif": lambda: _encode(_coffee(), "GIF"),
    "tiff-16bit-grey": lambda: _encode(Image.fromarray(
        np.asarray(_coffee().convert("L"), dtype=np.uint16) * 257), "TIFF"),
    "exif-rotate-90": lambda: _exif_rotated(6),
    "exif-rotate-180": lambda: _exif_rotated(3),
    "exif-rotate-270": lambda: _exif_rotated(8),
    "exif-mirror": lambda: _exif_rotated(2),
    "png-exif-rotate-90": lambda: _exif_rotated(6, "PNG"),
}


@lru_cache(maxsize=None)
def variant(kind: str) -> bytes:
    return VARIANTS[kind]()


def _png_of(width: int, height: int, mode: str = "RGB") -> bytes:
    """A noisy picture (so that the PNG is not trivially small to decode) of the given size."""
    rng = np.random.default_rng(width * 7 + height)
    channels = {"RGB": 3, "L": 1}[mode]
    pixels = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    return _encode(Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode=mode), "PNG", compress_level=1)


def _huge_flat_png(width: int, height: int) -> bytes:
    """A PNG that decodes to width x height pixels of one colour: a few kB for many megabytes."""
    return _encode(Image.new("RGB", (width, height), (40, 90, 160)), "PNG")


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose header claims width x height (a bomb by its header)."""
    import struct
    data = bytearray(_encode(Image.new("RGB", (16, 16), (10, 20, 30)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _truncated(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


# name -> (bytes, what the classifier must do): "ok" = a classification (exit 0), or an
# error fragment (exit 1 with that in its one line). Extreme sizes stay far under the task's memory.
HARD_CASES = {
    "one-pixel.png": (lambda: _png_of(1, 1), "ok"),
    "wide-20000x2.png": (lambda: _png_of(20_000, 2), "ok"),
    "tall-2x20000.png": (lambda: _png_of(2, 20_000), "ok"),
    "line-1x20000.png": (lambda: _png_of(1, 20_000, "L"), "ok"),
    "flat-7000x7000.png": (lambda: _huge_flat_png(7000, 7000), "ok"),  # 49 megapixels, under the limit
    "truncated.png": (lambda: _truncated(photo_bytes("coffee.png"), 0.4), ("illisible", "unreadable")),
    "truncated-progressive.jpg": (lambda: _truncated(variant("jpeg-progressive"), 0.3), ("illisible", "unreadable")),
    "header-only.png": (lambda: photo_bytes("coffee.png")[:33], ("pas une image reconnue", "not a recognised image")),
    "jpeg-declaring-60000x60000.jpg": (lambda: _jpeg_declaring(60_000, 60_000), ("trop grande", "too large")),
    "png-bomb-20000x20000.png": (lambda: _png_bomb(), ("trop grande", "too large")),
    "text.txt": (lambda: b"ceci n'est pas une image\n" * 10, ("pas une image", "not a recognised image")),
    "empty": (lambda: b"", ("vide", "empty")),
}


def _png_bomb() -> bytes:
    from classifier_support.images import png_bomb
    return png_bomb()


@lru_cache(maxsize=None)
def hard_case(name: str) -> bytes:
    return HARD_CASES[name][0]()


def record(out: Path = EXPECTED_FILE) -> None:
    """Write the top-5 predictions of the current classifier on :data:`PHOTOS`."""
    from classifier_support.paths import CLASSIFIER_DIR, MODEL_DIR
    sys.path.insert(0, str(CLASSIFIER_DIR))
    import classifier
    from model import ImageClassifier
    clf = ImageClassifier(MODEL_DIR)
    table = {}
    for name in PHOTOS:
        doc = classifier.classify_bytes(photo_bytes(name), name, clf)
        table[name] = [[p["label"], p["score"]] for p in doc["predictions"]]
    lines = [f" {json.dumps(name)}: {json.dumps(top)}" for name, top in table.items()]
    out.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"{len(table)} photos -> {out}")


if __name__ == "__main__":
    record()
