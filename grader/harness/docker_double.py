"""A recording stand-in for the Docker SDK client (``docker.DockerClient``).

It accepts what the SDK accepts (high-level ``client.images`` and low-level ``client.api``),
records logins, tags and pushes, answers a push with a progress stream like the engine's,
and, when the push is accepted, puts the image into moto's ECR so that later steps find it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docker.errors import ImageNotFound


@dataclass
class Login:
    username: str | None
    password: str | None
    registry: str | None


def _split_repository(repository: str, tag: str | None) -> tuple[str, str]:
    """'uri:tag' or 'uri' + tag -> (uri, tag), as the Docker SDK parses it."""
    if tag is None and ":" in repository.rsplit("/", 1)[-1]:
        repository, tag = repository.rsplit(":", 1)
    return repository, tag or "latest"


@dataclass
class FakeDockerClient:
    local_images: set[str]
    push_error: str | None = None  # the registry's message when the push must fail
    on_push: Callable[[str, str], None] | None = None  # (repository, tag) once accepted
    logins: list[Login] = field(default_factory=list)
    tags: list[tuple[str, str, str]] = field(default_factory=list)  # (source, repository, tag)
    pushes: list[tuple[str, str, dict | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.images = _Images(self)
        self.api = _APIClient(self)

    # docker.DockerClient.login(username, password=None, email=None, registry=None, reauth=False, ...)
    def login(self, username=None, password=None, email=None, registry=None, reauth=False,
              dockercfg_path=None, **_: Any) -> dict:
        self.logins.append(Login(username, password, registry))
        return {"Status": "Login Succeeded"}

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass

    # --- behaviour shared by both API levels --------------------------------------
    def _tag(self, source: str, repository: str, tag: str | None) -> bool:
        source_name = source if ":" in source.rsplit("/", 1)[-1] else f"{source}:latest"
        if source not in self.local_images and source_name not in self.local_images:
            raise ImageNotFound(f"No such image: {source}")
        repository, tag = _split_repository(repository, tag)
        self.tags.append((source, repository, tag))
        self.local_images.add(f"{repository}:{tag}")
        return True

    def _push(self, repository: str, tag: str | None, auth_config: dict | None) -> list[dict]:
        repository, tag = _split_repository(repository, tag)
        self.pushes.append((repository, tag, auth_config))
        if f"{repository}:{tag}" not in self.local_images:
            return [{"errorDetail": {"message": f"tag does not exist: {repository}:{tag}"},
                     "error": f"tag does not exist: {repository}:{tag}"}]
        lines = [{"status": f"The push refers to repository [{repository}]"},
                 {"status": "Preparing", "progressDetail": {}, "id": "5f70bf18a086"}]
        if self.push_error:
            return [*lines, {"errorDetail": {"message": self.push_error}, "error": self.push_error}]
        digest = "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()
        if self.on_push:
            self.on_push(repository, tag)
        return [*lines, {"status": "Pushed", "progressDetail": {}, "id": "5f70bf18a086"},
                {"status": f"{tag}: digest: {digest} size: 1570"},
                {"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": 1570}}]


def _as_stream(lines: list[dict], stream: bool, decode: bool) -> Any:
    if stream:
        return iter(lines) if decode else (json.dumps(line).encode() + b"\r\n" for line in lines)
    return "".join(json.dumps(line) + "\r\n" for line in lines)


@dataclass
class _Image:
    client: FakeDockerClient
    name: str

    @property
    def id(self) -> str:
        return "sha256:" + hashlib.sha256(self.name.encode()).hexdigest()

    @property
    def tags(self) -> list[str]:
        return [self.name]

    def tag(self, repository: str, tag: str | None = None, **_: Any) -> bool:
        return self.client._tag(self.name, repository, tag)


@dataclass
class _Images:
    client: FakeDockerClient

    def get(self, name: str) -> _Image:
        full = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
        if name not in self.client.local_images and full not in self.client.local_images:
            raise ImageNotFound(f"No such image: {name}")
        return _Image(self.client, name)

    def push(self, repository: str, tag: str | None = None, **kwargs: Any) -> Any:
        lines = self.client._push(repository, tag, kwargs.get("auth_config"))
        return _as_stream(lines, kwargs.get("stream", False), kwargs.get("decode", False))

    def list(self, name: str | None = None, **_: Any) -> list[_Image]:
        return [_Image(self.client, n) for n in sorted(self.client.local_images)
                if name is None or n.startswith(name)]


@dataclass
class _APIClient:
    client: FakeDockerClient

    def login(self, *args: Any, **kwargs: Any) -> dict:
        return self.client.login(*args, **kwargs)

    def tag(self, image: str, repository: str, tag: str | None = None, force: bool = False) -> bool:
        return self.client._tag(image, repository, tag)

    def push(self, repository: str, tag: str | None = None, stream: bool = False,
             auth_config: dict | None = None, decode: bool = False) -> Any:
        return _as_stream(self.client._push(repository, tag, auth_config), stream, decode)

    def inspect_image(self, image: str) -> dict:
        return {"Id": self.client.images.get(image).id, "RepoTags": [image]}


def ecr_put_image(ecr_client) -> Callable[[str, str], None]:
    """A push callback that records the pushed image in (moto's) ECR."""

    def put(repository_uri: str, tag: str) -> None:
        name = repository_uri.split("/", 1)[1]
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1470,
                       "digest": "sha256:" + hashlib.sha256(repository_uri.encode()).hexdigest()},
            "layers": [],
        }
        ecr_client.put_image(repositoryName=name, imageManifest=json.dumps(manifest), imageTag=tag)

    return put

