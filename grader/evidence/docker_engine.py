"""A Docker Engine API of the scorer's own, for ``push_image_to_ecr``.

The student's code gets a real ``docker.DockerClient`` whose ``base_url`` is this server (and
``DOCKER_HOST`` points here, for ``docker.from_env()``). It answers what the SDK asks for a
push, as dockerd does: ``/version``, ``/_ping``, ``POST /auth`` (login), ``GET
/images/{name}/json`` (inspect), ``POST /images/{name}/tag``, ``POST /images/{name}/push``
(a progress stream, with the registry's error in the stream when the check asks for one),
``GET /images/json`` (list). It records every login, tag and push as it received them, and an
accepted push puts the image into moto's ECR (a real ``docker push`` cannot reach moto).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from standin.serving import WsgiServers
from grader.evidence.aws_requests import served

API_VERSION = "1.43"
_VERSIONED = re.compile(r"^/v[0-9.]+(/.*)$")


@dataclass
class Login:
    username: str | None
    password: str | None
    registry: str | None


@dataclass
class Push:
    repository: str
    tag: str
    auth: dict | None  # the X-Registry-Auth header, decoded


@dataclass
class EngineState:
    """One check's engine: its local images, and what the student's code asked of it."""

    local_images: set[str] = field(default_factory=set)
    push_error: str | None = None  # the registry's message when the push must fail
    on_push: Callable[[str, str], None] | None = None  # (repository, tag) once accepted
    logins: list[Login] = field(default_factory=list)
    tags: list[tuple[str, str, str]] = field(default_factory=list)  # (source, repository, tag)
    pushes: list[Push] = field(default_factory=list)
    clock: Any = None  # the check's virtual clock: no time passes while a request is served


def _split(repository: str, tag: str | None) -> tuple[str, str]:
    """'uri:tag' or 'uri' + tag -> (uri, tag), as the SDK and dockerd parse it."""
    if not tag and ":" in repository.rsplit("/", 1)[-1]:
        repository, tag = repository.rsplit(":", 1)
    return repository, tag or "latest"


def image_id(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


class DockerEngine:
    """The server; `state` is the current check's (a new EngineState per check)."""

    def __init__(self, bind: str = "127.0.0.1", unix_socket: str | None = None) -> None:
        self.bind = bind
        self.unix_socket = unix_socket
        self.state = EngineState()
        self.port = 0
        self._servers = WsgiServers("docker-engine")
        self._lock = threading.Lock()

    # --- life ----------------------------------------------------------------------------
    def start(self) -> "DockerEngine":
        self.port = self._servers.start(self.app, self.bind, self.unix_socket)
        return self

    def stop(self) -> None:
        self._servers.stop(self.unix_socket)

    def __enter__(self) -> "DockerEngine":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"tcp://{self.bind}:{self.port}"

    # --- the API -------------------------------------------------------------------------
    def app(self, environ: dict, start_response: Callable) -> Any:
        return served(self.state.clock, self._respond, environ, start_response)

    def _respond(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        path = request.path
        match = _VERSIONED.match(path)
        if match:
            path = match.group(1)
        state = self.state
        if path == "/_ping":
            response = Response("OK", content_type="text/plain")
        elif path == "/version":
            response = _json({"ApiVersion": API_VERSION, "Version": "24.0.0", "Os": "linux", "Arch": "amd64",
                              "MinAPIVersion": "1.12"})
        elif path == "/auth" and request.method == "POST":
            response = self._login(state, request)
        elif path == "/images/json":
            response = _json([{"Id": image_id(n), "RepoTags": [n]} for n in sorted(state.local_images)])
        elif path.startswith("/images/") and path.endswith("/json"):
            response = self._inspect(state, unquote(path[len("/images/"):-len("/json")]))
        elif path.startswith("/images/") and path.endswith("/tag") and request.method == "POST":
            response = self._tag(state, unquote(path[len("/images/"):-len("/tag")]), request)
        elif path.startswith("/images/") and path.endswith("/push") and request.method == "POST":
            response = self._push(state, unquote(path[len("/images/"):-len("/push")]), request)
        else:
            response = _json({"message": f"page not found: {request.method} {path}"}, 404)
        return response(environ, start_response)

    def _known(self, state: EngineState, name: str) -> str | None:
        """The local image a name or id refers to."""
        full = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
        for local in sorted(state.local_images):
            if name in (local, image_id(local)) or full == local:
                return local
        return None

    def _login(self, state: EngineState, request: Request) -> Response:
        data = request.get_json(silent=True) or {}
        with self._lock:
            state.logins.append(Login(data.get("username"), data.get("password"), data.get("serveraddress")))
        return _json({"Status": "Login Succeeded", "IdentityToken": ""})

    def _inspect(self, state: EngineState, name: str) -> Response:
        local = self._known(state, name)
        if local is None:
            return _json({"message": f"No such image: {name}"}, 404)
        return _json({"Id": image_id(local), "RepoTags": [local], "Size": 342_000_000})

    def _tag(self, state: EngineState, name: str, request: Request) -> Response:
        local = self._known(state, name)
        if local is None:
            return _json({"message": f"No such image: {name}"}, 404)
        repository, tag = _split(request.args.get("repo", ""), request.args.get("tag"))
        with self._lock:
            state.tags.append((local, repository, tag))
            state.local_images.add(f"{repository}:{tag}")
        return Response(status=201)

    def _push(self, state: EngineState, repository: str, request: Request) -> Response:
        repository, tag = _split(repository, request.args.get("tag"))
        auth = _decode_auth(request.headers.get("X-Registry-Auth"))
        with self._lock:
            state.pushes.append(Push(repository, tag, auth))
        if f"{repository}:{tag}" not in state.local_images:
            lines = [{"errorDetail": {"message": f"tag does not exist: {repository}:{tag}"},
                      "error": f"tag does not exist: {repository}:{tag}"}]
        else:
            lines = [{"status": f"The push refers to repository [{repository}]"},
                     {"status": "Preparing", "progressDetail": {}, "id": "5f70bf18a086"}]
            if state.push_error:
                lines.append({"errorDetail": {"message": state.push_error}, "error": state.push_error})
            else:
                digest = image_id(f"{repository}:{tag}")
                if state.on_push:
                    state.on_push(repository, tag)
                lines += [{"status": "Pushed", "progressDetail": {}, "id": "5f70bf18a086"},
                          {"status": f"{tag}: digest: {digest} size: 1570"},
                          {"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": 1570}}]
        # A stream in chunks, as dockerd sends it (the SDK parses a chunked body line by line).
        chunks = [(json.dumps(line) + "\r\n").encode() for line in lines]
        return Response(iter(chunks), content_type="application/json", direct_passthrough=True)


def _json(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document), status=status, content_type="application/json")


def _decode_auth(header: str | None) -> dict | None:
    if not header:
        return None
    try:
        padded = header + "=" * (-len(header) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        return None
    return decoded if isinstance(decoded, dict) else None


def ecr_put_image(ecr_client: Any) -> Callable[[str, str], None]:
    """A push callback that records the pushed image in (moto's) ECR."""

    def put(repository_uri: str, tag: str) -> None:
        name = repository_uri.split("/", 1)[1]
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1470,
                       "digest": image_id(repository_uri)},
            "layers": [],
        }
        ecr_client.put_image(repositoryName=name, imageManifest=json.dumps(manifest), imageTag=tag)

    return put
