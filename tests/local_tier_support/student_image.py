"""The student's own classifier image (``ecs-lab build classifier`` tags ``image-classifier:latest``
in their Docker engine), set up for a test of the local tier's classifier_image_local.

The tag is one name for the whole engine: every test that sets it (or web-app:latest) holds a lock (a file in
``.cache/docker/``, across pytest-xdist workers and processes) for as long as it needs it,
and leaves the tag as it found it (an image the user had under that tag is put back; one
the test created is untagged).
"""

from __future__ import annotations

import fcntl
import io
import tarfile
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from docker.errors import ImageNotFound

from ecslab.images import build_classifier_image, docker_settings
from grader.tiers.local.images import LOCAL_BASE, STUDENT_CLASSIFIER_TAG, ensure_test_model

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / ".cache" / "docker" / "image-classifier-latest.lock"
REPOSITORY, TAG = STUDENT_CLASSIFIER_TAG.split(":")
BACKUP_REPOSITORY = "ecs-lab-test-backup/image-classifier"

# A classifier that answers every input, as confidently as the real one, with the wrong label.
GARBAGE_CLASSIFIER = textwrap.dedent('''
    import json, sys
    predictions = [{"label": "banana", "confidence": 97.0, "score": 0.97}] + [
        {"label": f"classe {i}", "confidence": 0.5, "score": 0.005} for i in range(4)]
    for i, p in enumerate(predictions, start=1):
        print(f"{i}. {p['label']}: {p['confidence']:.2f}%")
    print(json.dumps({"timestamp": "2026-01-01T00:00:00.000Z", "input": {"url": sys.argv[-1]},
                      "model": {"name": "banana", "version": "1"}, "predictions": predictions,
                      "processing": {"success": True, "duration_ms": 1}}))
''')


def _image_id(client: Any, tag: str) -> str | None:
    try:
        return client.images.get(tag).id
    except ImageNotFound:
        return None


def build_settings(client: Any) -> tuple[str | None, str | None]:
    """(base image, build network) as the local tier uses them: the layers its own build cached."""
    settings = docker_settings()
    base = settings.get("ECS_LAB_BASE_IMAGE") or (LOCAL_BASE if _image_id(client, LOCAL_BASE) else None)
    return base, "host" if settings.get("ECS_LAB_BUILD_NETWORK") == "host" else None


def build_as_the_student(client: Any, submission: Path) -> str:
    """`ecs-lab build classifier --submission <submission>` with the test model (MODEL_SOURCE=local)."""
    base, network = build_settings(client)
    return build_classifier_image(client, submission, STUDENT_CLASSIFIER_TAG, model_dir=ensure_test_model(),
                                  base_image=base, network_mode=network)


def build_garbage(client: Any, submission: Path) -> str:
    """The student's image with a classifier.py that prints garbage (a wrong label, always exit 0)."""
    parent = build_as_the_student(client, submission)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, text in (("Dockerfile", f"FROM {parent}\nCOPY classifier.py /app/classifier.py\n"),
                           ("classifier.py", GARBAGE_CLASSIFIER)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    archive.seek(0)
    image, _logs = client.images.build(fileobj=archive, custom_context=True, tag=STUDENT_CLASSIFIER_TAG,
                                       rm=True, forcerm=True, pull=False)
    return image.id


@contextmanager
def held_tags(*tags: str, client: Any = None) -> Iterator[None]:
    """The lab's local tags (image-classifier:latest, web-app:latest) for this test alone: one lock per
    tag (taken in one order: no deadlock), the images the user had under them put back afterwards,
    those the test made untagged."""
    import docker

    client = client or docker.from_env()
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as locks:
        for tag in sorted(tags):
            lock = locks.enter_context(open(LOCK.with_name(tag.replace(":", "-").replace("/", "-") + ".lock"), "w"))
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        backups: dict[str, str] = {}
        for tag in tags:
            previous = _image_id(client, tag)
            if previous:
                backups[tag] = uuid.uuid4().hex[:10]
                client.api.tag(previous, BACKUP_REPOSITORY, backups[tag])
                client.api.remove_image(tag, noprune=True)
        try:
            yield
        finally:
            for tag in tags:
                if _image_id(client, tag):
                    client.api.remove_image(tag, noprune=True)
                if tag in backups:
                    repository, name = tag.rsplit(":", 1)
                    client.api.tag(f"{BACKUP_REPOSITORY}:{backups[tag]}", repository, name)
                    client.api.remove_image(f"{BACKUP_REPOSITORY}:{backups[tag]}", noprune=True)


@contextmanager
def student_image(client: Any, submission: Path, state: str) -> Iterator[str | None]:
    """`image-classifier:latest` as a student may leave it: "built" (from `submission`), "garbage"
    or "absent"; yields the image id (None when absent). Restores the tag afterwards."""
    with held_tags(STUDENT_CLASSIFIER_TAG, client=client):
        if state == "built":
            yield build_as_the_student(client, submission)
        elif state == "garbage":
            yield build_garbage(client, submission)
        elif state == "absent":
            yield None
        else:
            raise ValueError(state)
