"""Runs one ECS task in Docker, from PROVISIONING to STOPPED, on a thread of its own.

The steps follow a Fargate task: the ENI (moto's, with the subnet's availability zone);
the image pull (:mod:`registry`, a missing image stops the task with
``CannotPullContainerError`` and no exit code); the log driver (:mod:`awslogs`, a missing
log group is a ``ResourceInitializationError``); the task role's credentials; then the
containers are created on the local ECS's network (awsvpc: the task's containers share
one network namespace, so they reach each other on localhost), with the command and
environment overrides and the task's CPU and memory, and started. The task is RUNNING
until an essential container exits ("Essential container in task exited"), StopTask is
called, or its time limit passes; then the other containers get ``docker stop`` (SIGTERM,
then SIGKILL after ``stopTimeout``), the real exit codes are recorded, the output is
flushed to CloudWatch Logs and the containers are removed before the task is STOPPED.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from standin.local_ecs import lifecycle as lc
from standin.local_ecs.awslogs import AwsLogsOptions, LogConfigurationError, LogShipper, prepare_stream
from standin.local_ecs.credentials import task_role_environment
from standin.local_ecs.docker_resources import DockerResources
from standin.local_ecs.host_address import HostAddress
from standin.local_ecs.metadata import MetadataServer
from standin.local_ecs.registry import LocalRegistry, PullError

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.25
DEFAULT_STOP_TIMEOUT_S = 30  # ECS's default stopTimeout
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
_HEALTH = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY", "starting": "UNKNOWN"}


@dataclass
class RunSettings:
    task_time_limit_s: float = 900.0  # a task still running after this is stopped
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S  # when the container definition has no stopTimeout
    health_check_interval_cap_s: float | None = None  # run container health checks more often locally
    keep_containers: bool = False  # keep stopped containers (debugging); removed at close anyway


@dataclass
class RunContext:
    """What every task runner shares (made by the engine)."""

    docker: Any
    resources: DockerResources
    network_name: str
    address: HostAddress
    registry: LocalRegistry
    metadata: MetadataServer
    client: Callable[[str], Any]  # boto3 client of the moto server, for the local ECS's own calls
    aws_endpoint: str  # the moto server's URL, as containers reach it
    settings: RunSettings
    cpu_count: int
    on_running: list[Callable[["TaskRunner"], None]] = field(default_factory=list)
    on_stopping: list[Callable[["TaskRunner"], None]] = field(default_factory=list)
    on_stopped: list[Callable[["TaskRunner"], None]] = field(default_factory=list)


@dataclass
class _Eni:
    subnet_id: str | None = None
    private_ip: str | None = None
    mac: str | None = None
    dns_name: str | None = None
    cidr: str | None = None
    availability_zone: str | None = None


class TaskRunner:
    def __init__(self, context: RunContext, state: lc.TaskState, overrides: dict | None,
                 time_limit_s: float | None = None) -> None:
        self.ctx = context
        self.state = state
        self.overrides = {o.get("name"): o for o in (overrides or {}).get("containerOverrides") or []}
        self.time_limit_s = time_limit_s or context.settings.task_time_limit_s
        self.docker_ids: dict[str, str] = {}
        self.docker_names: dict[str, str] = {}
        self.image_ids: dict[str, str] = {}
        self.shippers: dict[str, LogShipper] = {}
        self.log_options: dict[str, tuple[AwsLogsOptions, str]] = {}
        self.endpoints: dict[tuple[str, int], tuple[str, int]] = {}  # (container, port) -> host address
        self.started_at: dict[str, str] = {}
        self._metadata_uris: list[str] = []
        self._stop = threading.Event()
        self.eni = self._eni()
        state.task.availability_zone = self.eni.availability_zone
        self.thread = threading.Thread(target=self._run, name=f"ecs-task-{state.task_id[:8]}", daemon=True)

    # --- control ---------------------------------------------------------------------
    @property
    def arn(self) -> str:
        return self.state.arn

    def start(self) -> "TaskRunner":
        self.thread.start()
        return self

    def request_stop(self, reason: str, code: str = lc.USER_INITIATED) -> None:
        self.state.stop_reason(reason, code)
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    # --- the lifecycle -----------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._lifecycle()
        except Exception as exc:  # noqa: BLE001 - the task stops with the reason, the runner never dies silently
            log.exception("local ECS: task %s failed", self.arn)
            self.state.stop_reason(f"InternalError: local ECS: {type(exc).__name__}: {exc}", lc.TASK_FAILED_TO_START)
        finally:
            self._finish()

    def _lifecycle(self) -> None:
        state = self.state
        deadline = time.monotonic() + self.time_limit_s
        state.set_status(lc.PENDING)
        for container in state.containers:  # the pull
            try:
                image = self.ctx.registry.resolve(container.image)
            except PullError as exc:
                container.reason = str(exc)
                container.last_status = lc.STOPPED
                state.pulled()
                state.stop_reason(str(exc), lc.TASK_FAILED_TO_START)
                return
            container.image_digest = image.digest
            self.image_ids[container.name] = image.image_id
        state.pulled()
        if self._stop.is_set():
            return
        try:
            self._prepare_logs()
        except LogConfigurationError as exc:
            state.stop_reason(str(exc), lc.TASK_FAILED_TO_START)
            return
        try:
            role = getattr(self.state.definition, "task_role_arn", None)
            credentials = task_role_environment(self.ctx.client("sts"), role, state.task_id)
        except Exception as exc:  # noqa: BLE001
            state.stop_reason(f"ResourceInitializationError: unable to assume the task role: {exc}",
                              lc.TASK_FAILED_TO_START)
            return
        state.set_status(lc.ACTIVATING)
        from docker.errors import APIError

        for step, container in [*(("create", c) for c in state.containers), *(("start", c) for c in state.containers)]:
            try:
                if step == "create":
                    self._create(container, state.containers.index(container), credentials)
                else:
                    self._start(container)
            except APIError as exc:  # e.g. the command's executable does not exist in the image
                reason = f"CannotStartContainerError: {exc.explanation or exc}"
                container.reason = reason
                container.last_status = lc.STOPPED
                state.stop_reason(reason, lc.TASK_FAILED_TO_START)
                return
        self._read_endpoints()
        state.set_status(lc.RUNNING)
        for callback in self.ctx.on_running:
            callback(self)
        self._watch(deadline)

    def _watch(self, deadline: float) -> None:
        while not self._stop.is_set():
            if time.monotonic() > deadline:
                self.state.stop_reason(
                    f"Task stopped by the local ECS: still running after its time limit of {self.time_limit_s:g} s",
                    lc.USER_INITIATED)
                return
            for container in self.state.containers:
                if container.last_status != lc.RUNNING:
                    continue
                info = self._inspect(container)
                if info is None:
                    continue
                health = (info.get("Health") or {}).get("Status")
                if health in _HEALTH and container.health_status is not None:
                    container.health_status = _HEALTH[health]
                if info.get("Status") in ("exited", "dead"):
                    self._record_exit(container, info)
                    if container.essential:
                        self.state.stop_reason(lc.ESSENTIAL_EXITED_REASON, lc.ESSENTIAL_CONTAINER_EXITED)
                        return
            self.state.set_health()
            self._stop.wait(POLL_INTERVAL_S)

    def _finish(self) -> None:
        """Whatever happened before, the task ends STOPPED and its containers are removed."""
        state = self.state
        if state.status == lc.RUNNING:
            state.set_status(lc.DEACTIVATING)
        self._notify(self.ctx.on_stopping)
        if self.docker_ids:
            state.set_status(lc.STOPPING)
            for container in state.containers:
                self._safely(self._stop_container, container)
        state.set_status(lc.DEPROVISIONING)
        for shipper in self.shippers.values():
            self._safely(shipper.close)
        for uri in self._metadata_uris:
            self._safely(self.ctx.metadata.unregister, uri)
        if not self.ctx.settings.keep_containers:
            for docker_id in self.docker_ids.values():
                self._safely(self.ctx.resources.remove_container, docker_id)
        for container in state.containers:
            container.last_status = lc.STOPPED
        if not state.task.stopped_reason:
            state.stop_reason("Task stopped", lc.USER_INITIATED)
        state.set_status(lc.STOPPED)
        self._notify(self.ctx.on_stopped)

    def _safely(self, step: Callable[..., Any], *args: Any) -> None:
        try:
            step(*args)
        except Exception:  # noqa: BLE001 - clean-up goes on; close() removes what is left
            log.exception("local ECS: clean-up of task %s", self.arn)

    def _notify(self, callbacks: list[Callable[["TaskRunner"], None]]) -> None:
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # noqa: BLE001
                log.exception("local ECS: callback for task %s failed", self.arn)

    # --- steps ---------------------------------------------------------------------
    def _prepare_logs(self) -> None:
        logs = None
        for container in self.state.containers:
            options = AwsLogsOptions.of(container.definition)
            if options is None:
                continue
            logs = logs or self.ctx.client("logs")
            stream = options.stream(container.name, self.state.task_id, self.state.task_id)
            prepare_stream(logs, options, stream)
            self.log_options[container.name] = (options, stream)

    def _environment(self, container: lc.LocalContainer, credentials: dict[str, str]) -> dict[str, str]:
        region = self.state.task.region_name
        env = {
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_ENDPOINT_URL": self.ctx.aws_endpoint,
            "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
            **credentials,
        }
        for item in container.definition.get("environment") or []:
            env[item["name"]] = str(item.get("value", ""))
        for item in self.overrides.get(container.name, {}).get("environment") or []:
            env[item["name"]] = str(item.get("value", ""))
        uri = self.ctx.metadata.register(self, container.name)
        self._metadata_uris.append(uri)
        env["ECS_CONTAINER_METADATA_URI_V4"] = uri
        return env

    def _create(self, container: lc.LocalContainer, index: int, credentials: dict[str, str]) -> None:
        definition = container.definition
        override = self.overrides.get(container.name, {})
        command = override.get("command") if override.get("command") is not None else definition.get("command")
        name = self.ctx.resources.name(f"{self.state.task_id[:12]}-{container.name}")
        kwargs: dict[str, Any] = dict(
            image=self.image_ids[container.name],
            command=command,
            entrypoint=definition.get("entryPoint"),
            environment=self._environment(container, credentials),
            working_dir=definition.get("workingDirectory"),
            user=definition.get("user"),
            name=name,
            detach=True,
            labels=self._labels(container),
            init=bool((definition.get("linuxParameters") or {}).get("initProcessEnabled")),
            **self._limits(),
        )
        health = self._healthcheck(definition.get("healthCheck"))
        if health:
            kwargs["healthcheck"] = health
        if index == 0:  # owns the task's network namespace (awsvpc)
            kwargs["network"] = self.ctx.network_name
            kwargs["hostname"] = (self.eni.dns_name or "").split(".")[0] or None
            kwargs["extra_hosts"] = dict(self.ctx.address.extra_hosts) or None
            ports = {f"{m['containerPort']}/{m.get('protocol', 'tcp')}": ("127.0.0.1", None)
                     for c in self.state.containers for m in c.definition.get("portMappings") or []
                     if m.get("containerPort")}
            kwargs["ports"] = ports or None
        else:
            kwargs["network_mode"] = f"container:{self.docker_ids[self.state.containers[0].name]}"
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        created = self.ctx.docker.containers.create(**self.ctx.resources.run_kwargs(**kwargs))
        self.ctx.resources.track(created)
        self.docker_ids[container.name] = created.id
        self.docker_names[container.name] = name
        container.runtime_id = created.id

    def _start(self, container: lc.LocalContainer) -> None:
        docker_container = self.ctx.docker.containers.get(self.docker_ids[container.name])
        docker_container.start()
        if container.name in self.log_options:
            options, stream = self.log_options[container.name]
            # `docker logs --follow` starts from the container's first line: nothing printed at once is missed.
            self.shippers[container.name] = LogShipper(docker_container, self.ctx.client("logs"),
                                                       options.group, stream).start()
        container.last_status = lc.RUNNING
        self.started_at[container.name] = lc.utcnow().isoformat()

    def _read_endpoints(self) -> None:
        first = self.state.containers[0]
        attrs = self.ctx.docker.api.inspect_container(self.docker_ids[first.name])
        ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for container in self.state.containers:
            for mapping in container.definition.get("portMappings") or []:
                key = f"{mapping['containerPort']}/{mapping.get('protocol', 'tcp')}"
                for host in ports.get(key) or []:
                    self.endpoints[(container.name, mapping["containerPort"])] = ("127.0.0.1", int(host["HostPort"]))
                    break
            if self.eni.private_ip:  # awsvpc: no network bindings, the ENI carries the address
                container.network_interfaces = [{"attachmentId": self._attachment_id(),
                                                  "privateIpv4Address": self.eni.private_ip}]

    def _inspect(self, container: lc.LocalContainer) -> dict | None:
        from docker.errors import NotFound

        try:
            return self.ctx.docker.api.inspect_container(self.docker_ids[container.name])["State"]
        except NotFound:
            container.last_status = lc.STOPPED
            container.reason = container.reason or "container removed outside the local ECS"
            if container.essential:
                self.state.stop_reason(lc.ESSENTIAL_EXITED_REASON, lc.ESSENTIAL_CONTAINER_EXITED)
                self._stop.set()
            return None

    def _record_exit(self, container: lc.LocalContainer, info: dict) -> None:
        container.exit_code = int(info.get("ExitCode", 0))
        if info.get("OOMKilled"):
            container.reason = OOM_REASON
        container.last_status = lc.STOPPED

    def _stop_container(self, container: lc.LocalContainer) -> None:
        from docker.errors import APIError, NotFound

        docker_id = self.docker_ids.get(container.name)
        if docker_id is None or container.last_status == lc.STOPPED:
            return
        timeout = container.definition.get("stopTimeout") or self.ctx.settings.stop_timeout_s
        try:
            self.ctx.docker.api.stop(docker_id, timeout=int(round(timeout)))
            info = self.ctx.docker.api.inspect_container(docker_id)["State"]
            self._record_exit(container, info)
        except (NotFound, APIError) as exc:
            container.reason = container.reason or f"cannot stop the container: {exc}"
            container.last_status = lc.STOPPED

    # --- helpers ---------------------------------------------------------------------
    def _labels(self, container: lc.LocalContainer) -> dict[str, str]:
        definition = self.state.definition
        return {
            "com.amazonaws.ecs.cluster": self.state.task.cluster_arn,
            "com.amazonaws.ecs.container-name": container.name,
            "com.amazonaws.ecs.task-arn": self.arn,
            "com.amazonaws.ecs.task-definition-family": definition.family,
            "com.amazonaws.ecs.task-definition-version": str(definition.revision),
        }

    def _limits(self) -> dict[str, Any]:
        limits: dict[str, Any] = {}
        cpu = _number(self.state.definition.cpu)
        if cpu:
            limits["nano_cpus"] = int(min(cpu / 1024, self.ctx.cpu_count) * 1e9)
        memory = _number(self.state.definition.memory)
        if memory:
            limits["mem_limit"] = f"{int(memory)}m"
        return limits

    def _healthcheck(self, check: dict | None) -> dict | None:
        if not check or not check.get("command"):
            return None
        interval = float(check.get("interval", 30))
        cap = self.ctx.settings.health_check_interval_cap_s
        if cap:
            interval = min(interval, cap)
        return {
            "test": list(check["command"]),
            "interval": int(interval * 1e9),
            "timeout": int(float(check.get("timeout", 5)) * 1e9),
            "retries": int(check.get("retries", 3)),
            "start_period": int(float(check.get("startPeriod", 0)) * 1e9),
        }

    def _attachment_id(self) -> str | None:
        for attachment in getattr(self.state.task, "attachments", []) or []:
            return attachment.get("id")
        return None

    def _eni(self) -> _Eni:
        eni = _Eni()
        for attachment in getattr(self.state.task, "attachments", []) or []:
            details = {d["name"]: d["value"] for d in attachment.get("details", [])}
            eni = _Eni(subnet_id=details.get("subnetId"), private_ip=details.get("privateIPv4Address"),
                       mac=details.get("macAddress"), dns_name=details.get("privateDnsName"))
        if eni.subnet_id:
            try:
                from moto.ec2.models import ec2_backends

                task = self.state.task
                subnet = ec2_backends[task._account_id][task.region_name].get_subnet(eni.subnet_id)  # noqa: SLF001
                eni.availability_zone = subnet.availability_zone
                eni.cidr = subnet.cidr_block
            except Exception:  # noqa: BLE001 - the zone is information, not a requirement
                log.debug("no subnet %s in moto", eni.subnet_id)
        return eni

    # --- task metadata endpoint v4 (MetadataSource) ---------------------------------------
    def container_document(self, container_name: str) -> dict:
        container = self.state.container(container_name)
        options = self.log_options.get(container_name)
        network = {"NetworkMode": "awsvpc", "AttachmentIndex": 0}
        if self.eni.private_ip:
            network.update({"IPv4Addresses": [self.eni.private_ip], "MACAddress": self.eni.mac,
                            "PrivateDNSName": self.eni.dns_name})
        if self.eni.cidr:
            subnet = ipaddress.ip_network(self.eni.cidr, strict=False)
            network.update({"IPv4SubnetCIDRBlock": self.eni.cidr,
                            "SubnetGatewayIpv4Address": f"{next(subnet.hosts())}/{subnet.prefixlen}"})
        document = {
            "DockerId": self.docker_ids.get(container_name),
            "Name": container_name,
            "DockerName": self.docker_names.get(container_name),
            "Image": container.image,
            "ImageID": self.image_ids.get(container_name),
            "Labels": self._labels(container),
            "DesiredStatus": self.state.task.desired_status,
            "KnownStatus": container.last_status,
            "Limits": {"CPU": int(container.definition.get("cpu", 0) or 0)},
            "StartedAt": self.started_at.get(container_name),
            "Type": "NORMAL",
            "ContainerARN": container.container_arn,
            "Networks": [network],
            "Snapshotter": "overlayfs",
        }
        if container.exit_code is not None:
            document["ExitCode"] = container.exit_code
        if options:
            opts, stream = options
            document["LogDriver"] = "awslogs"
            document["LogOptions"] = {"awslogs-group": opts.group, "awslogs-region": opts.region or "",
                                      "awslogs-stream": stream}
        return {k: v for k, v in document.items() if v is not None}

    def task_document(self) -> dict:
        task, definition = self.state.task, self.state.definition
        limits = {}
        if _number(definition.cpu):
            limits["CPU"] = _number(definition.cpu) / 1024
        if _number(definition.memory):
            limits["Memory"] = int(_number(definition.memory))
        document = {
            "Cluster": task.cluster_arn,
            "TaskARN": self.arn,
            "Family": definition.family,
            "Revision": str(definition.revision),
            "DesiredStatus": task.desired_status,
            "KnownStatus": task.last_status,
            "Limits": limits,
            "PullStartedAt": _iso(getattr(task, "pull_started_at", None)),
            "PullStoppedAt": _iso(getattr(task, "pull_stopped_at", None)),
            "AvailabilityZone": self.eni.availability_zone,
            "LaunchType": task.launch_type or "FARGATE",
            "Containers": [self.container_document(c.name) for c in self.state.containers],
            "ClockDrift": {"ClockErrorBound": 0.5, "ReferenceTimestamp": lc.utcnow().isoformat(),
                           "ClockSynchronizationStatus": "SYNCHRONIZED"},
        }
        return {k: v for k, v in document.items() if v is not None}

    def container_stats(self, container_name: str) -> dict:
        docker_id = self.docker_ids.get(container_name)
        if not docker_id:
            return {}
        return self.ctx.docker.api.stats(docker_id, stream=False)

    def task_stats(self) -> dict:
        return {docker_id: self.ctx.docker.api.stats(docker_id, stream=False)
                for docker_id in self.docker_ids.values()}


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
