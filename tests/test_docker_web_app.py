"""The web-app image in a real Docker engine: build, /health, /, non-root, HEALTHCHECK, docker stop.

Needs a Docker engine (`bash scripts/setup-docker.sh` sets one up, and a base image). Without one
these tests are skipped with the reason, except when CI is set: then a missing engine is a failure.
Everything the tests create (containers, the image and its intermediate layers) is removed, also
when a check fails.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecslab.images import docker_settings

ROOT = Path(__file__).resolve().parents[1]
APP_DIR = ROOT / "containers" / "web-app"
LOCAL_BASE = "ecs-lab/python-base:3.11-bookworm"
PUBLIC_BASE = "python:3.11-slim"
RUN_ID = uuid.uuid4().hex[:10]
TEST_LABEL = {"ecs-lab.test": "test_docker_web_app", "ecs-lab.test-run": RUN_ID}
SETUP_HINT = "run `sudo bash scripts/setup-docker.sh` first"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip, or fail in CI (where the Docker tier must run)."""
    if in_ci():
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)


setup_settings = docker_settings  # base image and build network of scripts/setup-docker.sh


def report(request: pytest.FixtureRequest, line: str) -> None:
    """Show a figure in the test run's output, even with output capture on."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(f"[docker web-app] {line}")


def http_get(url: str, timeout: float = 5) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_http(url: str, limit: float = 20) -> tuple[int, Any]:
    deadline = time.monotonic() + limit
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return http_get(url, timeout=2)
        except (OSError, ValueError) as exc:  # not listening yet, or connection reset by the proxy
            last = exc
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {limit:.0f} s: {last}")


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a project dependency
        unavailable(f"the docker package is not installed: {exc}")
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        unavailable(f"no Docker engine answers ({type(exc).__name__}: {str(exc)[:200]}); {SETUP_HINT}")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def base_image(docker_client: Any) -> str:
    import docker.errors

    wanted = setup_settings().get("ECS_LAB_BASE_IMAGE")
    for candidate in ([wanted] if wanted else [LOCAL_BASE, PUBLIC_BASE]):
        try:
            docker_client.images.get(candidate)
            return candidate
        except docker.errors.ImageNotFound:
            continue
    unavailable(f"no base image ({wanted or LOCAL_BASE + ' / ' + PUBLIC_BASE}) in the Docker engine; {SETUP_HINT}")
    raise AssertionError("unreachable")


def _remove_intermediate_images(client: Any, build_log: str, base: str) -> None:
    """After a failed build, remove the layers its successful steps left (` ---> <id>` lines)."""
    import docker.errors

    base_id = client.images.get(base).id
    for short_id in reversed(re.findall(r"---> ([0-9a-f]{12})\b", build_log)):
        if base_id.startswith(f"sha256:{short_id}"):
            continue
        try:
            image = client.images.get(short_id)
        except docker.errors.ImageNotFound:
            continue
        if not image.tags:  # never an image someone tagged
            try:
                client.images.remove(image.id, force=True)
            except docker.errors.APIError:
                pass


def _build_with_sdk(client: Any, tag: str, base: str, network_mode: str | None) -> None:
    import docker.errors

    kwargs: dict[str, Any] = dict(
        path=str(APP_DIR), tag=tag, buildargs={"BASE_IMAGE": base}, labels=TEST_LABEL,
        rm=True, forcerm=True, pull=False,
    )
    if network_mode:
        kwargs["network_mode"] = network_mode
    try:
        client.images.build(**kwargs)
    except docker.errors.BuildError as exc:
        log = "".join(str(c.get("stream", c.get("error", ""))) for c in exc.build_log)
        _remove_intermediate_images(client, log, base)
        raise AssertionError(f"docker build failed: {exc.msg}\n{log[-3000:]}") from None


@pytest.fixture(scope="module")
def web_image(docker_client: Any, base_image: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    import docker.errors

    tag = f"ecs-lab-test/web-app:{RUN_ID}"
    network = setup_settings().get("ECS_LAB_BUILD_NETWORK")
    network_mode = None if network in (None, "", "default") else network
    started = time.monotonic()
    try:
        try:
            from ecslab.images import build_web_image  # shared helper, when present
        except ImportError:
            _build_with_sdk(docker_client, tag, base_image, network_mode)
            how = "docker SDK"
        else:
            try:
                build_web_image(docker_client, tag, base_image=base_image, network_mode=network_mode)
            except Exception as exc:
                _remove_intermediate_images(docker_client, str(getattr(exc, "log_tail", "")), base_image)
                raise AssertionError(f"docker build failed: {exc}") from None
            how = "ecslab.images.build_web_image"
        image = docker_client.images.get(tag)
        report(request, f"built {tag} FROM {base_image} with {how} in {time.monotonic() - started:.1f} s")
        yield image
    finally:
        try:
            docker_client.images.remove(tag, force=True)  # prunes its untagged intermediate layers too
        except docker.errors.ImageNotFound:
            pass


@pytest.fixture()
def run_container(web_image: Any) -> Iterator[Any]:
    """Start containers of the image with testcontainers (port 3000 published); all removed at the end."""
    # Ryuk (testcontainers' reaper) needs an image from Docker Hub; this fixture stops its
    # containers itself, so the reaper is only a safety net that can be left out.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.container import DockerContainer

    started: list[DockerContainer] = []

    def start(**overrides: Any) -> tuple[Any, str]:
        kwargs: dict[str, Any] = dict(
            labels=TEST_LABEL,
            # Inherit the image's HEALTHCHECK command (test=[]), probe every second.
            healthcheck={"test": [], "interval": 1_000_000_000, "timeout": 4_000_000_000,
                         "retries": 3, "start_period": 30_000_000_000},
        )
        kwargs.update(overrides)
        container = (DockerContainer(web_image.id).with_name(f"ecs-lab-test-web-{RUN_ID}-{len(started)}")
                     .with_exposed_ports(3000).with_kwargs(**kwargs))
        started.append(container)
        container.start()
        url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(3000)}"
        return container.get_wrapped_container(), url

    yield start
    for container in started:
        container.stop()  # testcontainers removes the container (and its volumes)


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def test_image_metadata(web_image: Any) -> None:
    config = web_image.attrs["Config"]
    assert config["User"] not in ("", "0", "root", "root:root")
    assert "3000/tcp" in config["ExposedPorts"]
    assert config["Cmd"][0] == "python"  # exec form: python is PID 1
    assert config.get("StopSignal") == "SIGTERM"
    assert config["Healthcheck"]["Test"][:2] == ["CMD", "python"]
    assert any("/health" in part or "healthcheck" in part for part in config["Healthcheck"]["Test"])


def test_image_size(docker_client: Any, web_image: Any, base_image: str, request: pytest.FixtureRequest,
                    record_property: Any) -> None:
    size = web_image.attrs["Size"]
    base_size = docker_client.images.get(base_image).attrs["Size"]
    record_property("web_app_image_size_bytes", size)
    report(request, f"image size: {size / 1e6:.1f} MB (base {base_image}: {base_size / 1e6:.1f} MB, "
                    f"app layers: {(size - base_size) / 1e3:.0f} kB)")
    assert size - base_size < 5_000_000, "the app should add only a few files to the base image"


def test_health_root_and_non_root(run_container: Any) -> None:
    container, url = run_container()
    status, body = wait_http(f"{url}/health")
    assert status == 200 and body["status"] == "healthy"

    status, body = http_get(f"{url}/")
    assert status == 200
    assert "Bienvenue" in body["message"]
    assert body["hostname"] == container.id[:12]
    assert body["runtime"]["version"].startswith("3.11")
    assert body["ecs"]["available"] is False and body["ecs"]["error"]

    status, _ = http_get(f"{url}/nope")
    assert status == 404

    exit_code, output = container.exec_run(["id", "-u"])
    assert exit_code == 0
    assert output.decode().strip() != "0", "the container must not run as root"
    # PID 1 is the python server itself (exec-form CMD), also not root
    _, status_file = container.exec_run(["cat", "/proc/1/status"])
    uid_line = next(line for line in status_file.decode().splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1] != "0"
    _, cmdline = container.exec_run(["cat", "/proc/1/cmdline"])
    assert b"app.py" in cmdline


def test_docker_healthcheck_becomes_healthy(run_container: Any) -> None:
    container, _ = run_container()
    deadline = time.monotonic() + 45
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        container.reload()
        health = container.attrs["State"].get("Health") or {}
        if health.get("Status") == "healthy":
            break
        assert container.status == "running", container.logs().decode()[-2000:]
        time.sleep(0.5)
    assert health.get("Status") == "healthy", health
    # it is the image's own check (healthcheck.py on /health) that passed
    assert any("/health: 200" in entry.get("Output", "") for entry in health.get("Log", []))


def test_docker_stop_is_fast_and_clean(run_container: Any, request: pytest.FixtureRequest) -> None:
    container, url = run_container()
    wait_http(f"{url}/health")
    started = time.monotonic()
    container.stop(timeout=10)
    elapsed = time.monotonic() - started
    container.reload()
    report(request, f"docker stop: {elapsed:.2f} s, exit code {container.attrs['State']['ExitCode']}")
    assert elapsed < 2.0, f"docker stop took {elapsed:.2f} s (SIGTERM not handled?)"
    assert container.attrs["State"]["ExitCode"] == 0
    logs = container.logs().decode()
    assert "SIGTERM" in logs and "arrêt propre" in logs
