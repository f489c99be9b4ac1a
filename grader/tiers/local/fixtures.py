"""The local tier's fixtures: the Docker engine, the images, one world for the tier, a record per check.

Without Docker (or a base image, or the test model) the tier is not graded, with the reason;
in CI (CI=true) that is a failure. SIGTERM is handled as Ctrl-C (standin.local_ecs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from grader.plugin.state import record_note, record_tier_unavailable
from grader.tiers.fixtures import *  # noqa: F403 - the fixtures every tier shares
from grader.tiers.local.images import LOCAL_BASE, SETUP_HINT, BuiltImages, build_images, setup_settings
from grader.tiers.local.world import Account, LocalWorld

TIER = "local"
images_key = pytest.StashKey[BuiltImages]()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def tier_unavailable(config: pytest.Config, reason: str) -> None:
    """The tier cannot run here: not graded with the reason; in CI, the run fails too (exit 3)."""
    if in_ci():
        reason = f"CI : le tier local doit s'exécuter. {reason}"
    record_tier_unavailable(config, TIER, reason, fail_run=in_ci())
    pytest.skip(reason)


def _report(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.getplugin("terminalreporter")
    capture = config.pluginmanager.getplugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(f"[tier local] {line}")


@pytest.fixture(scope="package")
def docker_client(pytestconfig: pytest.Config) -> Iterator[Any]:
    try:
        import docker

        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        tier_unavailable(pytestconfig, f"Tier local non évalué : aucun moteur Docker ne répond sur cette machine "
                                       f"({type(exc).__name__}: {str(exc)[:160]}) ; {SETUP_HINT}.")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="package")
def built_images(pytestconfig: pytest.Config, docker_client: Any, submission) -> BuiltImages:
    from docker.errors import ImageNotFound

    settings = setup_settings()
    base = settings.get("ECS_LAB_BASE_IMAGE")
    if base is None:
        try:
            docker_client.images.get(LOCAL_BASE)
            base = LOCAL_BASE
        except ImageNotFound:
            base = None  # the Dockerfiles' public default (python:3.11-slim), pulled by the build
    elif base == LOCAL_BASE:
        try:
            docker_client.images.get(base)
        except ImageNotFound:
            tier_unavailable(pytestconfig, f"Tier local non évalué : l'image de base {base} est absente du "
                                           f"moteur Docker ; {SETUP_HINT}.")
    network = "host" if settings.get("ECS_LAB_BUILD_NETWORK") == "host" else None
    _report(pytestconfig, "construction de l'image du classificateur avec votre s3_io.py...")
    try:
        images = build_images(docker_client, submission.path, base, network)
    except Exception as exc:  # noqa: BLE001 - a build problem is the machine's, never the student's
        tier_unavailable(pytestconfig, f"Tier local non évalué : construction des images impossible ici : "
                                       f"{str(exc)[-400:]}")
    pytestconfig.stash[images_key] = images
    _report(pytestconfig, images.summary())
    record_note(pytestconfig, images.summary())  # image sizes in the reports too
    return images


@pytest.fixture(scope="package")
def world(docker_client: Any, built_images: BuiltImages, submission) -> Iterator[LocalWorld]:
    with LocalWorld(submission, docker_client, built_images) as local:
        yield local


@pytest.fixture
def account(world: LocalWorld) -> Account:
    """This check's record of the student's requests to the local ECS's moto server."""
    return world.reset()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    images = config.stash.get(images_key, None)
    if images is not None:
        terminalreporter.write_line(f"[tier local] {images.summary()}")
