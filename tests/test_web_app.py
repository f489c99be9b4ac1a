"""Tests of containers/web-app/app.py without Docker: the server runs in a subprocess on a free port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

APP_DIR = Path(__file__).resolve().parents[1] / "containers" / "web-app"
APP = APP_DIR / "app.py"
HEALTHCHECK = APP_DIR / "healthcheck.py"

TASK_ARN = "arn:aws:ecs:eu-west-1:123456789012:task/ecs-lab-cluster/0123456789abcdef0123456789abcdef"
TASK_METADATA = {
    "Cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/ecs-lab-cluster",
    "TaskARN": TASK_ARN,
    "Family": "ecs-web-app",
    "Revision": "3",
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "Limits": {"CPU": 0.25, "Memory": 512},
    "AvailabilityZone": "eu-west-1b",
    "LaunchType": "FARGATE",
}
CONTAINER_METADATA = {
    "DockerId": "0123456789abcdef0123456789abcdef-1234567890",
    "Name": "web-app",
    "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ecs-lab/web-app:latest",
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "LogDriver": "awslogs",
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, method: str = "GET", timeout: float = 10) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, headers, body = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, dict(exc.headers), exc.read()
    data = json.loads(body) if body else None
    return status, headers, data


@dataclass
class RunningApp:
    proc: subprocess.Popen
    base_url: str

    def get(self, path: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
        return request(self.base_url + path, **kwargs)

    def stop(self) -> tuple[int, float, str]:
        """SIGTERM; returns (exit code, seconds until exit, output)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = -9
        elapsed = time.monotonic() - started
        out = self.proc.stdout.read() if self.proc.stdout else ""
        return code, elapsed, out


def start_app(extra_env: dict[str, str] | None = None) -> RunningApp:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "ECS_CONTAINER_METADATA_URI_V4"}
    env.update({"PORT": str(port), "PYTHONUNBUFFERED": "1"}, **(extra_env or {}))
    proc = subprocess.Popen(
        [sys.executable, str(APP)], env=env, cwd=APP_DIR,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    app = RunningApp(proc, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"app exited early ({proc.returncode}): {proc.stdout.read()}")
        try:
            if app.get("/health", timeout=1)[0] == 200:
                return app
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("app did not answer /health within 15 s")


@pytest.fixture()
def app_factory() -> Iterator:
    started: list[RunningApp] = []

    def factory(extra_env: dict[str, str] | None = None) -> RunningApp:
        app = start_app(extra_env)
        started.append(app)
        return app

    yield factory
    for app in started:
        if app.proc.poll() is None:
            app.proc.kill()
            app.proc.wait()
        if app.proc.stdout:
            app.proc.stdout.close()


@pytest.fixture(scope="module")
def app() -> Iterator[RunningApp]:
    running = start_app()
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait()
    running.proc.stdout.close()


class FakeMetadata:
    """Task metadata endpoint v4 served by a local http.server."""

    def __init__(self, task_status: int = 200) -> None:
        outer = self
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.paths.append(self.path)
                if self.path == "/v4/abc/task":
                    status, body = task_status, TASK_METADATA
                elif self.path == "/v4/abc":
                    status, body = 200, CONTAINER_METADATA
                else:
                    status, body = 404, {"error": "not found"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/v4/abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeMetadata:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------------------------
# routes
# --------------------------------------------------------------------------------------------
def test_health(app: RunningApp) -> None:
    status, headers, body = app.get("/health")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert body["status"] == "healthy"
    assert body["timestamp"].endswith("Z")
    assert isinstance(body["uptime"], (int, float)) and body["uptime"] >= 0


def test_root_outside_ecs(app: RunningApp) -> None:
    status, _, body = app.get("/")
    assert status == 200
    assert "Bienvenue" in body["message"]
    assert body["hostname"] == socket.gethostname()
    assert body["runtime"]["language"] == "Python"
    assert body["runtime"]["version"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert body["ecs"]["available"] is False
    assert "ECS_CONTAINER_METADATA_URI_V4" in body["ecs"]["error"]
    assert body["uptime"] >= 0


def test_request_count_increases(app: RunningApp) -> None:
    first = app.get("/")[2]["requestCount"]
    app.get("/health")
    second = app.get("/")[2]["requestCount"]
    assert second == first + 2


def test_info(app: RunningApp) -> None:
    status, _, body = app.get("/info")
    assert status == 200
    assert body["process"]["pid"] == app.proc.pid
    assert body["process"]["uid"] == os.getuid()
    assert body["hostname"] == socket.gethostname()
    assert body["system"]["cpuCount"] == os.cpu_count()
    assert body["environment"]["PORT"] == app.base_url.rsplit(":", 1)[1]
    assert body["ecs"]["available"] is False


def test_load_test_reports_duration(app: RunningApp) -> None:
    status, _, body = app.get("/load-test?iterations=200000")
    assert status == 200
    assert body["iterations"] == 200000
    assert body["durationMs"] > 0
    # sum of sqrt(i) for i < n is about (2/3) n^1.5: the work was really done
    assert body["result"] == pytest.approx(2 / 3 * 200000 ** 1.5, rel=1e-3)


def test_load_test_default_iterations(app: RunningApp) -> None:
    status, _, body = app.get("/load-test")
    assert status == 200
    assert body["iterations"] == 1_000_000


@pytest.mark.parametrize(
    "query",
    ["iterations=abc", "iterations=0", "iterations=-5", "iterations=1.5", "iterations=",
     "iterations=999999999999", "iterations=10&iterations=20"],
)
def test_load_test_bad_input(app: RunningApp, query: str) -> None:
    status, _, body = app.get(f"/load-test?{query}")
    assert status == 400
    assert "iterations" in body["error"]
    assert "usage" in body


def test_error_route(app: RunningApp) -> None:
    status, _, body = app.get("/error")
    assert status == 500
    assert "error" in body


def test_unknown_route(app: RunningApp) -> None:
    status, headers, body = app.get("/does-not-exist")
    assert status == 404
    assert headers["Content-Type"].startswith("application/json")
    assert "/does-not-exist" in body["error"]


def test_other_method_is_405(app: RunningApp) -> None:
    status, headers, body = app.get("/", method="POST")
    assert status == 405
    assert "GET" in headers["Allow"]
    assert "POST" in body["error"]


def test_head_health_has_no_body(app: RunningApp) -> None:
    status, headers, body = app.get("/health", method="HEAD")
    assert status == 200 and body is None
    assert int(headers["Content-Length"]) > 0


# --------------------------------------------------------------------------------------------
# ECS metadata
# --------------------------------------------------------------------------------------------
def test_root_shows_task_metadata(app_factory) -> None:
    with FakeMetadata() as fake:
        app = app_factory({"ECS_CONTAINER_METADATA_URI_V4": fake.uri})
        paths_at_start = list(fake.paths)
        _, _, body = app.get("/")
        _, _, body2 = app.get("/")
        ecs = body["ecs"]
        assert ecs["available"] is True
        assert ecs["taskArn"] == TASK_ARN
        assert ecs["availabilityZone"] == "eu-west-1b"
        assert ecs["family"] == "ecs-web-app"
        assert ecs["revision"] == "3"
        assert ecs["cluster"].endswith("cluster/ecs-lab-cluster")
        assert ecs["launchType"] == "FARGATE"
        assert ecs["knownStatus"] == "RUNNING" and ecs["desiredStatus"] == "RUNNING"
        assert ecs["container"]["name"] == "web-app"
        assert "error" not in ecs
        # read once at start-up, not at every request
        assert "/v4/abc/task" in paths_at_start
        assert fake.paths == paths_at_start
        assert body2["ecs"] == ecs
        _, _, info = app.get("/info")
        assert info["ecs"]["taskArn"] == TASK_ARN


def test_metadata_endpoint_error_is_reported(app_factory) -> None:
    with FakeMetadata(task_status=404) as fake:
        app = app_factory({"ECS_CONTAINER_METADATA_URI_V4": fake.uri})
        status, _, body = app.get("/")
    assert status == 200
    assert body["ecs"]["available"] is False
    assert "404" in body["ecs"]["error"]


def test_unreachable_metadata_endpoint_does_not_block_start(app_factory) -> None:
    started = time.monotonic()
    app = app_factory({"ECS_CONTAINER_METADATA_URI_V4": f"http://127.0.0.1:{free_port()}/v4/x"})
    assert time.monotonic() - started < 10
    _, _, body = app.get("/")
    assert body["ecs"]["available"] is False
    assert "Impossible" in body["ecs"]["error"]


# --------------------------------------------------------------------------------------------
# process behaviour
# --------------------------------------------------------------------------------------------
def test_sigterm_stops_quickly_and_cleanly(app_factory) -> None:
    app = app_factory()
    app.get("/")
    code, elapsed, out = app.stop()
    print(f"SIGTERM stop: {elapsed * 1000:.0f} ms")
    assert code == 0, out
    assert elapsed < 2.0
    assert "SIGTERM" in out and "arrêt propre" in out
    assert "Traceback" not in out


def test_sigterm_during_long_request_still_stops_under_2s(app_factory) -> None:
    app = app_factory()
    worker = threading.Thread(
        target=lambda: _ignore_errors(lambda: app.get("/load-test?iterations=20000000", timeout=30)),
        daemon=True,
    )
    worker.start()
    time.sleep(0.3)
    code, elapsed, out = app.stop()
    assert code == 0, out
    assert elapsed < 2.0


def _ignore_errors(fn) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001
        pass


@pytest.mark.parametrize("port", ["abc", "70000", "0"])
def test_bad_port_gives_clear_message(port: str) -> None:
    env = {**os.environ, "PORT": port}
    proc = subprocess.run([sys.executable, str(APP)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "PORT invalide" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_healthcheck_script(app: RunningApp) -> None:
    port = app.base_url.rsplit(":", 1)[1]
    ok = subprocess.run([sys.executable, str(HEALTHCHECK)], env={**os.environ, "PORT": port},
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stdout
    down = subprocess.run([sys.executable, str(HEALTHCHECK)], env={**os.environ, "PORT": str(free_port())},
                          capture_output=True, text=True, timeout=30)
    assert down.returncode == 1
    assert "unhealthy" in down.stdout
