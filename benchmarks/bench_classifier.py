#!/usr/bin/env python3
"""Per-image latency of the classifier on the test model (EfficientNet-Lite0) over scikit-image photos.

Prints p50/p95 of:
- the whole classify call (``classifier.classify_bytes``: decode, preprocess,
  ``session.run``, softmax, result document; no download), and
- ``session.run`` alone on an already preprocessed input,
then the overhead ratio whole/run (1.0 would mean the Python side costs nothing).

    python benchmarks/bench_classifier.py [--rounds 20] [--threads N]
"""
from __future__ import annotations

import argparse
import importlib.resources
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PHOTOS = ("coffee.png", "rocket.jpg", "motorcycle_left.png", "chelsea.png", "astronaut.png")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the photos (default 20)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: CPUs)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "scripts"))
    from build_test_model import ensure_model  # noqa: E402

    model_dir, _ = ensure_model()
    sys.path.insert(0, str(REPO / "containers" / "image-classifier"))
    import classifier  # noqa: E402
    from image_input import decode  # noqa: E402
    from model import ImageClassifier  # noqa: E402

    clf = ImageClassifier(model_dir, threads=args.threads)
    data_dir = importlib.resources.files("skimage") / "data"
    photos = {name: (data_dir / name).read_bytes() for name in PHOTOS}
    inputs = {name: clf.preprocess(decode(data)) for name, data in photos.items()}

    for name, data in photos.items():  # warm-up
        classifier.classify_bytes(data, name, clf)
        clf.run(inputs[name])

    whole, run = [], []
    for _ in range(args.rounds):
        for name, data in photos.items():
            start = time.perf_counter()
            classifier.classify_bytes(data, name, clf)
            whole.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            clf.run(inputs[name])
            run.append((time.perf_counter() - start) * 1000)

    print(f"model {clf.name} ({clf.onnx_path.name}), {clf.threads} intra-op thread(s), "
          f"{len(photos)} photos x {args.rounds} rounds = {len(whole)} images")
    print(f"{'':24}{'p50 ms':>10}{'p95 ms':>10}")
    for label, values in (("whole classify call", whole), ("session.run alone", run)):
        print(f"{label:24}{percentile(values, 50):10.2f}{percentile(values, 95):10.2f}")
    print(f"overhead ratio (whole / run): p50 {percentile(whole, 50) / percentile(run, 50):.2f}, "
          f"p95 {percentile(whole, 95) / percentile(run, 95):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
