"""An AWS account on moto for the offline tier: sessions, recorded calls, moto workarounds.

The student's code gets a boto3 session from here. Every API call it makes is recorded with
the parameters it sent (checks judge those, not the source text), and a few moto gaps are
bridged so that what AWS accepts, moto accepts too.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from unittest import mock

import boto3
import botocore.loaders
import botocore.session
from botocore.awsrequest import AWSResponse

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's default account

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECS",
          "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS")


@dataclass
class ApiCall:
    service: str
    operation: str
    params: dict[str, Any]


@dataclass
class ApiRecorder:
    """Records every call made through a session, with the parameters as sent."""

    calls: list[ApiCall] = field(default_factory=list)

    def record(self, params: dict, model) -> None:
        self.calls.append(ApiCall(model.service_model.service_name, model.name, copy.deepcopy(params)))

    def of(self, operation: str) -> list[ApiCall]:
        return [c for c in self.calls if c.operation == operation]

    def last(self, operation: str) -> ApiCall | None:
        found = self.of(operation)
        return found[-1] if found else None


@dataclass
class MotoAccount:
    """A clean moto account for one check, and what the check does to the student's calls.

    The student's session and its hooks outlive the account (see `_StudentSession`): the
    hooks dispatch to the current account's recorder, stubs, callbacks and adjustments.
    """

    session: boto3.Session
    recorder: ApiRecorder = field(default_factory=ApiRecorder)
    _stubs: dict[str, Callable[[dict], dict | None]] = field(default_factory=dict)
    _after: dict[str, list[Callable[[dict, dict], None]]] = field(default_factory=dict)
    _params: dict[str, Callable[[dict], dict | None]] = field(default_factory=dict)

    def client(self, service: str):
        """A client for the checks' own set-up: not recorded, not stubbed."""
        return harness_client(service)

    def stub(self, operation: str, respond: Callable[[dict], dict | None]) -> None:
        """Answer the student's `operation` calls (e.g. "DescribeTasks") without moto.

        `respond(params)` returns the parsed response, or None to let the call reach moto.
        """
        self._stubs[operation] = respond

    def on_call(self, operation: str, callback: Callable[[dict, dict], None]) -> None:
        """Run `callback(params, parsed_response)` after each of the student's `operation` calls."""
        self._after.setdefault(operation, []).append(callback)

    def adjust_params(self, operation: str, adjust: Callable[[dict], dict | None]) -> None:
        """Change what the student's `operation` calls send (after they are recorded)."""
        self._params[operation] = adjust

    def _adjust_params(self, params: dict, model, **_: Any) -> dict | None:
        self.recorder.record(params, model)
        adjust = self._params.get(model.name)
        return adjust(params) if adjust else None

    def _before_call(self, model, **_: Any):
        respond = self._stubs.get(model.name)
        if respond is None:
            return None
        parsed = respond(self.recorder.last(model.name).params)
        if parsed is None:
            return None
        return AWSResponse("https://stub.invalid", 200, {}, None), parsed

    def _after_call(self, model, parsed: dict, **_: Any) -> None:
        for callback in self._after.get(model.name, []):
            callback(self.recorder.last(model.name).params, parsed)


def _run_task_params_for_moto(params: dict) -> dict | None:
    """moto's RunTask ignores capacityProviderStrategy and then looks for EC2 instances.

    AWS accepts FARGATE through a capacity provider strategy as well as through launchType;
    the recorder has already kept what the student sent, so moto gets the equivalent call.
    """
    strategy = params.get("capacityProviderStrategy") or []
    if "launchType" not in params and any(s.get("capacityProvider") == "FARGATE" for s in strategy):
        adjusted = dict(params)
        adjusted.pop("capacityProviderStrategy")
        adjusted["launchType"] = "FARGATE"
        return adjusted
    return None


def _fargate_resource_requirements(original: Callable) -> Callable:
    """moto's RunTask crashes when a container has no memory of its own (Fargate needs none)."""

    def calculate(task_definition):
        containers = task_definition.container_definitions
        patched = [
            c if any(k in c for k in ("memory", "Memory", "memoryReservation", "MemoryReservation"))
            else {**c, "memory": 0}
            for c in containers
        ]
        task_definition.container_definitions = patched
        try:
            return original(task_definition)
        finally:
            task_definition.container_definitions = containers

    return calculate


_LOADER = botocore.loaders.create_loader()  # service models parsed once for every session


def new_session() -> boto3.Session:
    """A fresh boto3 session (its own event hooks) sharing the parsed service models."""
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, region_name=REGION)


@cache
def harness_client(service: str):
    """The checks' own clients (set-up and inspection), shared by every check of a run."""
    return harness_session().client(service, region_name=REGION)


@cache
def harness_session() -> boto3.Session:
    """The checks' own session: not recorded, not stubbed."""
    return new_session()


class _StudentSession:
    """The one session given to the student's code during a tier run.

    Creating clients from a warm session is three times cheaper than from a new one, and the
    student's code may create its clients before a check decides how to stub a call; so the
    hooks are installed once and dispatch to the current check's account.
    """

    def __init__(self) -> None:
        self.session = new_session()
        self.current: MotoAccount | None = None
        self._clients: dict[tuple, Any] = {}
        self._create_client = self.session.client
        self.session.client = self._client  # type: ignore[method-assign]
        events = self.session.events
        events.register("provide-client-params", self._params, unique_id="grader-params")
        events.register("before-call", self._before, unique_id="grader-stubs")
        events.register("after-call", self._after, unique_id="grader-after")

    def _client(self, *args: Any, **kwargs: Any):
        """Clients are stateless here (the hooks dispatch): reuse them across checks."""
        try:
            key = (args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:  # a botocore Config or another unhashable argument: no reuse
            return self._create_client(*args, **kwargs)
        if key not in self._clients:
            self._clients[key] = self._create_client(*args, **kwargs)
        return self._clients[key]

    def _params(self, **kwargs: Any):
        return self.current._adjust_params(**kwargs) if self.current else None

    def _before(self, **kwargs: Any):
        return self.current._before_call(**kwargs) if self.current else None

    def _after(self, **kwargs: Any) -> None:
        if self.current:
            self.current._after_call(**kwargs)


_STUDENT: _StudentSession | None = None


# Services whose state the checks change; reset between checks. EC2 and IAM (slow to set up:
# default VPC, roles) are kept for the whole tier and only read by the checks.
MUTABLE_SERVICES = ("ecs", "ecr", "logs", "s3", "cloudformation", "elbv2")


@contextmanager
def moto_world() -> Iterator[None]:
    """moto for a whole tier: fake credentials, mocked endpoints, moto gaps bridged."""
    from moto import mock_aws
    from moto.ecs.models import EC2ContainerServiceBackend

    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, FAKE_CREDENTIALS))
        for name in _UNSET:
            if name in os.environ:
                stack.enter_context(mock.patch.dict(os.environ))
                os.environ.pop(name)
        stack.enter_context(mock_aws())
        stack.enter_context(
            mock.patch.object(
                EC2ContainerServiceBackend,
                "_calculate_task_resource_requirements",
                staticmethod(_fargate_resource_requirements(
                    EC2ContainerServiceBackend._calculate_task_resource_requirements)),
            )
        )
        yield


def reset_services(services: tuple[str, ...] = MUTABLE_SERVICES) -> None:
    from moto.backends import get_backend
    from moto.moto_api import state_manager

    for service in services:
        # BackendDict.reset() is a classmethod that resets every service: reset per account.
        for account_backend in get_backend(service).values():
            account_backend.reset()
    state_manager.unset_transition("ecs::task")


def new_account() -> MotoAccount:
    """A clean account inside moto_world(): mutable services reset, nothing recorded yet."""
    global _STUDENT
    reset_services()
    _STUDENT = _STUDENT or _StudentSession()
    account = MotoAccount(session=_STUDENT.session)
    account.adjust_params("RunTask", _run_task_params_for_moto)
    _STUDENT.current = account
    return account


def moto_task(task_arn: str):
    """The moto model of a task, to script its lifecycle (exit code, stopped reason)."""
    from moto.ecs.models import ecs_backends

    backend = ecs_backends[ACCOUNT_ID][REGION]
    for tasks in backend.tasks.values():
        if task_arn in tasks:
            return tasks[task_arn]
    raise KeyError(task_arn)
