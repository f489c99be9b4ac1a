"""The grader's image: the Gradescope autograder's, run by ECS with another command.

Built as Gradescope builds its own: the bundle of ``ecs-lab gradescope-bundle`` unpacked in
/autograder/source of a container of the project's base image, its setup.sh run once (a Python
3.11 virtualenv with ``.[offline]``, libseccomp, the time shim, cfn-lint's verdicts, a trial
grade), the container kept as an image. A task then runs ``/autograder/venv/bin/python -I -m
grader.ecs.task`` in it: the same grader, prepared the same way, confined the same way (Fargate,
like Gradescope, refuses namespaces: the worker confines itself without them). The tag is a hash
of the bundle and of the base image: a new grader is a new tag (the repository's tags are immutable).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from standin.processes import locked

IMAGE = "ecs-lab/grader"
LABEL = "ecs-lab.grader"
BUILD_TIMEOUT_S = 900
_SETUP = ("set -e; mkdir -p /autograder/source; cd /autograder/source; "
          "python3 -c 'import zipfile; zipfile.ZipFile(\"/bundle/autograder.zip\").extractall(\".\")'; "
          "cp run_autograder /autograder/run_autograder; chmod 0755 /autograder/run_autograder setup.sh; "
          "bash ./setup.sh")


class ImageError(Exception):
    """The image could not be built (the message says why; setup.sh's output ends it)."""


def image_tag(bundle: Path, base_image: str) -> str:
    digest = hashlib.sha256(bundle.read_bytes() + base_image.encode()).hexdigest()[:16]
    return f"{IMAGE}:{digest}"


def build_image(client: Any, bundle: Path, *, base_image: str, network: str = "bridge",
                pip_cache: Path | None = None, say: Callable[[str], None] = lambda _line: None) -> str:
    """The image of `bundle` on `base_image` (built unless the engine has it); returns its tag."""
    tag = image_tag(bundle, base_image)
    lock = Path(tempfile.gettempdir()) / f"ecs-lab-grader-{tag.rsplit(':', 1)[1]}.lock"
    with locked(lock):  # two commands building the same grader: one builds, the other waits for it
        return _build(client, bundle, tag, base_image=base_image, network=network, pip_cache=pip_cache, say=say)


def _build(client: Any, bundle: Path, tag: str, *, base_image: str, network: str, pip_cache: Path | None,
           say: Callable[[str], None]) -> str:
    import docker

    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    say(f"{tag}: setup.sh ...")
    volumes = {str(bundle.parent.resolve()): {"bind": "/bundle", "mode": "ro"}}
    if pip_cache is not None:
        pip_cache.mkdir(parents=True, exist_ok=True)
        volumes[str(pip_cache.resolve())] = {"bind": "/root/.cache/pip", "mode": "rw"}
    started = time.monotonic()
    try:
        container = client.containers.run(base_image, ["bash", "-c", _SETUP], detach=True, network_mode=network,
                                          volumes=volumes, labels={LABEL: "setup"})
    except docker.errors.DockerException as error:
        raise ImageError(f"cannot start {base_image}: {error}") from None
    try:
        status = container.wait(timeout=BUILD_TIMEOUT_S)
        log = container.logs().decode("utf-8", "replace")
        if status["StatusCode"] != 0:
            raise ImageError(f"setup.sh failed (exit {status['StatusCode']}):\n{log[-4000:]}")
        repository, version = tag.split(":")
        container.commit(repository, version, changes=[
            f'LABEL {LABEL}.setup-s="{time.monotonic() - started:.1f}"', 'CMD ["/autograder/run_autograder"]'])
    finally:
        container.remove(force=True)
    return tag
