"""Every container and network the local ECS starts carries labels, so that all of them
can be removed at the end, also after a failure, a timeout or an interrupted run.

Labels: ``ecs-lab.local-ecs=<run id>`` and ``ecs-lab.local-ecs.owner=<host>/<pid>``. A run
removes what it created when it ends; at start-up it also sweeps what earlier runs on this
machine left behind when their process died without cleaning up (SIGKILL, power loss).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Any

from standin.processes import pid_alive

log = logging.getLogger(__name__)

RUN_LABEL = "ecs-lab.local-ecs"
OWNER_LABEL = "ecs-lab.local-ecs.owner"
RUN_ID_VARIABLE = "ECS_LAB_LOCAL_RUN_ID"  # lets a caller (a test) know the run id of a run it starts


def _owner() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


class DockerResources:
    """Labels, creates and removes the Docker objects of one local ECS run."""

    def __init__(self, client: Any, run_id: str | None = None) -> None:
        self.client = client
        self.run_id = run_id or os.environ.get(RUN_ID_VARIABLE) or uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._containers: set[str] = set()
        self._networks: set[str] = set()

    @property
    def labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id, OWNER_LABEL: _owner()}

    def name(self, suffix: str) -> str:
        return f"ecs-lab-local-{self.run_id}-{suffix}"

    def create_network(self) -> Any:
        network = self.client.networks.create(self.name("net"), driver="bridge", labels=self.labels,
                                              check_duplicate=True)
        with self._lock:
            self._networks.add(network.id)
        network.reload()
        return network

    def track(self, container: Any) -> Any:
        with self._lock:
            self._containers.add(container.id)
        return container

    def run_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        """kwargs for ``containers.create/run`` with this run's labels merged in."""
        labels = dict(kwargs.pop("labels", None) or {})
        labels.update(self.labels)
        return {**kwargs, "labels": labels}

    def remove_container(self, container_id: str) -> None:
        from docker.errors import APIError, NotFound

        try:
            self.client.api.remove_container(container_id, force=True, v=True)
        except NotFound:
            pass
        except APIError as exc:  # "removal already in progress" and the like
            if exc.status_code != 409:
                log.warning("cannot remove container %s: %s", container_id[:12], exc)
        with self._lock:
            self._containers.discard(container_id)

    def remove_all(self) -> list[str]:
        """Remove this run's containers, then its networks; return what was removed."""
        removed = []
        label = f"{RUN_LABEL}={self.run_id}"
        try:
            found = {c["Id"] for c in self.client.api.containers(all=True, filters={"label": label})}
        except Exception as exc:  # noqa: BLE001 - removal must go on with what we know
            log.warning("cannot list containers: %s", exc)
            found = set()
        with self._lock:
            found |= self._containers
        for container_id in found:
            self.remove_container(container_id)
            removed.append(container_id)
        try:
            networks = {n["Id"] for n in self.client.api.networks(filters={"label": label})}
        except Exception as exc:  # noqa: BLE001
            log.warning("cannot list networks: %s", exc)
            networks = set()
        with self._lock:
            networks |= self._networks
            self._networks.clear()
        for network_id in networks:
            _remove_network(self.client, network_id)
            removed.append(network_id)
        return removed

    @staticmethod
    def sweep_orphans(client: Any) -> list[str]:
        """Remove containers and networks of earlier runs on this host whose process is gone."""
        host = socket.gethostname()
        dead_runs: set[str] = set()
        removed = []
        try:
            containers = client.api.containers(all=True, filters={"label": RUN_LABEL})
            networks = client.api.networks(filters={"label": RUN_LABEL})
        except Exception as exc:  # noqa: BLE001
            log.warning("cannot look for leftovers of earlier runs: %s", exc)
            return removed
        for item in [*containers, *networks]:
            labels = item.get("Labels") or {}
            owner_host, _, pid = labels.get(OWNER_LABEL, "").rpartition("/")
            if owner_host == host and pid.isdigit() and not pid_alive(int(pid)):
                dead_runs.add(labels.get(RUN_LABEL, ""))
        for container in containers:
            if (container.get("Labels") or {}).get(RUN_LABEL) in dead_runs:
                try:
                    client.api.remove_container(container["Id"], force=True, v=True)
                    removed.append(container["Id"])
                except Exception as exc:  # noqa: BLE001
                    log.warning("cannot remove leftover container %s: %s", container["Id"][:12], exc)
        for network in networks:
            if (network.get("Labels") or {}).get(RUN_LABEL) in dead_runs:
                _remove_network(client, network["Id"])
                removed.append(network["Id"])
        return removed


def _remove_network(client: Any, network_id: str) -> None:
    from docker.errors import APIError, NotFound

    try:
        client.api.remove_network(network_id)
    except NotFound:
        pass
    except APIError as exc:
        log.warning("cannot remove network %s: %s", network_id[:12], exc)
