"""Building the lab's two container images with the Docker SDK.

The classifier's build context is assembled here: the container's code from
``containers/image-classifier`` plus the student's ``s3_io.py`` (the bonus), and
for offline builds a local model directory (``MODEL_SOURCE=local``); without
one the Dockerfile downloads the hub model at build time (``MODEL_SOURCE=hub``).

``base_image`` is passed as the ``BASE_IMAGE`` build argument (machines without
Docker Hub use a locally built Python image); ``network_mode`` goes to the
build's RUN steps. Images are built for ``linux/amd64`` by default, the CPU
architecture of Fargate tasks that set no runtime platform (as the lab's do),
also on ARM laptops.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

from ecslab.errors import LabError

REPO = Path(__file__).resolve().parent.parent
CLASSIFIER_SOURCE = REPO / "containers" / "image-classifier"
WEB_SOURCE = REPO / "containers" / "web-app"
STUDENT_MODULE = "s3_io.py"
LOG_TAIL_LINES = 30
DOCKER_SETTINGS_FILE = REPO / ".cache" / "docker" / "base-image.env"  # written by scripts/setup-docker.sh
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "model")


class ImageBuildError(LabError):
    """``docker build`` failed; ``log_tail`` holds the last lines of the build log."""

    def __init__(self, what: str, error: str, log_tail: str = "") -> None:
        detail = f"{error}\n{log_tail}" if log_tail else error
        super().__init__("build_failed", what=what, error=detail)
        self.what, self.log_tail = what, log_tail


def prepare_classifier_context(submission_dir: str | Path | None, dest: str | Path,
                               model_dir: str | Path | None = None) -> Path:
    """Write the classifier's build context into ``dest`` (created) and return it.

    ``submission_dir``'s ``s3_io.py`` is copied in when it exists (without it the
    image works, only its S3 mode reports the module missing). ``model_dir`` (an
    HF-style model directory) becomes ``model/``; otherwise ``model/`` is left
    empty, since the classic builder reads every stage's ``COPY``.
    """
    dest = Path(dest)
    shutil.copytree(CLASSIFIER_SOURCE, dest, ignore=_IGNORED, dirs_exist_ok=True)
    (dest / STUDENT_MODULE).unlink(missing_ok=True)
    if submission_dir is not None:
        student = Path(submission_dir) / STUDENT_MODULE
        if student.is_file():
            shutil.copy2(student, dest / STUDENT_MODULE)
    model_dest = dest / "model"
    if model_dest.exists():
        shutil.rmtree(model_dest)
    if model_dir is not None:
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file() or not (model_dir / "onnx").is_dir():
            raise ImageBuildError("image-classifier", f"not a model directory (config.json, onnx/): {model_dir}")
        shutil.copytree(model_dir, model_dest, ignore=shutil.ignore_patterns("build_info.json"))
    else:
        model_dest.mkdir()
        (model_dest / ".keep").write_text("")
    return dest


FARGATE_PLATFORM = "linux/amd64"


def docker_settings() -> dict[str, str]:
    """Build settings from scripts/setup-docker.sh (base image, build network), the
    environment winning over the file."""
    import os

    settings: dict[str, str] = {}
    if DOCKER_SETTINGS_FILE.is_file():
        for line in DOCKER_SETTINGS_FILE.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key and not key.startswith("#"):
                settings[key] = value
    for key in ("ECS_LAB_BASE_IMAGE", "ECS_LAB_BUILD_NETWORK"):
        if os.environ.get(key):
            settings[key] = os.environ[key]
    return settings


def _build(docker_client: Any, context: Path, tag: str, what: str, buildargs: dict[str, str],
           network_mode: str | None, platform: str | None) -> str:
    """Run ``docker build`` through the SDK's low-level API; return the image id."""
    from docker.errors import APIError, DockerException

    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    error = None
    try:
        stream = docker_client.api.build(
            path=str(context), tag=tag, buildargs=buildargs, network_mode=network_mode,
            platform=platform, rm=True, forcerm=True, pull=False, decode=True)
        for chunk in stream:
            if "stream" in chunk:
                lines = (_ANSI.sub("", line) for line in chunk["stream"].splitlines())
                tail.extend(line for line in lines if line.strip())
            if "error" in chunk or "errorDetail" in chunk:
                error = chunk.get("error") or chunk["errorDetail"].get("message", "unknown error")
    except (APIError, DockerException) as exc:
        raise ImageBuildError(what, str(exc), "\n".join(tail)) from None
    if error is not None:
        raise ImageBuildError(what, error.strip(), "\n".join(tail))
    try:
        return docker_client.images.get(tag).id
    except (APIError, DockerException) as exc:
        raise ImageBuildError(what, f"built image {tag} not found: {exc}", "\n".join(tail)) from None


def _buildargs(base_image: str | None, **extra: str) -> dict[str, str]:
    args = {k: v for k, v in extra.items() if v is not None}
    if base_image:
        args["BASE_IMAGE"] = base_image
    return args


def build_classifier_image(docker_client: Any, submission_dir: str | Path | None, tag: str,
                           model_dir: str | Path | None = None, base_image: str | None = None,
                           network_mode: str | None = None, platform: str | None = FARGATE_PLATFORM) -> str:
    """Build the classifier image with the submission's ``s3_io.py``; return the image id.

    With ``model_dir`` the model is copied from it (``MODEL_SOURCE=local``),
    otherwise downloaded from the hub during the build (``MODEL_SOURCE=hub``).
    """
    with tempfile.TemporaryDirectory(prefix="ecs-lab-classifier-") as tmp:
        context = prepare_classifier_context(submission_dir, Path(tmp) / "context", model_dir)
        args = _buildargs(base_image, MODEL_SOURCE="local" if model_dir is not None else "hub")
        return _build(docker_client, context, tag, "image-classifier", args, network_mode, platform)


def build_web_image(docker_client: Any, tag: str, base_image: str | None = None,
                    network_mode: str | None = None, platform: str | None = FARGATE_PLATFORM) -> str:
    """Build the web application's image from ``containers/web-app``; return the image id."""
    return _build(docker_client, WEB_SOURCE, tag, "web-app", _buildargs(base_image), network_mode, platform)
