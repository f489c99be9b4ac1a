"""Paths of the classifier, its test model and the photos it is tested on."""
from __future__ import annotations

import importlib.resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLASSIFIER_DIR = REPO / "containers" / "image-classifier"
BUILD_SCRIPT = REPO / "scripts" / "build_test_model.py"
MODEL_DIR = REPO / ".cache" / "models" / "efficientnet-lite0"

# scikit-image photo -> accepted top-1 labels (issue 2).
EXPECTED_LABELS = {
    "coffee.png": {"espresso"},
    "rocket.jpg": {"missile"},
    "motorcycle_left.png": {"moped"},
    "chelsea.png": {"tabby", "tiger cat", "Egyptian cat"},
}


def photo(name: str) -> Path:
    return Path(str(importlib.resources.files("skimage") / "data" / name))


def s3_io_dir() -> Path:
    """Directory of the s3_io module to test with: the reference solution's."""
    return REPO / "reference"
