"""Stand in for the container: write its output to CloudWatch Logs as the awslogs driver does.

The awslogs driver sends each line of the container's output as one event to the stream
``<awslogs-stream-prefix>/<container name>/<task id>`` of ``awslogs-group``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from ecslab.facts import CLASSIFIER_LOG_GROUP, log_stream


def result_document(url: str, predictions: list[tuple[str, float]] | None = None) -> dict:
    """A result document as the classifier prints it (see containers/image-classifier)."""
    predictions = predictions or [("tiger, Panthera tigris", 0.8731), ("tiger cat", 0.1012),
                                  ("jaguar, panther", 0.0094), ("lynx, catamount", 0.0051),
                                  ("leopard, Panthera pardus", 0.0032)]
    return {
        "timestamp": "2026-11-25T10:00:00.000Z",
        "input": {"url": url},
        "model": {"name": "onnx-community/mobilenetv3_small_100.lamb_in1k", "version": "1"},
        "predictions": [
            {"label": label, "confidence": round(score * 100, 2), "score": score}
            for label, score in predictions
        ],
        "processing": {"success": True, "duration_ms": 412},
    }


def classifier_output(document: dict, noise_lines: int = 0) -> list[str]:
    """The lines the classifier prints for a successful run, result document last."""
    lines = [f"Téléchargement de l'image : {document['input']['url']}",
             f"Chargement du modèle {document['model']['name']}..."]
    lines += [f"progression : {i}/{noise_lines}" for i in range(1, noise_lines + 1)]
    lines.append('{"level": "info", "message": "modèle chargé"}')  # JSON, but not the result
    lines.append("Meilleures prédictions :")
    for rank, prediction in enumerate(document["predictions"], start=1):
        lines.append(f"{rank}. {prediction['label']}: {prediction['confidence']:.2f}%")
    lines.append(json.dumps(document, separators=(",", ":"), ensure_ascii=False))
    return lines


def write_container_output(backends, task_arn: str, lines: list[str], group: str = CLASSIFIER_LOG_GROUP) -> str:
    """Ship `lines` as the awslogs driver would, in moto's backends (standin.moto_bridge.Backends: the
    scorer's own writing needs no request); returns the stream name."""
    backends.create_log_group(group, exist_ok=True)
    stream = log_stream(task_arn)
    backends.create_log_stream(group, stream)
    # CloudWatch refuses events from the future: the run ended a minute ago.
    start = int(datetime.now(timezone.utc).timestamp() * 1000) - 60_000
    events = [{"timestamp": start + i, "message": line} for i, line in enumerate(lines)]
    for first in range(0, len(events), 1000):
        backends.put_log_events(group, stream, events[first:first + 1000])
    return stream


def found_result(lines: list[str]) -> dict | None:
    """The last classification result document among output lines (a JSON object with predictions)."""
    for line in reversed(lines):
        text = line.strip()
        if not text.startswith("{"):
            continue
        try:
            document = json.loads(text)
        except ValueError:
            continue
        if isinstance(document, dict) and "predictions" in document:
            return document
    return None
