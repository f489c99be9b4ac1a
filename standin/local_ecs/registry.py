"""The ECR stand-in: which local Docker image a task definition's image reference names.

On AWS a Fargate task pulls ``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>``
from ECR. Locally, :meth:`LocalRegistry.publish` records that a local image is
``<repository URI>:<tag>`` and puts an image with the same manifest digest into moto's
ECR (so ``describe-images`` and the student's code see it); :meth:`resolve` then finds
the local image for a reference, through moto's ECR, the way a pull would. Nothing is
tagged in the Docker engine, so two runs on one engine never see each other's images.

References that are not ECR URIs name images of the local engine (no public registry is
reached). An image that cannot be found gives :class:`PullError`, whose message has the
form of Fargate's ``CannotPullContainerError``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable

ECR_URI = re.compile(
    r"^(?P<registry>(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?)/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


class PullError(Exception):
    """The image cannot be had; ``str()`` is the task's stopped reason."""


@dataclass(frozen=True)
class ResolvedImage:
    reference: str  # as written in the task definition
    image_id: str  # local Docker image id
    digest: str | None  # ECR image digest, when it came from ECR


def pull_error(reference: str, detail: str = "not found") -> PullError:
    return PullError(
        f"CannotPullContainerError: pull image manifest has been retried 1 time(s): "
        f"failed to resolve ref {reference}: {reference}: {detail}")


class LocalRegistry:
    def __init__(self, docker_client: Any, ecr_client: Callable[[], Any], account_id: str, region: str) -> None:
        self.docker = docker_client
        self._ecr = ecr_client
        self.account_id = account_id
        self.region = region
        self._lock = threading.Lock()
        self._by_digest: dict[tuple[str, str], str] = {}  # (repository, digest) -> local image id

    def repository_uri(self, repository: str) -> str:
        return f"{self.account_id}.dkr.ecr.{self.region}.amazonaws.com/{repository}"

    def publish(self, local_image: str, repository_uri: str, tag: str = "latest") -> str:
        """Make ``local_image`` available as ``repository_uri:tag``; return its image digest."""
        match = ECR_URI.match(repository_uri)
        if not match or match["tag"] or match["digest"]:
            raise ValueError(f"not an ECR repository URI: {repository_uri}")
        image = self.docker.images.get(local_image)
        manifest = _manifest(image)
        ecr = self._ecr()
        try:
            response = ecr.put_image(repositoryName=match["repository"], imageManifest=manifest,
                                     imageManifestMediaType=MANIFEST_TYPE, imageTag=tag)
            digest = response["image"]["imageId"]["imageDigest"]
        except ecr.exceptions.ImageAlreadyExistsException:
            digest = ecr.describe_images(repositoryName=match["repository"],
                                         imageIds=[{"imageTag": tag}])["imageDetails"][0]["imageDigest"]
        with self._lock:
            self._by_digest[(match["repository"], digest)] = image.id
        return digest

    def resolve(self, reference: str) -> ResolvedImage:
        match = ECR_URI.match(reference)
        if match is None:
            return self._resolve_local(reference)
        if (match["account"], match["region"]) != (self.account_id, self.region):
            raise pull_error(reference, "pull access denied, repository does not exist or may require authorization")
        image_id = {"imageDigest": match["digest"]} if match["digest"] else {"imageTag": match["tag"] or "latest"}
        ecr = self._ecr()
        try:
            details = ecr.describe_images(repositoryName=match["repository"], imageIds=[image_id])["imageDetails"]
        except (ecr.exceptions.RepositoryNotFoundException, ecr.exceptions.ImageNotFoundException):
            raise pull_error(reference) from None
        if not details:
            raise pull_error(reference)
        digest = details[0]["imageDigest"]
        with self._lock:
            local_id = self._by_digest.get((match["repository"], digest))
        if local_id is None or not self._exists(local_id):
            raise pull_error(reference, "not found (the image is in ECR but its layers are not in this local ECS)")
        return ResolvedImage(reference, local_id, digest)

    def _resolve_local(self, reference: str) -> ResolvedImage:
        from docker.errors import ImageNotFound

        try:
            image = self.docker.images.get(reference)
        except (ImageNotFound, ValueError):
            raise pull_error(reference, "not found (local ECS: images come from the local Docker engine, "
                                        "no public registry is reached)") from None
        return ResolvedImage(reference, image.id, None)

    def _exists(self, image_id: str) -> bool:
        from docker.errors import ImageNotFound

        try:
            self.docker.images.get(image_id)
        except ImageNotFound:
            return False
        return True


def _manifest(image: Any) -> str:
    """A Docker v2 manifest naming the image's config and layers (for moto's ECR)."""
    layers = (image.attrs.get("RootFS") or {}).get("Layers") or []
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": 0, "digest": image.id},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "size": 0, "digest": layer}
                   for layer in layers],
    }, separators=(",", ":"))
