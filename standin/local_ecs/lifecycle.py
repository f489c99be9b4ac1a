"""Task and container state as DescribeTasks reports it, written into moto's task objects.

moto's ``Task`` moves through its states when it is described (or all at once); a task of
the local ECS instead has the state of what really happens to its containers. Its class
becomes :class:`LocalTask`, whose status only changes when :class:`TaskState` says so, and
its ``containers`` become :class:`LocalContainer` records (one per container definition).

Writes are ordered so that a concurrent DescribeTasks never sees a task STOPPED without its
exit codes and reason: details first, status last.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone
from typing import Any

from moto.ecs.models import Task

PROVISIONING = "PROVISIONING"
PENDING = "PENDING"
ACTIVATING = "ACTIVATING"
RUNNING = "RUNNING"
DEACTIVATING = "DEACTIVATING"
STOPPING = "STOPPING"
DEPROVISIONING = "DEPROVISIONING"
STOPPED = "STOPPED"
ORDER = (PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED)

# stopCode values of the ECS API
TASK_FAILED_TO_START = "TaskFailedToStart"
ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
USER_INITIATED = "UserInitiated"
SERVICE_SCHEDULER_INITIATED = "ServiceSchedulerInitiated"

ESSENTIAL_EXITED_REASON = "Essential container in task exited"

_TIMESTAMP_OF = {  # task timestamp set when the task first reaches a status
    PENDING: "pull_started_at",
    RUNNING: "started_at",
    DEACTIVATING: "stopping_at",
    DEPROVISIONING: "execution_stopped_at",
    STOPPED: "stopped_at",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class LocalTask(Task):
    """A moto task whose status is set by the local ECS (never advanced by moto)."""

    @property
    def status(self) -> str | None:  # type: ignore[override]
        return self.__dict__.get("_local_status", self.__dict__.get("_status"))

    @status.setter
    def status(self, value: str) -> None:
        self.__dict__["_local_status"] = value

    def advance(self) -> None:  # moto calls this on every DescribeTasks
        pass


class LocalContainer:
    """One container of a task, attribute names as moto's serializer looks them up."""

    def __init__(self, task: Task, definition: dict) -> None:
        partition, region, account = task.task_arn.split(":")[1], task.region_name, task._account_id  # noqa: SLF001
        self.container_arn = (f"arn:{partition}:ecs:{region}:{account}:container/"
                              f"{task.cluster_name}/{task.id}/{uuid.uuid4()}")
        self.task_arn = task.task_arn
        self.name = definition.get("name")
        self.image = definition.get("image")
        self.image_digest: str | None = None
        self.runtime_id: str | None = None
        self.last_status = PENDING
        self.exit_code: int | None = None
        self.reason: str | None = None
        self.network_bindings: list[dict] = []
        self.network_interfaces: list[dict] = []
        self.health_status = "UNKNOWN" if definition.get("healthCheck") else None
        self.cpu = str(definition.get("cpu", 0))
        self.memory = str(definition["memory"]) if definition.get("memory") else None
        self.memory_reservation = (str(definition["memoryReservation"])
                                   if definition.get("memoryReservation") else None)
        self.essential = definition.get("essential", True)
        self.definition = definition


class TaskState:
    """The state of one task of the local ECS (the moto task object it writes into)."""

    def __init__(self, task: Task, task_definition: Any) -> None:
        task.__class__ = LocalTask
        self.task = task
        self.lock = threading.RLock()
        self.task_id = task.id
        self.arn = task.task_arn
        self.definition = task_definition
        task.containers = [LocalContainer(task, c) for c in task_definition.container_definitions]
        task.desired_status = RUNNING
        task.created_at = utcnow()
        task.version = 1
        task.connectivity = None
        task.health_status = "UNKNOWN"
        task.cpu = getattr(task_definition, "cpu", None)
        task.memory = getattr(task_definition, "memory", None)
        task.platform_family = "Linux"
        task.ephemeral_storage = {"sizeInGiB": 20}
        task.stop_code = None
        task.stopped_reason = None
        task.last_status = PROVISIONING

    # --- reading -------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.task.last_status

    @property
    def containers(self) -> list[LocalContainer]:
        return self.task.containers

    def container(self, name: str) -> LocalContainer:
        return next(c for c in self.containers if c.name == name)

    @property
    def stopped(self) -> bool:
        return self.status == STOPPED

    # --- writing -------------------------------------------------------------------
    def set_status(self, status: str) -> None:
        with self.lock:
            if ORDER.index(status) <= ORDER.index(self.status):
                return
            now = utcnow()
            for reached in ORDER[ORDER.index(self.status) + 1:ORDER.index(status) + 1]:
                if reached == RUNNING and status != RUNNING:
                    continue  # a task that never ran has no startedAt
                attribute = _TIMESTAMP_OF.get(reached)
                if attribute and getattr(self.task, attribute, None) is None:
                    setattr(self.task, attribute, now)
            if status == RUNNING:
                self.task.connectivity = "CONNECTED"
                self.task.connectivity_at = now
            if ORDER.index(status) >= ORDER.index(DEACTIVATING):
                self.task.desired_status = STOPPED
            self.task.version += 1
            self.task.last_status = status

    def pulled(self) -> None:
        self.task.pull_stopped_at = utcnow()

    def stop_reason(self, reason: str, code: str) -> bool:
        """Record why the task stops (the first reason wins); True when it was the first."""
        with self.lock:
            if self.task.stopped_reason:
                return False
            self.task.stop_code = code
            self.task.stopped_reason = reason
            self.task.desired_status = STOPPED
            return True

    def set_health(self) -> None:
        """Task health: UNHEALTHY if an essential container is, HEALTHY when all checked ones are."""
        checked = [c for c in self.containers if c.health_status is not None]
        if not checked:
            return
        statuses = {c.health_status for c in checked if c.essential}
        if "UNHEALTHY" in statuses:
            self.task.health_status = "UNHEALTHY"
        elif statuses == {"HEALTHY"}:
            self.task.health_status = "HEALTHY"
        else:
            self.task.health_status = "UNKNOWN"
