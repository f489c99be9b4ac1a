"""Write a model directory in Hugging Face image-classification layout."""
from __future__ import annotations

import json
from pathlib import Path

import onnx

# TensorFlow's EfficientNet-Lite evaluation preprocessing: centre crop of
# 224/(224+32) of the short side resized to 224 with bicubic filtering, pixels
# mapped with (x - 127) / 128. In transformers' terms this is the ConvNeXT
# processor: shortest edge 224 with crop_pct 0.875 (resize to 256, crop 224).
PREPROCESSOR_CONFIG = {
    "image_processor_type": "ConvNextImageProcessor",
    "do_resize": True,
    "size": {"shortest_edge": 224},
    "crop_pct": 0.875,
    "resample": 3,  # PIL.Image.Resampling.BICUBIC
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [127.0 / 255] * 3,
    "image_std": [128.0 / 255] * 3,
}


def config(labels: list[str], name: str) -> dict:
    return {
        "_name_or_path": name,
        "architectures": ["EfficientNetLiteForImageClassification"],
        "model_type": "efficientnet-lite",
        "num_channels": 3,
        "image_size": 224,
        "num_labels": len(labels),
        "id2label": {str(i): label for i, label in enumerate(labels)},
    }


def write(directory: Path, model: onnx.ModelProto, labels: list[str], name: str, info: dict) -> None:
    (directory / "onnx").mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(directory / "onnx" / "model.onnx"))
    _dump(directory / "config.json", config(labels, name))
    _dump(directory / "preprocessor_config.json", PREPROCESSOR_CONFIG)
    _dump(directory / "model_info.json", info)


def _dump(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
