"""ECR in the sandbox: Docker's own registry (Debian's ``docker-registry``) stores the images,
moto's ECR keeps what ECR knows of them.

- :class:`RegistryProcess` runs the registry on ``127.0.0.1:<port>``, its data in the sandbox's
  folder (kept by ``down --keep``, removed by ``down``).
- :class:`RegistryStore` is the ``EcrRegistry`` of ``standin.moto_bridge``: repository URIs and
  the token's ``proxyEndpoint`` name ``localhost:<port>`` (Docker treats a registry on a
  loopback address as insecure by default, so ``docker login`` and ``docker push`` need no TLS
  and no daemon setting); before ECR answers a read, the tags pushed to the registry become
  ECR images (same digest, same manifest); what ECR deletes is deleted from the registry.
- :class:`SandboxImages` is what a task's image pull does: the ECR image named by the task
  definition (``localhost:<port>/<repository>:<tag>``) is looked up in ECR, then really pulled
  from the registry by the Docker engine; anything else is a ``CannotPullContainerError``, as
  on Fargate.

Why ``localhost:<port>`` rather than ``<account>.dkr.ecr.<region>.amazonaws.com``: the Docker
engine resolves registry names itself; making the ECR name resolve would need root (an
/etc/hosts entry), and a registry without a port would need port 443.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from standin.local_ecs.registry import ECR_URI, PullError, ResolvedImage, pull_error

log = logging.getLogger(__name__)

REGISTRY_BINARIES = ("docker-registry", "registry")
MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
))
CONFIG = """version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


class RegistryMissing(Exception):
    """No registry program on this machine."""


def registry_binary() -> str | None:
    for name in REGISTRY_BINARIES:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    return None


def _die_with_parent() -> None:
    """Linux: the registry gets SIGTERM when the sandbox's process dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class RegistryProcess:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> RegistryProcess:
        binary = registry_binary()
        if binary is None:
            raise RegistryMissing("docker-registry")
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.folder / "config.yml"
        config.write_text(CONFIG.format(data=data, port=self.port))
        log_file = (self.folder / "registry.log").open("ab")
        self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log_file, stderr=log_file,
                                        stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the registry stopped at start (see {self.folder / 'registry.log'})")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.url}/v2/", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the registry does not answer on {self.url}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


class RegistryStore:
    """moto's ECR on a real registry (see the module's docstring)."""

    def __init__(self, port: int) -> None:
        self.host = f"localhost:{port}"
        self.url = f"http://127.0.0.1:{port}"

    def _request(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"{self.url}{path}", method=method, headers={"Accept": MANIFEST_TYPES})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def sync(self, backend: Any, repository: Any) -> None:
        status, _, body = self._request(f"/v2/{repository.name}/tags/list")
        if status != 200:
            return
        tags = json.loads(body or b"{}").get("tags") or []
        known = {(tag, image.get_image_digest()) for image in repository.images for tag in image.image_tags}
        for tag in tags:
            status, headers, manifest = self._request(f"/v2/{repository.name}/manifests/{tag}")
            digest = headers.get("Docker-Content-Digest")
            if status != 200 or not digest or (tag, digest) in known:
                continue
            media_type = headers.get("Content-Type") or json.loads(manifest).get("mediaType")
            try:
                backend.put_image(repository.name, manifest.decode(), tag, media_type, digest)
            except Exception as error:  # noqa: BLE001 - ImageAlreadyExists and the like: ECR has it
                log.debug("sandbox ECR: %s:%s not taken in: %s", repository.name, tag, error)

    def delete(self, repository_name: str, digests: set[str]) -> None:
        for digest in digests:
            self._request(f"/v2/{repository_name}/manifests/{digest}", method="DELETE")


class SandboxImages:
    """The image pull of a sandbox task (the runner's ``registry``)."""

    def __init__(self, docker_client: Any, ecr_client: Callable[[], Any], store: RegistryStore) -> None:
        self.docker = docker_client
        self._ecr = ecr_client
        self.store = store
        self.pulled: set[str] = set()  # references pulled for tasks: untagged when the sandbox stops

    def resolve(self, reference: str) -> ResolvedImage:
        prefix = f"{self.store.host}/"
        if not reference.startswith(prefix):
            detail = ("not found: the sandbox's ECR is " + self.store.host + " (use the repository URI of the "
                      "stack outputs)" if ECR_URI.match(reference) else
                      "not found: the sandbox pulls only from its ECR (" + self.store.host + ")")
            raise pull_error(reference, detail)
        path = reference[len(prefix):]
        repository, _, digest = path.partition("@")
        name, _, tag = repository.rpartition(":") if ":" in repository else (repository, "", "latest")
        image_id = {"imageDigest": digest} if digest else {"imageTag": tag or "latest"}
        ecr = self._ecr()
        try:
            details = ecr.describe_images(repositoryName=name, imageIds=[image_id])["imageDetails"]
        except (ecr.exceptions.RepositoryNotFoundException, ecr.exceptions.ImageNotFoundException):
            raise pull_error(reference) from None
        if not details:
            raise pull_error(reference)
        found = details[0]["imageDigest"]
        from docker.errors import APIError

        try:
            image = self.docker.images.pull(f"{self.store.host}/{name}", tag=found)
        except APIError as error:
            raise PullError(f"CannotPullContainerError: pull image manifest: {reference}: "
                            f"{error.explanation or error}") from None
        self.pulled.add(f"{self.store.host}/{name}@{found}")
        return ResolvedImage(reference, image.id, found)

    def remove_pulled(self) -> None:
        """Untag what the tasks pulled (the layers stay while another tag uses them)."""
        from docker.errors import APIError

        for reference in sorted(self.pulled):
            with contextlib.suppress(APIError):
                self.docker.images.remove(reference, noprune=False)
        self.pulled.clear()
