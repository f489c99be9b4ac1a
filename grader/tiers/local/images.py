"""The local tier's images: the classifier the tier builds with the submission's s3_io.py and the
test model (for the checks of the student's code: task_monitoring, the bonus), and the one the
student built with ``ecs-lab build classifier`` (for classifier_image_local: the student's step 9)."""

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
# The tag `ecs-lab build classifier` gives the student's image (ecslab.cli.LOCAL_TAGS, LAB.md step 9).
STUDENT_CLASSIFIER_TAG = "image-classifier:latest"


@dataclass
class BuiltImages:
    classifier: str  # local tag
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
    """The tier's own classifier image: the lab's code, the submission's s3_io.py, the test model."""
    from ecslab.images import build_classifier_image

    images = BuiltImages(classifier=submission_tag(submission_dir))
    model_dir = ensure_test_model()
    started = time.monotonic()
    build_classifier_image(docker_client, submission_dir, images.classifier, model_dir=model_dir,
                           base_image=base_image, network_mode=network_mode)
    images.seconds[images.classifier] = time.monotonic() - started
    images.sizes[images.classifier] = int(docker_client.images.get(images.classifier).attrs.get("Size", 0))
    return images


def student_classifier_image(docker_client: Any, tag: str = STUDENT_CLASSIFIER_TAG) -> str | None:
    """The id of the image the student built (``ecs-lab build classifier``), None when there is none."""
    from docker.errors import ImageNotFound

    try:
        return docker_client.images.get(tag).id
    except ImageNotFound:
        return None
