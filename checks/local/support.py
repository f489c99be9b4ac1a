"""Helpers of the local tier's checks: Docker availability, image builds, the photo server,
running the classifier image, and a run shared by two checkpoints."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest

from ecslab.images import docker_settings
from grader.feedback import CheckFailed, fail

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / ".cache" / "models" / "efficientnet-lite0"
MODEL_SCRIPT = ROOT / "scripts" / "build_test_model.py"
LOCAL_BASE = "ecs-lab/python-base:3.11-bookworm"
SETUP_HINT = "lancez `sudo bash scripts/setup-docker.sh` (installe et démarre Docker, construit l'image de base)"
TIER = "local"
CLUSTER = "ecs-lab-cluster"
REGION = "eu-west-1"

# scikit-image photo -> accepted top-1 labels of the test model (issue 2)
EXPECTED_LABELS = {
    "coffee.png": {"espresso"},
    "rocket.jpg": {"missile"},
    "motorcycle_left.png": {"moped"},
    "chelsea.png": {"tabby", "tiger cat", "Egyptian cat"},
}
CONTAINER_TIME_LIMIT_S = 90


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def tier_unavailable(config: pytest.Config, reason: str) -> None:
    """The tier cannot run here: not graded with the reason, but a failure in CI."""
    from grader.plugin import record_tier_unavailable

    if in_ci():
        pytest.fail(f"CI : le tier local doit s'exécuter. {reason}", pytrace=False)
    record_tier_unavailable(config, TIER, reason)
    pytest.skip(reason)


setup_settings = docker_settings  # base image and build network of scripts/setup-docker.sh


def photo_path(name: str) -> Path:
    return Path(str(importlib.resources.files("skimage") / "data" / name))


# --- images ------------------------------------------------------------------------------
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


# --- the photo server ----------------------------------------------------------------------
class PhotoServer:
    """HTTP server the containers reach: /photos/<scikit-image photo>, /missing.png (404),
    /not-an-image.png (an HTML page served as image/png)."""

    def __init__(self, bind: str, advertised_host: str) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append(self.path)
                if self.path.startswith("/photos/") and self.path[len("/photos/"):] in EXPECTED_LABELS:
                    self._send(200, photo_path(self.path[len("/photos/"):]).read_bytes(), "image/png")
                elif self.path == "/not-an-image.png":
                    self._send(200, b"<html><body>Ceci n'est pas une image.</body></html>", "image/png")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer((bind, 0), Handler)
        self._httpd.daemon_threads = True
        self.base = f"http://{advertised_host}:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, name="photo-server", daemon=True).start()

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def photo(self, name: str) -> str:
        return self.url(f"/photos/{name}")

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# --- running the classifier image directly ------------------------------------------------------
@dataclass
class ContainerRun:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def output(self) -> str:
        return f"{self.stdout}\n{self.stderr}".strip()

    def result_document(self) -> dict | None:
        """The last line of stdout that is a JSON object with predictions."""
        for line in reversed(self.stdout.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    document = json.loads(line)
                except ValueError:
                    continue
                if isinstance(document, dict) and "predictions" in document:
                    return document
        return None


def run_container(ecs: Any, image: str, command: list[str], *, environment: dict[str, str] | None = None,
                  volumes: dict | None = None, time_limit_s: float = CONTAINER_TIME_LIMIT_S) -> ContainerRun:
    """``docker run`` on the local ECS's network (labelled: removed at the end in any case)."""
    docker = ecs.resources.client
    container = docker.containers.create(**ecs.container_kwargs(image=image, command=command,
                                                                environment=environment or {},
                                                                volumes=volumes or {}, detach=True))
    ecs.resources.track(container)
    try:
        container.start()
        try:
            status = container.wait(timeout=time_limit_s)
            timed_out = False
        except Exception:  # noqa: BLE001 - requests' ReadTimeout / ConnectionError
            container.kill()
            status, timed_out = {"StatusCode": None}, True
        stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        return ContainerRun(status.get("StatusCode"), stdout, stderr, timed_out)
    finally:
        ecs.resources.remove_container(container.id)


# --- a run shared by several checks --------------------------------------------------------------
class SharedRun:
    """Runs ``work`` once for every check that needs it; a CheckFailed is kept and raised again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._value: Any = None
        self._failure: CheckFailed | None = None

    def get(self, work: Callable[[], Any]) -> Any:
        with self._lock:
            if not self._done:
                try:
                    self._value = work()
                except CheckFailed as failure:
                    self._failure = failure
                self._done = True
        if self._failure is not None:
            raise self._failure
        return self._value


# --- student functions that never return --------------------------------------------------------
@contextmanager
def endless_guard(hung: set[str], function: str):
    """Fail at once a check that calls `function` again after it never returned in an earlier check.

    A check stopped by its time limit leaves `function` in `hung` (the exit below is not
    reached): the next checks that need it fail in milliseconds instead of waiting again.
    """
    if function in hung:
        fail(f"{function} ne s'est pas terminée lors d'une vérification précédente (limite de temps "
             "dépassée) : boucle sans fin ? Cette vérification n'est pas relancée.",
             f"{function} did not return in an earlier check (time limit reached): an endless loop? "
             "This check is not run again.")
    hung.add(function)
    yield
    hung.discard(function)
