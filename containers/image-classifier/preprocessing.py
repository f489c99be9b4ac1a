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

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from errors import ClassifierError

# transformers' ConvNeXT processor: crop_pct only applies below this size.
_CROP_PCT_MAX_EDGE = 384
_DEFAULT_MEAN = (0.5, 0.5, 0.5)
_DEFAULT_STD = (0.5, 0.5, 0.5)
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
            raise ClassifierError(f"preprocessor_config.json invalide : {exc}") from None
        if shortest is None and resize_hw is None:
            raise ClassifierError("preprocessor_config.json invalide : « size » manquant")
        if crop_pct is not None and not 0 < crop_pct <= 1:
            raise ClassifierError("preprocessor_config.json invalide : crop_pct doit être dans ]0, 1]")
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
            raise ClassifierError(f"configuration timm du modèle invalide : {exc!r}") from None
        return cls.from_config({
            "size": {"shortest_edge": math.floor(min(height, width) / crop_pct)},
            "crop_size": {"height": height, "width": width}, "do_center_crop": True,
            "resample": resample,
            "image_mean": data_cfg.get("mean", (0.485, 0.456, 0.406)),
            "image_std": data_cfg.get("std", (0.229, 0.224, 0.225)),
        })

    def __call__(self, image: Image.Image) -> np.ndarray:
        """Return the model input of ``image``: float32 array of shape (1, 3, H, W)."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        if self.do_resize:
            image = image.resize(self._resize_target(image.size), resample=self.resample)
            if self._crop_pct_applies() and not self.do_center_crop:
                image = _center_crop(image, (self.shortest_edge, self.shortest_edge))
        if self.do_center_crop:
            image = _center_crop(image, self.crop_hw)
        # rescale then normalise, fused: (x * factor - mean) / std == x * (factor / std) - mean / std
        scale = np.full(3, self.rescale_factor if self.do_rescale else 1.0)
        offset = np.zeros(3)
        if self.do_normalize:
            std = np.asarray(self.std)
            scale, offset = scale / std, np.asarray(self.mean) / std
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[np.newaxis]
        pixels = pixels * scale.astype(np.float32)[:, None, None]
        pixels -= offset.astype(np.float32)[:, None, None]
        return np.ascontiguousarray(pixels)

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


def _center_crop(image: Image.Image, crop_hw: tuple[int, int]) -> Image.Image:
    crop_h, crop_w = crop_hw
    width, height = image.size
    if crop_w > width or crop_h > height:  # pad with zeros like transformers' center_crop
        canvas = Image.new("RGB", (max(width, crop_w), max(height, crop_h)))
        canvas.paste(image, ((canvas.width - width) // 2, (canvas.height - height) // 2))
        image, (width, height) = canvas, canvas.size
    top, left = int((height - crop_h) / 2), int((width - crop_w) / 2)
    return image.crop((left, top, left + crop_w, top + crop_h))


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
