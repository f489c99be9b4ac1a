"""The local tier's images: the classifier built with the submission's s3_io.py and the test
model, and the lab's web application."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecslab.images import docker_settings

ROOT = Path(__file__).resolve().parents[3]
MODEL_DIR = ROOT / ".cache" / "models" / "efficientnet-lite0"
MODEL_SCRIPT = ROOT / "scripts" / "build_test_model.py"
LOCAL_BASE = "ecs-lab/python-base:3.11-bookworm"
SETUP_HINT = "lancez `sudo bash scripts/setup-docker.sh` (installe et démarre Docker, construit l'image de base)"
setup_settings = docker_settings  # base image and build network of scripts/setup-docker.sh


@dataclass
class BuiltImages:
    classifier: str  # local tag
    web: str
    sizes: dict[str, int] = field(default_factory=dict)  # tag -> bytes
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{tag} {size / 1e6:.0f} Mo (construite en {self.seconds.get(tag, 0):.0f} s)"
                 for tag, size in self.sizes.items()]
        return "images du tier local : " + ", ".join(parts)


def ensure_test_model() -> Path:
    """The EfficientNet-Lite0 test model directory, built by the project script when missing."""
    if (MODEL_DIR / "config.json").is_file() and (MODEL_DIR / "onnx").is_dir():
        return MODEL_DIR
    proc = subprocess.run([sys.executable, str(MODEL_SCRIPT), "--out", str(MODEL_DIR)],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr or proc.stdout).strip()[-600:])
    return MODEL_DIR


def submission_tag(submission_dir: Path) -> str:
    student = submission_dir / "s3_io.py"
    content = student.read_bytes() if student.is_file() else b"(no s3_io.py)"
    return f"ecs-lab-grader/image-classifier:s3io-{hashlib.sha256(content).hexdigest()[:12]}"


def build_images(docker_client: Any, submission_dir: Path, base_image: str | None,
                 network_mode: str | None) -> BuiltImages:
    from ecslab.images import build_classifier_image, build_web_image

    images = BuiltImages(classifier=submission_tag(submission_dir), web="ecs-lab-grader/web-app:latest")
    model_dir = ensure_test_model()
    started = time.monotonic()
    build_classifier_image(docker_client, submission_dir, images.classifier, model_dir=model_dir,
                           base_image=base_image, network_mode=network_mode)
    images.seconds[images.classifier] = time.monotonic() - started
    started = time.monotonic()
    build_web_image(docker_client, images.web, base_image=base_image, network_mode=network_mode)
    images.seconds[images.web] = time.monotonic() - started
    for tag in (images.classifier, images.web):
        images.sizes[tag] = int(docker_client.images.get(tag).attrs.get("Size", 0))
    return images
