"""The service scheduler: a FARGATE service keeps ``desiredCount`` tasks running, behind its
load balancer's target groups.

Every ``TICK_S`` it compares each active service's live tasks with its desired count:
it starts the missing ones (spread over the service's subnets, so over zones), stops the
extra ones (ServiceSchedulerInitiated), and replaces tasks that stopped, with a growing
delay after tasks that failed to start (an image that cannot be pulled does not make it
start tasks in a tight loop). It keeps the service's ``runningCount``, ``pendingCount`` and
its deployment up to date, so that the ``services_stable`` waiter works. A new deployment (a new
task definition, ``forceNewDeployment``) is rolled out as ECS does by default (minimum healthy
100 %): new tasks start first, and the old ones stop once as many new ones run. RUNNING tasks are
registered with the target groups of the service's ``loadBalancers`` (and deregistered when
they stop), in the local load balancer and in moto's ELBv2.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Callable

from standin.local_ecs import lifecycle as lc
from standin.local_ecs.load_balancer import HealthCheck, LoadBalancing
from standin.local_ecs.runner import TaskRunner

log = logging.getLogger(__name__)

TICK_S = 0.5
RESTART_DELAYS_S = (0, 5, 10, 20, 40, 60)
LIVE = (lc.PROVISIONING, lc.PENDING, lc.ACTIVATING, lc.RUNNING)
PENDING_STATES = (lc.PROVISIONING, lc.PENDING, lc.ACTIVATING)


class ServiceScheduler:
    def __init__(self, start_tasks: Callable[[Any, int], list[TaskRunner]], runners: Callable[[], list[TaskRunner]],
                 balancing: LoadBalancing, client: Callable[[str], Any]) -> None:
        self._start_tasks = start_tasks  # (service, count) -> runners
        self._runners = runners
        self.balancing = balancing
        self._client = client
        self._services: dict[str, Any] = {}  # service ARN -> moto Service
        self._failures: dict[str, int] = {}
        self._next_start: dict[str, float] = {}
        self._checks: dict[str, HealthCheck] = {}
        self._outdated: set[str] = set()  # task ARNs of an earlier deployment, stopped once replaced
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ecs-service-scheduler", daemon=True)

    def start(self) -> "ServiceScheduler":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def track(self, service: Any) -> None:
        with self._lock:
            self._services[service.arn] = service
        self.reconcile(service)

    def redeploy(self, service: Any) -> None:
        """The service's current tasks belong to the previous deployment from now on."""
        with self._lock:
            self._outdated.update(r.arn for r in self.tasks_of(service) if r.state.status in LIVE)

    def tasks_of(self, service: Any) -> list[TaskRunner]:
        group = f"service:{service.name}"
        return [r for r in self._runners()
                if r.state.task.group == group and r.state.task.cluster_arn == service.cluster_arn]

    # --- the loop ---------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(TICK_S):
            with self._lock:
                services = list(self._services.values())
            for service in services:
                try:
                    self.reconcile(service)
                except Exception:  # noqa: BLE001 - one service's trouble never stops the others
                    log.exception("local ECS: service %s", service.name)

    def reconcile(self, service: Any) -> None:
        with self._lock:
            tasks = self.tasks_of(service)
            everything_live = [r for r in tasks if r.state.status in LIVE and not r.state.task.stopped_reason]
            live = [r for r in everything_live if r.arn not in self._outdated]
            desired = service.desired_count if service.status == "ACTIVE" else 0
            old = [r for r in everything_live if r.arn in self._outdated]
            if old and (sum(1 for r in live if r.state.status == lc.RUNNING) >= desired or desired == 0):
                for runner in old:
                    runner.request_stop(f"Task stopped: replaced by deployment {self._deployment(service)}",
                                        lc.SERVICE_SCHEDULER_INITIATED)
                    self._outdated.discard(runner.arn)
            if len(live) > desired:
                for runner in sorted(live, key=lambda r: lc.ORDER.index(r.state.status))[: len(live) - desired]:
                    runner.request_stop(f"Scaling activity initiated by (deployment {self._deployment(service)})",
                                        lc.SERVICE_SCHEDULER_INITIATED)
            elif len(live) < desired and time.monotonic() >= self._next_start.get(service.arn, 0):
                failed = [r for r in tasks if r.state.task.stop_code == lc.TASK_FAILED_TO_START]
                self._failures[service.arn] = len(failed)
                delay = RESTART_DELAYS_S[min(len(failed), len(RESTART_DELAYS_S) - 1)]
                self._next_start[service.arn] = time.monotonic() + delay
                started = self._start_tasks(service, desired - len(live))
                if started:
                    ids = ", ".join(r.state.task_id for r in started)
                    self._event(service, f"(service {service.name}) has started {len(started)} tasks: (task {ids}).")
            self._update_counts(service, tasks, desired)
            if service.status != "ACTIVE" and not any(r.state.status in LIVE for r in tasks):
                self._services.pop(service.arn, None)

    def _update_counts(self, service: Any, tasks: list[TaskRunner], desired: int) -> None:
        running = sum(1 for r in tasks if r.state.status == lc.RUNNING)
        pending = sum(1 for r in tasks if r.state.status in PENDING_STATES)
        steady = running == desired and pending == 0
        was_steady = service.running_count == desired and service.pending_count == 0
        service.running_count, service.pending_count = running, pending
        for deployment in getattr(service, "deployments", []) or []:
            deployment.update(runningCount=running, pendingCount=pending, desiredCount=service.desired_count,
                              failedTasks=self._failures.get(service.arn, 0),
                              rolloutState="COMPLETED" if steady else "IN_PROGRESS")
        if steady and not was_steady and service.status == "ACTIVE":
            self._event(service, f"(service {service.name}) has reached a steady state.")

    @staticmethod
    def _deployment(service: Any) -> str:
        deployments = getattr(service, "deployments", []) or []
        return deployments[0]["id"] if deployments else "ecs-svc"

    @staticmethod
    def _event(service: Any, message: str) -> None:
        events = getattr(service, "events", None)
        if isinstance(events, list):
            events.insert(0, {"id": str(uuid.uuid4()), "createdAt": lc.utcnow(), "message": message})

    # --- load balancer targets ---------------------------------------------------------
    def service_of(self, runner: TaskRunner) -> Any | None:
        group = runner.state.task.group or ""
        if not group.startswith("service:"):
            return None
        with self._lock:
            for service in self._services.values():
                if service.name == group[len("service:"):] and service.cluster_arn == runner.state.task.cluster_arn:
                    return service
        return None

    def on_running(self, runner: TaskRunner) -> None:
        service = self.service_of(runner)
        for target in self._targets(service, runner):
            group_arn, host, port, container_port = target
            self.balancing.register(group_arn, self._check(group_arn), runner.arn, host, port)
            if runner.eni.private_ip:
                self._moto_targets("register_targets", group_arn, runner.eni.private_ip, container_port)

    def on_stopping(self, runner: TaskRunner) -> None:
        service = self.service_of(runner)
        for group_arn, _host, _port, container_port in self._targets(service, runner):
            self.balancing.deregister(group_arn, runner.arn)
            if runner.eni.private_ip:
                self._moto_targets("deregister_targets", group_arn, runner.eni.private_ip, container_port)

    @staticmethod
    def _targets(service: Any, runner: TaskRunner) -> list[tuple[str, str, int, int]]:
        if service is None:
            return []
        found = []
        for balancer in getattr(service, "load_balancers", []) or []:
            group_arn = balancer.get("targetGroupArn")
            key = (balancer.get("containerName"), int(balancer.get("containerPort") or 0))
            if group_arn and key in runner.endpoints:
                host, port = runner.endpoints[key]
                found.append((group_arn, host, port, key[1]))
        return found

    def _check(self, group_arn: str) -> HealthCheck:
        if group_arn not in self._checks:
            check = HealthCheck()
            try:
                group = self._client("elbv2").describe_target_groups(TargetGroupArns=[group_arn])["TargetGroups"][0]
                check = HealthCheck(path=group.get("HealthCheckPath") or "/",
                                    matcher=(group.get("Matcher") or {}).get("HttpCode") or "200",
                                    healthy_threshold=int(group.get("HealthyThresholdCount") or 2),
                                    unhealthy_threshold=int(group.get("UnhealthyThresholdCount") or 3))
            except Exception as exc:  # noqa: BLE001 - a target group moto does not know: default check
                log.warning("local ECS: target group %s: %s", group_arn, exc)
            self._checks[group_arn] = check
        return self._checks[group_arn]

    def _moto_targets(self, operation: str, group_arn: str, ip: str, port: int) -> None:
        try:
            getattr(self._client("elbv2"), operation)(TargetGroupArn=group_arn, Targets=[{"Id": ip, "Port": port}])
        except Exception as exc:  # noqa: BLE001 - moto's view of the targets is a convenience
            log.debug("local ECS: %s %s: %s", operation, group_arn, exc)
