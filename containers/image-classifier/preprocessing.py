"""Hugging Face image-processor preprocessing, from ``preprocessor_config.json``.

Applies, in the same order and with the same arithmetic as the ``transformers``
image processors (ViT, ConvNeXT, ResNet, MobileNet...): convert to RGB, resize
(shortest edge, or height/width; ``crop_pct`` as ConvNeXT uses it) with the
configured PIL ``resample``, centre crop, rescale, normalise, then NCHW float32.
timm models (``TimmWrapperImageProcessor``'s ``data_config``, or a timm
``pretrained_cfg``) get timm's evaluation transform: resize the shortest edge
to ``floor(size / crop_pct)``, centre crop, /255, normalise.
"""
from __future__ import annotations

import concurrent.futures
import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from errors import ClassifierError

# transformers' ConvNeXT processor: crop_pct only applies below this size.
_CROP_PCT_MAX_EDGE = 384
_DEFAULT_MEAN = (0.5, 0.5, 0.5)
_DEFAULT_STD = (0.5, 0.5, 0.5)
# Below this many source pixels a resize is too short (a few tenths of a millisecond) to gain from threads.
_BANDED_RESIZE_MIN_PIXELS = 50_000
# Largest model input built (pixels): 16.7 million, 200 MB as float32; any real model's is far smaller.
MAX_INPUT_PIXELS = 4096 * 4096
_TIMM_RESAMPLE = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}


@dataclass(frozen=True)
class Preprocessor:
    do_resize: bool = True
    shortest_edge: int | None = None          # resize so the short side has this length
    resize_hw: tuple[int, int] | None = None  # or to exactly (height, width)
    crop_pct: float | None = None
    resample: int = Image.Resampling.BILINEAR
    do_center_crop: bool = False
    crop_hw: tuple[int, int] | None = None
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    mean: tuple[float, float, float] = _DEFAULT_MEAN
    std: tuple[float, float, float] = _DEFAULT_STD

    @classmethod
    def from_config(cls, cfg: dict) -> "Preprocessor":
        """Read a ``preprocessor_config.json`` dictionary."""
        if "size" not in cfg and isinstance(cfg.get("data_config"), dict):
            return cls.from_timm(cfg["data_config"])
        try:
            shortest, resize_hw = _parse_size(cfg.get("size"))
            crop_hw = _parse_crop(cfg.get("crop_size"))
            resample = Image.Resampling(int(cfg.get("resample", Image.Resampling.BILINEAR)))
            mean = _triple(cfg.get("image_mean", _DEFAULT_MEAN))
            std = _triple(cfg.get("image_std", _DEFAULT_STD))
            crop_pct = cfg.get("crop_pct")
            crop_pct = float(crop_pct) if crop_pct is not None else None
            do_center_crop = bool(cfg.get("do_center_crop", crop_hw is not None))
        except (TypeError, ValueError, KeyError) as exc:
            raise ClassifierError(f"preprocessor_config.json invalide : {exc}",
                                  f"Invalid preprocessor_config.json: {exc}") from None
        if shortest is None and resize_hw is None:
            raise ClassifierError("preprocessor_config.json invalide : « size » manquant",
                                  "Invalid preprocessor_config.json: \"size\" is missing")
        if crop_pct is not None and not 0 < crop_pct <= 1:
            raise ClassifierError("preprocessor_config.json invalide : crop_pct doit être dans ]0, 1]",
                                  "Invalid preprocessor_config.json: crop_pct must be in (0, 1]")
        if do_center_crop and crop_hw is None:
            crop_hw = resize_hw or (shortest, shortest)
        return cls(
            do_resize=bool(cfg.get("do_resize", True)), shortest_edge=shortest, resize_hw=resize_hw,
            crop_pct=crop_pct, resample=resample, do_center_crop=do_center_crop, crop_hw=crop_hw,
            do_rescale=bool(cfg.get("do_rescale", True)),
            rescale_factor=float(cfg.get("rescale_factor", 1 / 255)),
            do_normalize=bool(cfg.get("do_normalize", True)), mean=mean, std=std,
        )

    @classmethod
    def from_timm(cls, data_cfg: dict) -> "Preprocessor":
        """timm's evaluation transform from a ``data_config`` / ``pretrained_cfg`` dictionary."""
        try:
            _, height, width = data_cfg["input_size"]
            crop_pct = float(data_cfg.get("crop_pct") or 0.875)
            resample = _TIMM_RESAMPLE[data_cfg.get("interpolation") or "bilinear"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ClassifierError(f"configuration timm du modèle invalide : {exc!r}",
                                  f"Invalid timm configuration of the model: {exc!r}") from None
        return cls.from_config({
            "size": {"shortest_edge": math.floor(min(height, width) / crop_pct)},
            "crop_size": {"height": height, "width": width}, "do_center_crop": True,
            "resample": resample,
            "image_mean": data_cfg.get("mean", (0.485, 0.456, 0.406)),
            "image_std": data_cfg.get("std", (0.229, 0.224, 0.225)),
        })

    def __call__(self, image: Image.Image, threads: int = 1) -> np.ndarray:
        """Return the model input of ``image``: float32 array of shape (1, 3, H, W).

        ``threads`` > 1 resizes a large image in that many bands at once (Pillow
        releases the GIL while it resamples).
        """
        if image.mode not in ("RGB", "RGBX", "L"):  # a grey image is resized as one channel, the same pixels
            image = image.convert("RGB")
        crop_hw = self._crop_hw()
        if self.do_resize:
            target = self._resize_target(image.size)
            if crop_hw is None:
                _check_input_size(image.size, target)
                image = image.resize(target, resample=self.resample)
            else:
                image = _resize_and_crop(image, target, crop_hw, self.resample, threads)
        elif crop_hw is not None:
            image = _center_crop(image, crop_hw)
        _check_input_size(image.size, image.size)
        if image.mode != "RGB":  # L or RGBX, now that the image is small
            image = image.convert("RGB")
        # rescale then normalise, fused: (x * factor - mean) / std == x * (factor / std) - mean / std,
        # computed in float32 from the uint8 pixels in two passes (the same values as float32(x) * scale - offset)
        scale, offset = self._scale_offset
        pixels = np.asarray(image).transpose(2, 0, 1)
        out = np.empty((1, *pixels.shape), dtype=np.float32)
        np.multiply(pixels, scale, out=out[0])
        out[0] -= offset
        return out

    @functools.cached_property
    def _scale_offset(self) -> tuple[np.ndarray, np.ndarray]:
        scale = np.full(3, self.rescale_factor if self.do_rescale else 1.0)
        offset = np.zeros(3)
        if self.do_normalize:
            std = np.asarray(self.std)
            scale, offset = scale / std, np.asarray(self.mean) / std
        return scale.astype(np.float32)[:, None, None], offset.astype(np.float32)[:, None, None]

    def _crop_hw(self) -> tuple[int, int] | None:
        """The centre crop applied after resizing (or alone), as (height, width), or None."""
        if self.do_center_crop:
            return self.crop_hw
        if self.do_resize and self._crop_pct_applies():
            return self.shortest_edge, self.shortest_edge
        return None

    def _crop_pct_applies(self) -> bool:
        return (self.crop_pct is not None and self.shortest_edge is not None
                and self.shortest_edge < _CROP_PCT_MAX_EDGE)

    def _resize_target(self, size: tuple[int, int]) -> tuple[int, int]:
        """PIL (width, height) after resizing an image of PIL ``size``."""
        if self.resize_hw is not None:
            height, width = self.resize_hw
            if self.crop_pct is not None:
                height, width = int(height / self.crop_pct), int(width / self.crop_pct)
            return width, height
        edge = self.shortest_edge
        if self.crop_pct is not None:
            if not self._crop_pct_applies():
                return edge, edge  # ConvNeXT: large sizes are warped, not cropped
            edge = int(edge / self.crop_pct)
        width, height = size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = edge, int(edge * long / short)
        return (new_short, new_long) if width <= height else (new_long, new_short)


def _crop_window(size: tuple[int, int], crop_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where transformers' ``center_crop`` takes ``crop_hw`` from an image of PIL ``size``.

    Returns (left, top, right, bottom) in the image's coordinates; the window is
    outside the image where transformers pads with zeros (crop larger than the image).
    """
    crop_h, crop_w = crop_hw
    width, height = size
    canvas_w, canvas_h = max(width, crop_w), max(height, crop_h)
    left = int((canvas_w - crop_w) / 2) - (canvas_w - width) // 2
    top = int((canvas_h - crop_h) / 2) - (canvas_h - height) // 2
    return left, top, left + crop_w, top + crop_h


def _center_crop(image: Image.Image, crop_hw: tuple[int, int]) -> Image.Image:
    left, top, right, bottom = _crop_window(image.size, crop_hw)
    return image.crop((left, top, right, bottom))  # Pillow fills outside the image with zeros


def _resize_and_crop(image: Image.Image, target: tuple[int, int], crop_hw: tuple[int, int],
                     resample: int, threads: int = 1) -> Image.Image:
    """``_center_crop(image.resize(target), crop_hw)``, resizing only the pixels the crop keeps.

    Pillow's ``box`` resizing computes each output pixel from the same source
    pixels, with the same filter, as resizing the whole image (its filter reads
    outside the box), so the crop is the same while the time and memory follow
    the crop's size, not the resized image's (a 20000×2 photo would otherwise be
    resized to 2,560,000×256 before being cropped to 224×224).
    """
    width, height = image.size
    target_w, target_h = target
    left, top, right, bottom = _crop_window(target, crop_hw)
    inside = (max(left, 0), max(top, 0), min(right, target_w), min(bottom, target_h))
    sx, sy = width / target_w, height / target_h
    box = (inside[0] * sx, inside[1] * sy, min(inside[2] * sx, width), min(inside[3] * sy, height))
    part = _resize_box(image, (inside[2] - inside[0], inside[3] - inside[1]), box, resample, threads)
    if inside == (left, top, right, bottom):
        return part
    canvas = Image.new(image.mode, (right - left, bottom - top))  # padded with zeros like transformers
    canvas.paste(part, (inside[0] - left, inside[1] - top))
    return canvas


def _resize_box(image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float],
                resample: int, threads: int) -> Image.Image:
    """``image.resize(size, box=box)``, in horizontal bands resized by ``threads`` threads when the box is large.

    Each output row is computed from the same source rows and weights whichever band
    it is in; only the band's edges go through Pillow's float32 box coordinates.
    """
    width, height = size
    bands = min(threads, height, 4)
    if bands < 2 or (box[2] - box[0]) * (box[3] - box[1]) < _BANDED_RESIZE_MIN_PIXELS:
        return image.resize(size, resample=resample, box=box)
    scale = (box[3] - box[1]) / height
    edges = [round(height * i / bands) for i in range(bands + 1)]
    jobs = [_band_pool(bands).submit(image.resize, (width, y1 - y0), resample,
                                     (box[0], box[1] + y0 * scale, box[2], box[1] + y1 * scale))
            for y0, y1 in zip(edges, edges[1:])]
    out = Image.new(image.mode, size)
    for y0, job in zip(edges, jobs):
        out.paste(job.result(), (0, y0))
    return out


@functools.lru_cache(maxsize=None)
def _band_pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="resize")


def _check_input_size(size: tuple[int, int], target: tuple[int, int]) -> None:
    """Refuse a model input so large that building it would exhaust the task's memory."""
    width, height = target
    if width * height > MAX_INPUT_PIXELS:
        raise ClassifierError(
            f"Image trop allongée pour ce modèle : {size[0]}×{size[1]} pixels donneraient une entrée de"
            f" {width}×{height} pixels (limite {MAX_INPUT_PIXELS} pixels)",
            f"Image too elongated for this model: {size[0]}×{size[1]} pixels would make an input of"
            f" {width}×{height} pixels (limit {MAX_INPUT_PIXELS} pixels)")


def _parse_size(size) -> tuple[int | None, tuple[int, int] | None]:
    if size is None:
        return None, None
    if isinstance(size, (int, float)):
        return int(size), None
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return None, (int(size[0]), int(size[1]))
    if "shortest_edge" in size:
        return int(size["shortest_edge"]), None
    if "height" in size and "width" in size:
        return None, (int(size["height"]), int(size["width"]))
    raise ValueError(f"taille non prise en charge : {size!r}")


def _parse_crop(crop) -> tuple[int, int] | None:
    if crop is None:
        return None
    if isinstance(crop, (int, float)):
        return int(crop), int(crop)
    if isinstance(crop, (list, tuple)) and len(crop) == 2:
        return int(crop[0]), int(crop[1])
    return int(crop["height"]), int(crop["width"])


def _triple(values) -> tuple[float, float, float]:
    if isinstance(values, (int, float)):
        values = [values] * 3
    values = tuple(float(v) for v in values)
    if len(values) != 3:
        raise ValueError("image_mean / image_std doivent avoir 3 valeurs")
    return values
