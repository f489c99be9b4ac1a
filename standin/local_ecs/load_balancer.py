"""A local stand-in for the ALB: target groups with health checks, and HTTP listeners that
forward each request to the next healthy target (round robin).

Targets are registered by the service scheduler when a service's task is RUNNING and
deregistered when it stops, as ECS does with an ALB target group. Health checks use the
target group's path, matcher and thresholds (read from moto's ELBv2), every
``HEALTH_CHECK_INTERVAL_S`` (much faster than the ALB's 30 s, so that a local run does not
wait minutes). A listener with no healthy target answers 503, like an ALB.
"""

from __future__ import annotations

import http.client
import itertools
import logging
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

HEALTH_CHECK_INTERVAL_S = 1.0
HEALTH_CHECK_TIMEOUT_S = 2.0
PROXY_TIMEOUT_S = 30.0
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade"}


@dataclass
class HealthCheck:
    path: str = "/"
    matcher: str = "200"
    healthy_threshold: int = 2
    unhealthy_threshold: int = 3

    def matches(self, status: int) -> bool:
        for part in self.matcher.split(","):
            low, _, high = part.strip().partition("-")
            if low.isdigit() and int(low) <= status <= int(high or low):
                return True
        return False


@dataclass
class Target:
    key: str  # task ARN
    host: str
    port: int
    healthy: bool = False
    successes: int = 0
    failures: int = 0


@dataclass
class TargetGroup:
    arn: str
    check: HealthCheck
    targets: dict[str, Target] = field(default_factory=dict)
    _turn: Any = field(default_factory=itertools.count)

    def healthy(self) -> list[Target]:
        return [t for t in self.targets.values() if t.healthy]


class LoadBalancing:
    """Target groups, their health checker, and the listeners (one HTTP proxy each)."""

    def __init__(self, bind: str, advertised_host: str) -> None:
        self.bind = bind
        self.advertised_host = advertised_host
        self.groups: dict[str, TargetGroup] = {}
        self.listeners: dict[str, "_Listener"] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._checker = threading.Thread(target=self._check_loop, name="alb-health", daemon=True)
        self._checker.start()

    # --- targets ---------------------------------------------------------------------
    def register(self, group_arn: str, check: HealthCheck, key: str, host: str, port: int) -> None:
        with self._lock:
            group = self.groups.setdefault(group_arn, TargetGroup(group_arn, check))
            group.check = check
            group.targets[key] = Target(key, host, port)

    def deregister(self, group_arn: str, key: str) -> None:
        with self._lock:
            group = self.groups.get(group_arn)
            if group:
                group.targets.pop(key, None)

    def target_health(self, group_arn: str) -> dict[str, bool]:
        with self._lock:
            group = self.groups.get(group_arn)
            return {t.key: t.healthy for t in group.targets.values()} if group else {}

    def next_target(self, group_arn: str) -> Target | None:
        with self._lock:
            group = self.groups.get(group_arn)
            if group is None:
                return None
            healthy = group.healthy()
            if not healthy:
                return None
            return healthy[next(group._turn) % len(healthy)]  # noqa: SLF001

    def _check_loop(self) -> None:
        while not self._stop.wait(HEALTH_CHECK_INTERVAL_S):
            with self._lock:
                work = [(g.check, t) for g in self.groups.values() for t in g.targets.values()]
            for check, target in work:
                ok = _probe(target, check)
                with self._lock:
                    if ok:
                        target.successes, target.failures = target.successes + 1, 0
                        if target.successes >= check.healthy_threshold:
                            target.healthy = True
                    else:
                        target.successes, target.failures = 0, target.failures + 1
                        if target.failures >= check.unhealthy_threshold:
                            target.healthy = False

    # --- listeners -------------------------------------------------------------------
    def listener(self, listener_arn: str, group_arn: str) -> str:
        """Start (once) the proxy of a listener forwarding to ``group_arn``; returns its URL."""
        with self._lock:
            existing = self.listeners.get(listener_arn)
            if existing is None:
                existing = self.listeners[listener_arn] = _Listener(self, group_arn)
            existing.group_arn = group_arn
            return f"http://{self.advertised_host}:{existing.port}"

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            listeners, self.listeners = list(self.listeners.values()), {}
        for listener in listeners:
            listener.close()
        self._checker.join(5)


def _probe(target: Target, check: HealthCheck) -> bool:
    connection = http.client.HTTPConnection(target.host, target.port, timeout=HEALTH_CHECK_TIMEOUT_S)
    try:
        connection.request("GET", check.path, headers={"User-Agent": "ELB-HealthChecker/2.0"})
        return check.matches(connection.getresponse().status)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class _Listener:
    def __init__(self, balancing: LoadBalancing, group_arn: str) -> None:
        self.group_arn = group_arn
        listener = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: each one is balanced

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                target = balancing.next_target(listener.group_arn)
                if target is None:
                    self._plain(503, b"503 Service Temporarily Unavailable (no healthy target)")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["X-Forwarded-For"] = self.client_address[0]
                headers["X-Forwarded-Proto"] = "http"
                headers["X-Forwarded-Port"] = "80"
                upstream = http.client.HTTPConnection(target.host, target.port, timeout=PROXY_TIMEOUT_S)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException):
                    self._plain(502, b"502 Bad Gateway")
                    return
                finally:
                    upstream.close()
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _plain(self, status: int, text: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _forward  # noqa: N815

        self._httpd = ThreadingHTTPServer((balancing.bind, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="alb-listener", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
