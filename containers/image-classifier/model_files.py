"""Which ONNX file of a Hugging Face model repository the classifier uses.

Kept free of heavy imports: the Dockerfile's ``model-hub`` stage uses it to
download only that file.
"""
from __future__ import annotations

from pathlib import PurePosixPath

# Preferred ONNX files, best first (full precision, then common quantised exports).
ONNX_PREFERENCE = ("model.onnx", "model_fp16.onnx", "model_quantized.onnx",
                   "model_int8.onnx", "model_uint8.onnx", "model_q4.onnx")


def select_onnx_file(names: list[str]) -> str | None:
    """Pick the model file among repository-relative ``names`` (``onnx/model*.onnx``)."""
    candidates = sorted(n for n in names
                        if n.startswith("onnx/") and n.count("/") == 1
                        and PurePosixPath(n).name.startswith("model") and n.endswith(".onnx"))
    for preferred in ONNX_PREFERENCE:
        if "onnx/" + preferred in candidates:
            return "onnx/" + preferred
    return candidates[0] if candidates else None
