"""The patches of moto's ECS backend that hand tasks and services to the local ECS.

moto's server runs in this process, so its backend methods are patched in place (and
restored by :meth:`EcsHooks.uninstall`):

- ``run_task``: moto creates the task objects (ARN, ENI in the subnet, overrides...); a
  FARGATE task (``launchType``, a FARGATE capacity provider strategy, or the cluster's
  default strategy) then goes to the local ECS, which runs it. Tasks of one call are spread
  over the given subnets, as Fargate spreads them over zones. Container-level ``memory`` is
  not required (Fargate needs none; moto crashes without it).
- ``stop_task``: stops the containers (the task goes STOPPED when they are), with the reason.
- ``describe_tasks``: moto's task objects already hold the live state; unknown tasks are
  reported in ``failures`` (reason MISSING), as ECS does.
- ``create_service``/``update_service``/``delete_service``: FARGATE services go to the
  service scheduler; ``list_tasks(serviceName=...)`` lists the service's tasks, and without
  ``desiredStatus`` only the tasks meant to run (as ECS).
- RunTask refuses, as ECS does, a container override naming no container of the task
  definition, a task definition not compatible with FARGATE, and a count outside 1..10.
"""

from __future__ import annotations

import copy
import threading
from contextlib import ExitStack
from typing import Any, Callable
from unittest import mock

from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend
from moto.ecs.responses import EC2ContainerServiceResponse

_request = threading.local()  # the launch type implied by a request's capacityProviderStrategy


def _strategy_launch_type(strategy: list[dict] | None) -> str | None:
    providers = {s.get("capacityProvider") for s in strategy or []}
    return "FARGATE" if providers & {"FARGATE", "FARGATE_SPOT"} else None


def _without_memory_requirement(original: Callable) -> Callable:
    def calculate(task_definition: Any) -> dict:
        containers = task_definition.container_definitions
        task_definition.container_definitions = [
            c if any(k in c for k in ("memory", "Memory", "memoryReservation", "MemoryReservation"))
            else {**c, "memory": 0} for c in containers]
        try:
            return original(task_definition)
        finally:
            task_definition.container_definitions = containers
    return staticmethod(calculate)


def _rotated(configuration: dict | None, offset: int, account_id: str, region: str) -> dict | None:
    """The task's network configuration: subnets rotated (one zone after the other), and the
    VPC's default security group when none is given (as ECS does; moto requires one)."""
    if not configuration:
        return configuration
    rotated = copy.deepcopy(configuration)
    awsvpc = rotated.get("awsvpcConfiguration") or {}
    subnets = awsvpc.get("subnets") or []
    if subnets:
        shift = offset % len(subnets)
        awsvpc["subnets"] = subnets[shift:] + subnets[:shift]
        if not awsvpc.get("securityGroups"):
            awsvpc["securityGroups"] = _default_security_group(subnets[0], account_id, region)
    return rotated


def _default_security_group(subnet_id: str, account_id: str, region: str) -> list[str]:
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[account_id][region]
    try:
        vpc_id = ec2.get_subnet(subnet_id).vpc_id
        group = ec2.get_security_group_from_name("default", vpc_id=vpc_id)
    except Exception:  # noqa: BLE001 - moto then reports the subnet problem itself
        return []
    return [group.id] if group is not None else []


class EcsHooks:
    """Installs the patches; ``engine`` receives the tasks and services (see engine.LocalEcs)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._stack: ExitStack | None = None
        self._spread = 0

    def install(self) -> None:
        backend = EC2ContainerServiceBackend
        responses = EC2ContainerServiceResponse
        originals = {name: getattr(backend, name) for name in
                     ("run_task", "stop_task", "create_service", "update_service", "delete_service", "list_tasks")}
        original_run_response = responses.run_task
        original_service_response = responses.create_service
        original_describe_response = responses.describe_tasks
        hooks = self

        def run_task(self_: Any, cluster_str: str, task_definition_str: str, count: int, overrides: Any,
                     started_by: str, tags: Any, launch_type: str | None, networking_configuration: Any = None,
                     group: str | None = None, platform_version: str | None = None) -> list:
            cluster = self_._get_cluster(cluster_str)  # noqa: SLF001
            launch = launch_type or getattr(_request, "launch_type", None) or _strategy_launch_type(
                getattr(cluster, "default_capacity_provider_strategy", None))
            if launch != "FARGATE":
                return originals["run_task"](self_, cluster_str, task_definition_str, count, overrides, started_by,
                                             tags, launch_type, networking_configuration, group, platform_version)
            definition = self_.describe_task_definition(task_definition_str)
            if "FARGATE" not in (definition.compatibilities or []):
                raise InvalidParameterException("Task definition does not support launch_type FARGATE.")
            if definition.network_mode != "awsvpc":
                raise InvalidParameterException("Fargate only supports network mode 'awsvpc'.")
            if not 1 <= int(count or 1) <= 10:
                raise InvalidParameterException("count must be between 1 and 10.")
            names = {c.get("name") for c in definition.container_definitions}
            for override in (overrides or {}).get("containerOverrides") or []:
                if override.get("name") not in names:
                    raise InvalidParameterException(f"Override for container named {override.get('name')} "
                                                    "is not a container in the TaskDefinition.")
            tasks = []
            for _ in range(int(count or 1)):
                hooks._spread += 1  # noqa: SLF001
                tasks += originals["run_task"](self_, cluster_str, task_definition_str, 1, overrides, started_by,
                                               tags, "FARGATE", _rotated(networking_configuration, hooks._spread,
                                                                       self_.account_id, self_.region_name),
                                               group, platform_version or "1.4.0")
            for task in tasks:
                if task.platform_version in (None, "LATEST"):
                    task.platform_version = "1.4.0"
                if launch_type is None:
                    task.capacity_provider_name = "FARGATE"
            hooks.engine.launch(tasks, definition, overrides)
            return tasks

        def stop_task(self_: Any, cluster_str: str, task_str: str, reason: str) -> Any:
            cluster = self_._get_cluster(cluster_str)  # noqa: SLF001
            runner = hooks.engine.runner_for(cluster.name, task_str)
            if runner is None:
                return originals["stop_task"](self_, cluster_str, task_str, reason)
            runner.request_stop(reason or "Task stopped by user")
            return runner.state.task

        def create_service(self_: Any, *args: Any, **kwargs: Any) -> Any:
            implied = getattr(_request, "launch_type", None)
            if implied and len(args) > 8 and args[8] is None:  # positional launch_type (moto's responses)
                args = (*args[:8], implied, *args[9:])
            elif implied and len(args) <= 8 and kwargs.get("launch_type") is None:
                kwargs["launch_type"] = implied
            service = originals["create_service"](self_, *args, **kwargs)
            if service.launch_type == "FARGATE" and service.task_definition:
                hooks.engine.track_service(service)
            return service

        def update_service(self_: Any, properties: dict) -> Any:
            service = originals["update_service"](self_, properties)
            hooks.engine.service_changed(service)
            return service

        def delete_service(self_: Any, cluster_name: str, service_name: str, force: bool) -> Any:
            service = originals["delete_service"](self_, cluster_name, service_name, force)
            hooks.engine.service_changed(service)
            return service

        def list_tasks(self_: Any, cluster_str: str | None = None, container_instance: str | None = None,
                       family: str | None = None, started_by: str | None = None, service_name: str | None = None,
                       desiredStatus: str | None = None) -> list:  # noqa: N803 - moto's name
            # As ECS: without desiredStatus, only the tasks whose desired status is RUNNING.
            tasks = originals["list_tasks"](self_, cluster_str, container_instance, family, started_by, None,
                                            desiredStatus or "RUNNING")
            if service_name:
                name = service_name.rsplit("/", 1)[-1]
                tasks = [t for t in tasks if getattr(t, "group", None) == f"service:{name}"]
            return tasks

        def with_strategy_launch_type(original: Any) -> Any:
            """A FARGATE capacity provider strategy stands for launchType FARGATE (moto ignores it)."""

            def response(self_: Any) -> Any:
                _request.launch_type = None if self_._get_param("launchType") else _strategy_launch_type(  # noqa: SLF001
                    self_._get_param("capacityProviderStrategy"))  # noqa: SLF001
                try:
                    return original(self_)
                finally:
                    _request.launch_type = None

            return response

        run_task_response = with_strategy_launch_type(original_run_response)
        create_service_response = with_strategy_launch_type(original_service_response)

        def describe_tasks_response(self_: Any) -> Any:
            result = original_describe_response(self_)
            requested = self_._get_param("tasks", []) or []  # noqa: SLF001
            found = result.result.get("tasks", [])
            known = {t.task_arn for t in found} | {t.id for t in found}
            cluster = self_._get_param("cluster", "default")  # noqa: SLF001
            result.result["failures"] = [
                {"arn": ref if ref.startswith("arn:") else
                 f"arn:aws:ecs:{self_.region}:{self_.current_account}:task/{cluster.rsplit('/', 1)[-1]}/{ref}",
                 "reason": "MISSING"}
                for ref in requested if ref not in known and ref.rsplit("/", 1)[-1] not in known]
            return result

        stack = ExitStack()
        patches = {
            "run_task": run_task, "stop_task": stop_task, "create_service": create_service,
            "update_service": update_service, "delete_service": delete_service, "list_tasks": list_tasks,
            "_calculate_task_resource_requirements": _without_memory_requirement(
                backend._calculate_task_resource_requirements),  # noqa: SLF001
        }
        for name, replacement in patches.items():
            stack.enter_context(mock.patch.object(backend, name, replacement))
        stack.enter_context(mock.patch.object(responses, "run_task", run_task_response))
        stack.enter_context(mock.patch.object(responses, "create_service", create_service_response))
        stack.enter_context(mock.patch.object(responses, "describe_tasks", describe_tasks_response))
        self._stack = stack

    def uninstall(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
