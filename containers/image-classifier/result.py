"""The result document and the human-readable lines printed by the classifier."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model import Prediction  # not imported at run time: model.py imports NumPy and onnxruntime


def build_result(source: str, model_name: str, model_version: str,
                 predictions: list[Prediction], duration_ms: float) -> dict:
    """The result document of the lab, extended with ``processing.duration_ms``."""
    return {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "input": {"url": source},
        "model": {"name": model_name, "version": model_version},
        "predictions": [
            {"label": p.label, "confidence": round(p.score * 100, 2), "score": round(p.score, 6)}
            for p in predictions
        ],
        "processing": {"success": True, "duration_ms": round(duration_ms, 1)},
    }


def top_lines(result: dict) -> list[str]:
    """``N. label: confidence%`` lines of a result document, best first."""
    return [f"{i}. {p['label']}: {p['confidence']:.2f}%" for i, p in enumerate(result["predictions"], start=1)]


def to_json_line(result: dict) -> str:
    """The document as one line of compact JSON (one CloudWatch Logs event)."""
    return json.dumps(result, ensure_ascii=False, separators=(",", ":"))
