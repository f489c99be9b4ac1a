"""LocalEcs: the moto server, the bridge to moto, the task runners, the services and the load balancer,
started and stopped together.

    with LocalEcs() as ecs:                       # needs a Docker engine
        os.environ.update(ecs.environment())      # boto3 in this process -> the moto server
        ecs.registry.publish("my-image:dev", "<account>.dkr.ecr.<region>.amazonaws.com/repo")
        ...  # register task definitions, RunTask, DescribeTasks: the tasks really run

Everything the local ECS starts in Docker is removed by :meth:`LocalEcs.close` (also on
an exception or Ctrl-C in the ``with`` block, and at interpreter exit); SIGTERM is turned
into KeyboardInterrupt while it runs in the main thread, so ``kill`` cleans up too; what a
killed process (SIGKILL) leaves is removed by the next run on this machine.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
import logging
import os
import signal
import threading
from typing import Any

from standin import moto_bridge
from standin.local_ecs import lifecycle as lc
from standin.local_ecs.docker_resources import DockerResources
from standin.local_ecs.host_address import HostAddress, resolve_host_address
from standin.local_ecs.load_balancer import LoadBalancing
from standin.local_ecs.metadata import MetadataServer
from standin.local_ecs.registry import LocalRegistry
from standin.local_ecs.runner import RunContext, RunSettings, TaskRunner
from standin.local_ecs.services import ServiceScheduler
from standin.moto_server import ACCOUNT_ID, MotoServer

log = logging.getLogger(__name__)

CLOSE_STOP_TIMEOUT_S = 5  # docker stop grace for tasks still running when the local ECS closes


class LocalEcsError(Exception):
    """The local ECS cannot start (no Docker engine, ...)."""


class LocalEcs:
    """One per process at a time: moto's state and the patched backend are process-wide."""

    _active: "LocalEcs | None" = None
    _active_lock = threading.Lock()

    def __init__(self, docker_client: Any = None, region: str = "us-east-1", settings: RunSettings | None = None,
                 reset_moto: bool = True, handle_sigterm: bool = True, moto_wrap: Any = None,
                 moto_unix_socket: str | None = None, *, moto_also: tuple[tuple[str, int], ...] = (),
                 public_bind: str | None = None, lookup_events: Any = None, ecr_registry: Any = None,
                 images: Any = None) -> None:
        self.region = region
        self.account_id = ACCOUNT_ID  # moto's default account
        self.settings = settings or RunSettings()
        self.reset_moto = reset_moto
        self.handle_sigterm = handle_sigterm
        self.moto_wrap = moto_wrap  # the grader's view of every request (grader.evidence.aws_requests)
        self.moto_unix_socket = moto_unix_socket  # the grader's sandboxed workers reach moto there
        # The sandbox (standin.sandbox): moto also on a fixed loopback port, the load balancers' listeners
        # on loopback, CloudTrail's history, a real registry as ECR, and the images pulled from it.
        self.moto_also = moto_also
        self.public_bind = public_bind
        self.lookup_events = lookup_events
        self.ecr_registry = ecr_registry
        self._images = images  # (docker client, ECR client factory) -> resolver; LocalRegistry by default
        self._docker = docker_client
        self._runners: dict[str, TaskRunner] = {}
        self._lock = threading.RLock()
        self._started = False
        self._closed = False
        self._previous_sigterm: Any = None
        self.resources: DockerResources | None = None
        self.network: Any = None
        self.address: HostAddress | None = None
        self.moto: MotoServer | None = None
        self.metadata: MetadataServer | None = None
        self.registry: LocalRegistry | None = None
        self.balancing: LoadBalancing | None = None
        self.scheduler: ServiceScheduler | None = None
        self._bridge: ExitStack | None = None
        self._context: RunContext | None = None

    # --- start / stop ------------------------------------------------------------------
    def start(self) -> "LocalEcs":
        if self._started:
            return self
        with LocalEcs._active_lock:
            if LocalEcs._active is not None:
                raise LocalEcsError("another local ECS is already running in this process (moto's state is "
                                    "process-wide): close it first")
            LocalEcs._active = self
        self._started = True
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        docker = self._docker_client()
        DockerResources.sweep_orphans(docker)
        self.resources = DockerResources(docker)
        atexit.register(self.close)
        self._install_sigterm()
        self.network = self.resources.create_network()
        self.address = resolve_host_address(self.network)
        if self.reset_moto:
            moto_bridge.reset_all()
        self.moto = MotoServer(self.address.bind, self.region, for_containers=self.address.for_containers,
                               wrap=self.moto_wrap, unix_socket=self.moto_unix_socket, also=self.moto_also).start()
        self.metadata = MetadataServer(self.address.bind, self.address.for_containers).start()
        if self._images is not None:
            self.registry = self._images(docker, lambda: self.client("ecr"))
        else:
            self.registry = LocalRegistry(docker, lambda: self.client("ecr"), self.account_id, self.region)
        public = self.public_bind or self.address.bind
        self.balancing = LoadBalancing(public, self.public_bind or self.address.for_host)
        self._context = RunContext(
            docker=docker, resources=self.resources, network_name=self.network.name, address=self.address,
            registry=self.registry, metadata=self.metadata, client=self.client,
            aws_endpoint=self.moto.container_url, settings=self.settings, cpu_count=os.cpu_count() or 1)
        self.scheduler = ServiceScheduler(self._start_service_tasks, self.runners, self.balancing, self.client)
        self._context.on_running.append(self.scheduler.on_running)
        self._context.on_stopping.append(self.scheduler.on_stopping)
        self.scheduler.start()
        self._bridge = ExitStack()
        self._bridge.enter_context(moto_bridge.bridged(launcher=self, lookup_events=self.lookup_events,
                                                       ecr_registry=self.ecr_registry))

    def _docker_client(self) -> Any:
        if self._docker is not None:
            return self._docker
        try:
            import docker

            self._docker = docker.from_env(timeout=120)
            self._docker.ping()
        except Exception as exc:  # noqa: BLE001
            raise LocalEcsError(f"no Docker engine answers: {exc}") from None
        return self._docker

    def close(self) -> None:
        """Stop every task, remove every container and network, stop the servers. Idempotent."""
        if self._closed or not self._started:
            return
        self._closed = True
        try:
            if self._bridge:
                self._bridge.close()
            if self.scheduler:
                self.scheduler.close()
            self.settings.stop_timeout_s = min(self.settings.stop_timeout_s, CLOSE_STOP_TIMEOUT_S)
            for runner in self.runners():
                runner.request_stop("Local ECS shutting down")
            for runner in self.runners():
                runner.join(CLOSE_STOP_TIMEOUT_S + 15)
        finally:
            if self.resources:
                self.resources.remove_all()
            for closer in (self.balancing, self.metadata, self.moto):
                if closer is not None:
                    try:
                        closer.close() if hasattr(closer, "close") else closer.stop()
                    except Exception:  # noqa: BLE001
                        log.exception("local ECS: closing %s", type(closer).__name__)
            if self.reset_moto:
                moto_bridge.reset_all()
            self._restore_sigterm()
            atexit.unregister(self.close)
            with LocalEcs._active_lock:
                if LocalEcs._active is self:
                    LocalEcs._active = None

    def __enter__(self) -> "LocalEcs":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _install_sigterm(self) -> None:
        if not self.handle_sigterm or threading.current_thread() is not threading.main_thread():
            return
        self._previous_sigterm = signal.getsignal(signal.SIGTERM)
        if self._previous_sigterm in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
        else:
            self._previous_sigterm = None

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    # --- AWS side ------------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        return self.moto.host_url

    @property
    def container_endpoint_url(self) -> str:
        return self.moto.container_url

    def environment(self) -> dict[str, str]:
        """Variables for boto3 in this process: the moto server's endpoint, fake credentials."""
        return self.moto.environment()

    def session(self):
        return self.moto.session()

    def client(self, service: str) -> Any:
        return self.moto.client(service)

    # --- tasks -----------------------------------------------------------------------------
    def launch(self, tasks: list, definition: Any, overrides: dict | None) -> list[TaskRunner]:
        """Called by standin.moto_bridge with moto's new FARGATE task objects: run them."""
        started = []
        for task in tasks:
            runner = TaskRunner(self._context, lc.TaskState(task, definition), overrides)
            with self._lock:
                self._runners[runner.arn] = runner
            started.append(runner.start())
        return started

    def runners(self) -> list[TaskRunner]:
        with self._lock:
            return list(self._runners.values())

    def runner(self, task_arn: str) -> TaskRunner:
        return self._runners[task_arn]

    def runner_for(self, cluster_name: str, task: str) -> TaskRunner | None:
        task_id = task.rsplit("/", 1)[-1]
        for runner in self.runners():
            if runner.state.task.cluster_name == cluster_name and runner.state.task_id == task_id:
                return runner
        return None

    def wait_stopped(self, task_arn: str, timeout: float) -> bool:
        return self.runner(task_arn).join(timeout)

    def running_containers(self) -> list[str]:
        """Ids of the Docker containers of tasks that are not STOPPED yet."""
        return [docker_id for r in self.runners() if not r.state.stopped for docker_id in r.docker_ids.values()]

    # --- services and load balancers ---------------------------------------------------------
    def track_service(self, service: Any) -> None:
        self.scheduler.track(service)

    def service_changed(self, service: Any, redeploy: bool = False) -> None:
        if redeploy:
            self.scheduler.redeploy(service)
        self.scheduler.track(service)

    def _start_service_tasks(self, service: Any, count: int) -> list[TaskRunner]:
        from moto.ecs.models import ecs_backends

        backend = ecs_backends[self.account_id][self.region]
        before = set(self._runners)
        network = (service.network_configuration or None) if hasattr(service, "network_configuration") else None
        deployments = getattr(service, "deployments", None) or [{}]
        backend.run_task(service.cluster_name, service.task_definition, count, None,
                         deployments[0].get("id", "ecs-svc"), None, "FARGATE", network, f"service:{service.name}",
                         service.platform_version)
        return [r for arn, r in list(self._runners.items()) if arn not in before]

    def load_balancer_url(self, load_balancer: str, port: int = 80) -> str:
        """URL of the local stand-in for a load balancer's listener (by DNS name, name or ARN).

        The listener forwards to its default action's target group, round robin over the
        healthy targets registered by the services.
        """
        elbv2 = self.client("elbv2")
        balancers = elbv2.describe_load_balancers()["LoadBalancers"]
        match = [b for b in balancers if load_balancer in (b["DNSName"], b["LoadBalancerName"], b["LoadBalancerArn"])]
        if not match:
            raise LocalEcsError(f"no load balancer {load_balancer}")
        listeners = elbv2.describe_listeners(LoadBalancerArn=match[0]["LoadBalancerArn"])["Listeners"]
        for listener in listeners:
            if listener["Port"] != port:
                continue
            for action in listener.get("DefaultActions", []):
                group = action.get("TargetGroupArn") or next(
                    (g["TargetGroupArn"] for g in (action.get("ForwardConfig") or {}).get("TargetGroups", [])), None)
                if action.get("Type") == "forward" and group:
                    return self.balancing.listener(listener["ListenerArn"], group)
        raise LocalEcsError(f"load balancer {load_balancer} has no HTTP listener on port {port} that forwards")

    # --- containers started by callers (tests) on the local ECS's network ----------------------
    def container_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        """kwargs for ``docker.containers.run/create``: our network, labels (so close() removes it)."""
        kwargs.setdefault("network", self.network.name)
        if self.address.extra_hosts:
            kwargs.setdefault("extra_hosts", dict(self.address.extra_hosts))
        return self.resources.run_kwargs(**kwargs)


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
