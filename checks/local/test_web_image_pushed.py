"""Checkpoint web_image_pushed (step 4), local meaning: the web image builds and works.

The local tier cannot push to ECR (no registry is reached here): the push itself is
verified by the aws tier. What is verified here, on the image the tier built from
``containers/web-app`` (the lab's application): a container answers ``/health`` with 200
and ``{"status": "healthy"}``, ``/`` with a JSON document (message, hostname, runtime,
ecs); the process does not run as root; the image's Docker HEALTHCHECK (its own test
command, run every second instead of every 30 s to save time) becomes healthy; and
``docker stop`` ends it in under 2 s (SIGTERM handled). The image is then published to
the local ECR stand-in under the stack's repository URI for the web_service check.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from grader.feedback import expect, fail

pytestmark = pytest.mark.timeout(90, func_only=True)


def _get(url: str, timeout: float = 5) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


@pytest.fixture(scope="module")
def web(world):
    """A web-app container on the local network, port 3000 published on 127.0.0.1."""
    docker = world.ecs.resources.client
    image = docker.images.get(world.images.web)
    test = (image.attrs.get("Config", {}).get("Healthcheck") or {}).get("Test")
    kwargs = dict(image=world.images.web, detach=True, environment={"PORT": "3000"},
                  ports={"3000/tcp": ("127.0.0.1", None)})
    if test:
        kwargs["healthcheck"] = {"test": test, "interval": 1_000_000_000, "timeout": 5_000_000_000, "retries": 3,
                                 "start_period": 0}
    container = docker.containers.create(**world.ecs.container_kwargs(**kwargs))
    world.ecs.resources.track(container)
    container.start()
    container.reload()
    port = int(container.attrs["NetworkSettings"]["Ports"]["3000/tcp"][0]["HostPort"])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _get(f"{base}/health", timeout=2)
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield container, base, bool(test)
    finally:
        world.ecs.resources.remove_container(container.id)


@pytest.mark.weight(2)
def test_health_and_root_answer(web):
    _container, base, _ = web
    try:
        status, health = _get(f"{base}/health")
        root_status, root = _get(f"{base}/")
    except OSError as error:
        fail("L'application web ne répond pas sur le port 3000.", "The web app does not answer on port 3000.",
             seen=str(error))
    expect(status == 200 and isinstance(health, dict) and health.get("status") == "healthy",
           "GET /health doit répondre 200 avec status « healthy ».",
           "GET /health must answer 200 with status 'healthy'.", seen=(status, health))
    expect(root_status == 200 and isinstance(root, dict), "GET / doit répondre 200 avec un document JSON.",
           "GET / must answer 200 with a JSON document.", seen=root_status)
    missing = [key for key in ("message", "hostname", "runtime", "ecs") if key not in root]
    expect(not missing, "Champs manquants dans la réponse de GET /.", "Fields missing from GET /.",
           expected=["message", "hostname", "runtime", "ecs"], seen=sorted(root))


@pytest.mark.weight(1)
def test_runs_as_non_root(web):
    container, _base, _ = web
    result = container.exec_run(["id", "-u"])
    uid = result.output.decode().strip()
    expect(result.exit_code == 0 and uid.isdigit() and uid != "0", "Le processus ne doit pas tourner en root.",
           "The process must not run as root.", expected="uid != 0", seen=uid)


@pytest.mark.weight(1)
def test_healthcheck_becomes_healthy(web):
    container, _base, has_check = web
    expect(has_check, "L'image doit définir un HEALTHCHECK.", "The image must define a HEALTHCHECK.")
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        container.reload()
        status = (container.attrs["State"].get("Health") or {}).get("Status")
        if status in ("healthy", "unhealthy"):
            break
        time.sleep(0.5)
    expect(status == "healthy", "Le HEALTHCHECK Docker de l'image doit devenir « healthy ».",
           "The image's Docker HEALTHCHECK must become healthy.", seen=status)


@pytest.mark.weight(1)
def test_docker_stop_is_quick(web):
    container, _base, _ = web
    started = time.monotonic()
    container.stop(timeout=10)
    elapsed = time.monotonic() - started
    container.reload()
    expect(elapsed < 2, "docker stop doit arrêter l'application en moins de 2 s (SIGTERM géré).",
           "docker stop must end the app in under 2 s (SIGTERM handled).", seen=f"{elapsed:.1f} s")
    expect(container.attrs["State"].get("ExitCode") == 0, "Après SIGTERM, l'application doit sortir avec le code 0.",
           "After SIGTERM the app must exit with code 0.", seen=container.attrs["State"].get("ExitCode"))
