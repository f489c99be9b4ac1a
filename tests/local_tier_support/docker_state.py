"""Docker availability for the tests, and what a run of the local tier left in the engine.

The project's tests run in parallel (pytest-xdist), so a global `docker ps -a` before/after
would see the other workers' containers. A run is identified by its run id instead: every
container and network of the local ECS carries ``ecs-lab.local-ecs=<run id>`` (a test sets
the id of a run it starts with ECS_LAB_LOCAL_RUN_ID). Containers of the tier's images or
names that carry no run label at all are counted too: an unlabelled one is a leak.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from standin.local_ecs.docker_resources import RUN_ID_VARIABLE, RUN_LABEL

OUR_IMAGE_PREFIXES = ("ecs-lab-grader/",)
OUR_NAME_PREFIX = "ecs-lab-local-"

__all__ = ["RUN_ID_VARIABLE", "Snapshot", "docker_client_or_skip", "in_ci", "new_run_id"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def new_run_id() -> str:
    return f"test{uuid.uuid4().hex[:10]}"


def docker_client_or_skip() -> Any:
    """A Docker client; skip without an engine, except in CI where the local tier must run."""
    try:
        import docker

        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        reason = f"no Docker engine answers ({type(exc).__name__}); run `sudo bash scripts/setup-docker.sh`"
        if in_ci():
            pytest.fail(f"CI: {reason}", pytrace=False)
        pytest.skip(reason)
    return client


@dataclass(frozen=True)
class Snapshot:
    """`docker ps -a` and `docker network ls`, by id."""

    containers: dict[str, dict]
    networks: dict[str, dict]

    @classmethod
    def take(cls, client: Any) -> "Snapshot":
        return cls({c["Id"]: c for c in client.api.containers(all=True)},
                   {n["Id"]: n for n in client.api.networks()})

    def left_by(self, run_id: str, before: "Snapshot") -> list[str]:
        """Containers and networks of run `run_id` (or unlabelled ones of the tier, new since `before`)."""
        left = []
        for cid, container in self.containers.items():
            labels = container.get("Labels") or {}
            names = [n.lstrip("/") for n in container.get("Names") or []]
            unlabelled_ours = RUN_LABEL not in labels and cid not in before.containers and (
                any(n.startswith(OUR_NAME_PREFIX) for n in names)
                or str(container.get("Image", "")).startswith(OUR_IMAGE_PREFIXES))
            if labels.get(RUN_LABEL) == run_id or unlabelled_ours:
                left.append(f"container {cid[:12]} {names} {container.get('Status')}")
        for nid, network in self.networks.items():
            if (network.get("Labels") or {}).get(RUN_LABEL) == run_id:
                left.append(f"network {nid[:12]} {network.get('Name')}")
        return left
