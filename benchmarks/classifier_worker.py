#!/usr/bin/env python3
"""Python side of ``bench_classifier_vs_transformersjs.py``: the lab's classifier as a long-lived worker.

    python benchmarks/classifier_worker.py --model-dir DIR --threads N

Speaks JSON lines on stdin/stdout, the protocol of ``benchmarks/transformersjs/worker.mjs``:

- ``{"op": "load", "files": {"name": "path", ...}}``: read each file once, keep the bytes;
- ``{"op": "round", "names": [...]}``: per photo, the whole classification from the bytes in
  memory (``classifier.classify_bytes``: decode, preprocess, session run, softmax, result
  document) timed as ``whole_ms``, then the model run alone (``clf.run``) on the photo's
  preprocessed input timed as ``run_ms``;
- ``{"op": "input", "name": ...}``: the preprocessed input (float32, base64);
- ``{"op": "quit"}``.

The classifier's code is imported from ``containers/image-classifier`` at run time (it is
being changed by others): only its public entry points are used.
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLASSIFIER_DIR = REPO / "containers" / "image-classifier"


def main() -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--classifier-dir", default=str(CLASSIFIER_DIR))
    args = parser.parse_args()

    sys.path.insert(0, args.classifier_dir)
    import classifier
    import image_input
    import model
    import numpy
    import onnxruntime
    import PIL

    clf = model.ImageClassifier(args.model_dir, threads=args.threads)
    photos: dict[str, bytes] = {}
    inputs: dict = {}

    def pixel_values(name: str):
        if name not in inputs:
            inputs[name] = clf.preprocess(image_input.decode(photos[name]))
        return inputs[name]

    def op_load(request: dict) -> dict:
        for name, path in request["files"].items():
            photos[name] = Path(path).read_bytes()
        return {}

    def op_round(request: dict) -> dict:
        results = {}
        for name in request["names"]:
            data = photos[name]
            start = time.perf_counter()
            document = classifier.classify_bytes(data, name, clf)
            whole_ms = (time.perf_counter() - start) * 1000
            x = pixel_values(name)
            start = time.perf_counter()
            clf.run(x)
            run_ms = (time.perf_counter() - start) * 1000
            results[name] = {"whole_ms": whole_ms, "run_ms": run_ms,
                             "top5": [[p["label"], p["score"]] for p in document["predictions"]]}
        return {"results": results}

    def op_input(request: dict) -> dict:
        x = numpy.ascontiguousarray(pixel_values(request["name"]), dtype="<f4")
        return {"shape": list(x.shape), "data_b64": base64.b64encode(x.tobytes()).decode("ascii")}

    handlers = {"load": op_load, "round": op_round, "input": op_input}

    def send(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    send({"ok": True, "event": "ready", "load_ms": (time.perf_counter() - started) * 1000,
          "threads": clf.threads,
          "versions": {"python": sys.version.split()[0], "onnxruntime": onnxruntime.__version__,
                       "pillow": PIL.__version__, "numpy": numpy.__version__}})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError as exc:
            send({"ok": False, "error": f"bad request: {exc}"})
            continue
        if request.get("op") == "quit":
            break
        try:
            handler = handlers[request.get("op")]
        except KeyError:
            send({"ok": False, "error": f"unknown op {request.get('op')}"})
            continue
        try:
            send({"ok": True, **handler(request)})
        except Exception as exc:  # noqa: BLE001 - reported to the driver
            send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
