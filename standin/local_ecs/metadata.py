"""The task metadata endpoint v4, served to the containers of the local ECS.

Each container gets ``ECS_CONTAINER_METADATA_URI_V4=http://<host>:<port>/v4/<token>``,
with a token of its own (unguessable, so a container only reads its own task's data).
Paths, as on Fargate: ``${URI}`` (the container), ``${URI}/task`` (the task, its
containers, availability zone, limits...), ``${URI}/stats`` and ``${URI}/task/stats``
(Docker statistics). The documents come live from the task's runner.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

log = logging.getLogger(__name__)


class MetadataSource(Protocol):
    def container_document(self, container_name: str) -> dict: ...
    def task_document(self) -> dict: ...
    def container_stats(self, container_name: str) -> dict: ...
    def task_stats(self) -> dict: ...


class MetadataServer:
    def __init__(self, bind: str, advertised_host: str) -> None:
        self._routes: dict[str, tuple[MetadataSource, str]] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                status, body = server.answer(self.path.split("?", 1)[0])
                payload = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer((bind, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.advertised_host = advertised_host
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ecs-metadata", daemon=True)

    def start(self) -> "MetadataServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def register(self, source: MetadataSource, container_name: str) -> str:
        """Serve ``source`` to ``container_name``; returns the URI for ECS_CONTAINER_METADATA_URI_V4."""
        token = secrets.token_hex(16)
        with self._lock:
            self._routes[token] = (source, container_name)
        return f"http://{self.advertised_host}:{self.port}/v4/{token}"

    def unregister(self, uri: str) -> None:
        with self._lock:
            self._routes.pop(uri.rstrip("/").rsplit("/", 1)[-1], None)

    def answer(self, path: str) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2 or parts[0] != "v4":
            return 404, {"error": "not found"}
        with self._lock:
            route = self._routes.get(parts[1])
        if route is None:
            return 404, {"error": "unknown metadata token (task stopped?)"}
        source, name = route
        rest = parts[2:]
        try:
            if rest == []:
                return 200, source.container_document(name)
            if rest == ["task"]:
                return 200, source.task_document()
            if rest == ["stats"]:
                return 200, source.container_stats(name)
            if rest == ["task", "stats"]:
                return 200, source.task_stats()
        except Exception as exc:  # noqa: BLE001 - an answer, never a crash of the server
            log.warning("metadata %s: %s", path, exc)
            return 500, {"error": str(exc)}
        return 404, {"error": "not found"}
