"""Every patch of moto, in one place: where moto differs from AWS for this lab, and the hook that
lets the local ECS really run tasks.

Used by the offline tier (grader.tiers.offline), the local ECS (standin.local_ecs) and the
project's tests. The patches hold while :func:`bridged` is open (process-wide: moto's
backends are; one bridge at a time).

Where moto differs from AWS, and what the bridge does:
- ``RunTask`` crashes when a container has no ``memory`` of its own (Fargate needs none):
  the resource accounting counts 0 for it.
- ``RunTask``/``CreateService`` ignore ``capacityProviderStrategy`` (and the cluster's
  default strategy) and then look for EC2 instances: a FARGATE strategy stands for
  ``launchType=FARGATE``; the task says it ran on the FARGATE capacity provider.
- ``RunTask`` accepts what ECS refuses for Fargate: a container override naming no container
  of the task definition, a task definition not compatible with FARGATE or not ``awsvpc``, a
  count outside 1..10 (``InvalidParameterException``, as ECS).
- ``RunTask`` on EC2 in a cluster without container instances crashes (HTTP 500): ECS answers
  with no task and the failure "No Container Instances were found in your cluster."
- ``DescribeTasks`` leaves out unknown tasks: they are reported in ``failures`` (MISSING).
- ``ListTasks`` without ``desiredStatus`` lists stopped tasks too: only RUNNING ones, as ECS;
  ``serviceName`` is honoured.
- CloudTrail has no ``LookupEvents``: answered by a provider when one is given, otherwise
  the call fails as before (the aws tier then says "not graded").
- ECR stores manifests only, and its repository URIs and token name hosts that a real
  ``docker push`` cannot reach: with an :class:`EcrRegistry` (the sandbox's local registry),
  repository URIs and the token's ``proxyEndpoint`` name that registry, ECR's reads first
  take in what was pushed there, and images ECR deletes are deleted there too.
- CloudFormation change sets (``aws cloudformation deploy``) create the resources but leave the
  stack without its outputs: they are computed once the change set is executed.
- A role's inline policies written by CloudFormation (``Policies``) are kept as Python objects,
  so ``GetRolePolicy`` answers their ``repr``: they are kept as JSON, as IAM keeps them.
- Tasks advance one state per ``DescribeTasks``: :func:`task_progression` scripts it, and
  :func:`task_model` gives a task's model (exit code, stopped reason) to script its end.
- moto makes botocore sessions of its own, each parsing the service models again (EC2's is
  3 MB of JSON, parsed five times before the first answer): :func:`shared_models` parses
  each file once per process, into plain dicts without the operations' and shapes'
  documentation (18 MB less), and keeps it for the process's forks (a second saved at every
  start, half a CPU-second in every run of a batch), lets moto's EC2 load the instance types
  offered in one region only (35 MB less for every grading run), moto's CloudFormation
  parse templates with libyaml, and moto's server list its services once.

What the scorer's own set-up needs of moto, faster than through requests: :func:`kept_session`
(its clients made once per process, before a batch forks) and :class:`Backends` (the lab's
resources made in moto's backends).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Protocol
from unittest import mock


_request = threading.local()  # the launch type a request's capacityProviderStrategy implies
_lock = threading.Lock()
_active = False


class Launcher(Protocol):
    """What really runs FARGATE tasks and services (the local ECS)."""

    def launch(self, tasks: list, definition: Any, overrides: dict | None) -> Any: ...
    def runner_for(self, cluster_name: str, task: str) -> Any: ...
    def track_service(self, service: Any) -> None: ...
    def service_changed(self, service: Any, redeploy: bool = False) -> None: ...


class EcrRegistry(Protocol):
    """A real Docker registry standing in for ECR's storage (standin.sandbox.registry)."""

    host: str  # "localhost:4581": what repository URIs and the token's proxyEndpoint name

    def sync(self, backend: Any, repository: Any) -> None: ...  # pushed images -> moto's repository
    def delete(self, repository_name: str, digests: set[str]) -> None: ...  # ECR deleted them


class _NoContainerInstances(Exception):
    """RunTask on EC2 (or EXTERNAL) in a cluster without container instances."""

    def __init__(self, cluster_arn: str) -> None:
        super().__init__(cluster_arn)
        self.cluster_arn = cluster_arn


def strategy_launch_type(strategy: list[dict] | None) -> str | None:
    providers = {s.get("capacityProvider") for s in strategy or []}
    return "FARGATE" if providers & {"FARGATE", "FARGATE_SPOT"} else None


def _without_memory_requirement(original: Callable) -> Any:
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
    """A task's network configuration: subnets rotated (one zone after the other, as Fargate
    spreads tasks), and the VPC's default security group when none is given (as ECS)."""
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


@contextmanager
def bridged(launcher: Launcher | None = None,
            lookup_events: Callable[[str, str, dict], dict] | None = None,
            ecr_registry: EcrRegistry | None = None) -> Iterator[None]:
    """moto as AWS behaves for this lab, while the block runs (see the module's docstring).

    `launcher` receives the FARGATE tasks and services (the local ECS); `lookup_events(account,
    region, request)` answers CloudTrail's LookupEvents; `ecr_registry` stores ECR's images.
    """
    global _active
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.models import EC2ContainerServiceBackend as Backend
    from moto.ecs.responses import EC2ContainerServiceResponse as Responses

    with _lock:
        if _active:
            raise RuntimeError("moto is already bridged in this process")
        _active = True
    spread = [0]
    originals = {name: getattr(Backend, name) for name in
                 ("run_task", "stop_task", "create_service", "update_service", "delete_service", "list_tasks")}

    def run_task(self_: Any, cluster_str: str, task_definition_str: str, count: int, overrides: Any,
                 started_by: str, tags: Any, launch_type: str | None, networking_configuration: Any = None,
                 group: str | None = None, platform_version: str | None = None) -> list:
        cluster = self_._get_cluster(cluster_str)  # noqa: SLF001
        launch = launch_type or getattr(_request, "launch_type", None) or strategy_launch_type(
            getattr(cluster, "default_capacity_provider_strategy", None))
        if launch != "FARGATE":
            if not self_.container_instances.get(cluster.name):
                raise _NoContainerInstances(cluster.arn)
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
            spread[0] += 1
            network = _rotated(networking_configuration, spread[0], self_.account_id, self_.region_name)
            tasks += originals["run_task"](self_, cluster_str, task_definition_str, 1, overrides, started_by,
                                           tags, "FARGATE", network, group, platform_version or "1.4.0")
        for task in tasks:
            if task.platform_version in (None, "LATEST"):
                task.platform_version = "1.4.0"
            if launch_type is None:
                task.capacity_provider_name = "FARGATE"
        if launcher is not None:
            launcher.launch(tasks, definition, overrides)
        return tasks

    def stop_task(self_: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        runner = launcher.runner_for(self_._get_cluster(cluster_str).name, task_str) if launcher else None  # noqa: SLF001
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
        if launcher is not None and service.launch_type == "FARGATE" and service.task_definition:
            launcher.track_service(service)
        return service

    def update_service(self_: Any, properties: dict) -> Any:
        # A new task definition or forceNewDeployment: ECS replaces the service's tasks.
        redeploy = bool(properties.get("force_new_deployment") or properties.get("task_definition"))
        service = originals["update_service"](self_, properties)
        if launcher is not None:
            launcher.service_changed(service, redeploy=redeploy)
        return service

    def delete_service(self_: Any, cluster_name: str, service_name: str, force: bool) -> Any:
        service = originals["delete_service"](self_, cluster_name, service_name, force)
        if launcher is not None:
            launcher.service_changed(service)
        return service

    def list_tasks(self_: Any, cluster_str: str | None = None, container_instance: str | None = None,
                   family: str | None = None, started_by: str | None = None, service_name: str | None = None,
                   desiredStatus: str | None = None) -> list:  # noqa: N803 - moto's name
        tasks = originals["list_tasks"](self_, cluster_str, container_instance, family, started_by, None,
                                        desiredStatus or "RUNNING")
        if service_name:
            name = service_name.rsplit("/", 1)[-1]
            tasks = [t for t in tasks if getattr(t, "group", None) == f"service:{name}"]
        return tasks

    def with_strategy_launch_type(original: Any) -> Any:
        def response(self_: Any) -> Any:
            _request.launch_type = None if self_._get_param("launchType") else strategy_launch_type(  # noqa: SLF001
                self_._get_param("capacityProviderStrategy"))  # noqa: SLF001
            try:
                return original(self_)
            except _NoContainerInstances as none:  # ECS answers, with no task and the reason
                if original.__name__ != "run_task":
                    raise
                return json.dumps({"tasks": [], "failures": [
                    {"arn": none.cluster_arn, "reason": "No Container Instances were found in your cluster."}]})
            finally:
                _request.launch_type = None
        return response

    original_describe = Responses.describe_tasks

    def describe_tasks_response(self_: Any) -> Any:
        result = original_describe(self_)
        requested = self_._get_param("tasks", []) or []  # noqa: SLF001
        found = result.result.get("tasks", []) if hasattr(result, "result") else []
        known = {t.task_arn for t in found} | {t.id for t in found}
        cluster = self_._get_param("cluster", "default")  # noqa: SLF001
        if hasattr(result, "result"):
            result.result["failures"] = [
                {"arn": ref if ref.startswith("arn:") else
                 f"arn:aws:ecs:{self_.region}:{self_.current_account}:task/{cluster.rsplit('/', 1)[-1]}/{ref}",
                 "reason": "MISSING"}
                for ref in requested if ref not in known and ref.rsplit("/", 1)[-1] not in known]
        return result

    with ExitStack() as stack:
        stack.callback(_release)
        stack.enter_context(_without_default_amis())
        patches = {
            "run_task": run_task, "stop_task": stop_task, "create_service": create_service,
            "update_service": update_service, "delete_service": delete_service, "list_tasks": list_tasks,
            "_calculate_task_resource_requirements": _without_memory_requirement(
                Backend._calculate_task_resource_requirements),  # noqa: SLF001
        }
        for name, replacement in patches.items():
            stack.enter_context(mock.patch.object(Backend, name, replacement))
        stack.enter_context(mock.patch.object(Responses, "run_task", with_strategy_launch_type(Responses.run_task)))
        stack.enter_context(mock.patch.object(Responses, "create_service",
                                              with_strategy_launch_type(Responses.create_service)))
        stack.enter_context(mock.patch.object(Responses, "describe_tasks", describe_tasks_response))
        if lookup_events is not None:
            from moto.cloudtrail.responses import CloudTrailResponse

            def lookup(response: Any) -> str:
                body = json.loads(response.body or "{}")
                return json.dumps(lookup_events(response.current_account, response.region, body))

            stack.enter_context(mock.patch.object(CloudTrailResponse, "lookup_events", lookup, create=True))
        if ecr_registry is not None:
            stack.enter_context(_ecr_on_registry(ecr_registry))
        stack.enter_context(_outputs_after_change_sets())
        stack.enter_context(_role_policies_as_json())
        stack.enter_context(_actions_listed_once())  # last: after every patch of a response class
        yield


def _actions_listed_once() -> Any:
    """moto lists a response class's methods (inspect.getmembers) at every request to find the action:
    listed once per class while the bridge holds, its patches made (one adds CloudTrail's LookupEvents)."""
    import moto.core.responses

    return mock.patch.object(moto.core.responses, "method_names_from_class",
                             functools.cache(moto.core.responses.method_names_from_class))


@contextmanager
def _role_policies_as_json() -> Iterator[None]:
    from moto.iam.models import Role

    original = Role.put_policy

    def put_policy(self_: Any, policy_name: str, policy_json: Any) -> None:
        original(self_, policy_name, policy_json if isinstance(policy_json, str) else json.dumps(policy_json))

    with mock.patch.object(Role, "put_policy", put_policy):
        yield


@contextmanager
def _outputs_after_change_sets() -> Iterator[None]:
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self_: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original(self_, change_set_name, stack_name)
        change_set = self_.change_sets.get(change_set_name) or next(
            (c for c in self_.change_sets.values() if c.change_set_name == change_set_name), None)
        stack = self_.stacks.get(change_set.stack_id) if change_set is not None else None
        if stack is not None:
            stack._parse_template()  # noqa: SLF001 - the change set's template, now the stack's
            stack.output_map = stack._create_output_map()  # noqa: SLF001

    with mock.patch.object(CloudFormationBackend, "execute_change_set", execute_change_set):
        yield


@contextmanager
def _ecr_on_registry(registry: EcrRegistry) -> Iterator[None]:
    from moto.ecr.models import ECRBackend, Repository
    from moto.ecr.responses import ECRResponse

    original_init = Repository.__init__

    def repository_init(self_: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self_, *args, **kwargs)
        self_.uri = f"{registry.host}/{self_.name}"

    original_token = ECRResponse.get_authorization_token

    def authorization_token(self_: Any) -> Any:
        result = original_token(self_)
        for data in result.result["authorizationData"]:
            data["proxyEndpoint"] = f"https://{registry.host}"
        return result

    def synced(name: str) -> Any:
        original = getattr(ECRBackend, name)

        def read(self_: Any, repository_name: str, *args: Any, **kwargs: Any) -> Any:
            repository = self_.repositories.get(repository_name)
            if repository is not None:
                registry.sync(self_, repository)
            return original(self_, repository_name, *args, **kwargs)
        return read

    def digests(backend: Any, repository_name: str) -> set[str]:
        repository = backend.repositories.get(repository_name)
        return {image.get_image_digest() for image in repository.images} if repository else set()

    def forwarded(name: str) -> Any:
        original = getattr(ECRBackend, name)

        def delete(self_: Any, repository_name: str, *args: Any, **kwargs: Any) -> Any:
            before = digests(self_, repository_name)
            result = original(self_, repository_name, *args, **kwargs)
            gone = before - digests(self_, repository_name)
            if gone:
                registry.delete(repository_name, gone)
            return result
        return delete

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(Repository, "__init__", repository_init))
        stack.enter_context(mock.patch.object(ECRResponse, "get_authorization_token", authorization_token))
        for name in ("describe_images", "list_images", "batch_get_image"):
            stack.enter_context(mock.patch.object(ECRBackend, name, synced(name)))
        for name in ("batch_delete_image", "delete_repository"):
            stack.enter_context(mock.patch.object(ECRBackend, name, forwarded(name)))
        yield


@contextmanager
def shared_models(region: str | None = None) -> Iterator[None]:
    """botocore's JSON files (service models, endpoints) parsed once for every loader.

    Loaders already share what they load with every caller (botocore's instance cache), so
    the parsed data is never modified in place; sharing it between loaders is the same. What is
    parsed stays for the process's life, and for its forks: a batch parses it once, before its
    first fork (grader.runner.warm_up). With a `region`, moto's EC2 loads the instance types
    offered in that region only (_offerings_of).
    """
    import botocore.loaders

    parsed, listed = _parsed_files()

    def load_file(self: Any, file_path: str) -> Any:
        with _models_lock:
            if file_path not in parsed:
                parsed[file_path] = _lean_json(file_path)
            return parsed[file_path]

    # Every new loader (a boto3 session, moto's model lookups) lists botocore's data folders again:
    # 400 folders, 27,000 stat calls a grading run. The listing depends on the search paths only.
    original_list = botocore.loaders.Loader.list_available_services

    def list_available_services(self: Any, type_name: str) -> Any:
        key = (tuple(self.search_paths), type_name)
        with _models_lock:
            if key not in listed:
                listed[key] = original_list(self, type_name)
            return list(listed[key])

    with mock.patch.object(botocore.loaders.JSONFileLoader, "load_file", load_file), \
            mock.patch.object(botocore.loaders.Loader, "list_available_services", list_available_services), \
            _offerings_of(region), _without_default_amis(), _templates_parsed_in_c(), _modules_listed_once(), \
            _service_names_looked_up_once():
        yield


_models_lock = threading.RLock()  # a client made under it parses its models under it


def _lean_json(file_path: str) -> Any:
    """What botocore's JSONFileLoader.load_file gives, lighter: plain dicts (ordered, as OrderedDict's)
    and, in a service model, no "documentation" of its operations and shapes (read only for docstrings
    and help()). EC2's model takes 6 MB instead of 12.6 and parses in 20 ms instead of 31; the scorer
    kept 34 MB of models before."""
    import botocore.loaders

    for extension, open_method in botocore.loaders._JSON_OPEN_METHODS.items():  # noqa: SLF001
        path = file_path + extension
        if os.path.isfile(path):
            with open_method(path, "rb") as opened:
                data = json.loads(opened.read().decode("utf-8"))
            if isinstance(data, dict) and isinstance(data.get("shapes"), dict):
                _drop_documentation(data)
            return data
    return None


def _drop_documentation(model: dict) -> None:
    for operation in (model.get("operations") or {}).values():
        operation.pop("documentation", None)
    for shape in model["shapes"].values():
        shape.pop("documentation", None)
        for reference in (shape.get("members") or {}).values():
            reference.pop("documentation", None)
        for name in ("member", "key", "value"):
            if isinstance(shape.get(name), dict):
                shape[name].pop("documentation", None)


def _kept() -> dict:
    """What this module keeps for the process's life and its forks, on the interpreter's `sys` module
    (grader.project.kept_for_forks): a batch's child imports this module again (the grader's packages
    are fresh in every run), not sys."""
    return sys.__dict__.setdefault("_ecs_lab_kept", {})


def _parsed_files() -> tuple[dict[str, Any], dict[tuple, Any]]:
    """botocore's parsed files and folder listings (shared_models)."""
    kept = _kept()
    return kept.setdefault("files", {}), kept.setdefault("listings", {})


def list_models(session: Any) -> None:
    """List botocore's models of every kind now (shared_models keeps the listings): a client's first
    paginator or waiter lists 400 folders to check that its service exists, as moto's own botocore
    sessions do for their service models, each once a run otherwise."""
    import botocore.session

    for loader in (session._session.get_component("data_loader"),  # noqa: SLF001 - boto3's botocore session
                   botocore.session.Session().get_component("data_loader")):
        for kind in ("service-2", "paginators-1", "waiters-2", "endpoint-rule-set-1"):
            loader.list_available_services(kind)


def kept_session(access_key: str, secret_key: str, region: str) -> Any:
    """A boto3 session whose clients are made once per process and kept for its forks (a client asked
    again is the one already made): a batch makes the scorer's before it forks, and each run uses them.
    Made in the caller's environment: the scorer makes its own in its own (no profile, no endpoint of
    the user's), which its clients keep."""
    import boto3

    sessions = _kept().setdefault("sessions", {})
    key = (access_key, region)
    if key not in sessions:
        session = boto3.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region)
        create, made = session.client, {}

        def client(service_name: str, **kwargs: Any) -> Any:
            if kwargs:
                return create(service_name, **kwargs)
            with _models_lock:
                if service_name not in made:
                    made[service_name] = create(service_name)
                return made[service_name]

        session.client = client
        sessions[key] = session
    return sessions[key]


@contextmanager
def _templates_parsed_in_c() -> Iterator[None]:
    """moto parses a stack's template with PyYAML's pure-Python loader (a tenth of a second for the
    lab's two stacks); libyaml's, when PyYAML has it, builds the same document with the same
    constructor. A template it refuses goes to moto's own parse, for moto's own answer."""
    import yaml
    from moto.cloudformation.models import Stack
    from moto.cloudformation.utils import yaml_tag_constructor

    if not getattr(yaml, "__with_libyaml__", False):
        yield
        return
    original = Stack.parse_template

    class Loader(yaml.CLoader):  # noqa: D106 - yaml.Loader's constructor, libyaml's parser
        pass

    Loader.add_multi_constructor("", yaml_tag_constructor)

    def parse_template(template: str) -> dict[str, Any]:
        try:
            return yaml.load(template, Loader=Loader)  # noqa: S506 - the same loader as moto's own
        except yaml.YAMLError:
            return original(template)

    with mock.patch.object(Stack, "parse_template", staticmethod(parse_template)):
        yield


def _service_names_looked_up_once() -> Any:
    """moto's error answers look up a service's name in a new botocore session's list of services, at
    every error the student's code receives (a botocore Session made each time): looked up once."""
    import moto.core.utils

    return mock.patch.object(moto.core.utils, "service_name_from_moto_package_name",
                             functools.cache(moto.core.utils.service_name_from_moto_package_name))


def _modules_listed_once() -> Any:
    """moto's server finds a request's backend by listing moto's package folder, and testing each of
    its 150 entries for a folder, at every request (half a millisecond, 125 requests a run): the
    list is made once per process."""
    import moto.backends

    listed = _kept().setdefault("moto_modules", [])
    if not listed:
        listed += moto.backends.list_of_moto_modules()
    return mock.patch.object(moto.backends, "list_of_moto_modules", lambda: listed)


def _without_default_amis() -> Any:
    """The lab uses no AMI: moto's 2,342 default ones cost 0.15 s at EC2's first use, and as much again
    when mock_aws() stops (it resets every backend): entered outside mock_aws() (shared_models), the
    setting also covers that reset."""
    return mock.patch.dict("os.environ", {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"})


@contextmanager
def _offerings_of(region: str | None) -> Iterator[None]:
    """moto's EC2 loads the instance types offered in every region at import: 35 MB of objects for
    DescribeInstanceTypeOfferings, which the lab never calls. Only `region`'s are loaded (other
    regions offer none); None: all of them."""
    if region is None:
        yield
        return
    import moto.utilities.utils as utilities

    original = utilities.load_resource

    def load_resource(package: str, resource: str, *args: Any, **kwargs: Any) -> Any:
        if "instance_type_offerings/" in resource and f"/{region}." not in resource:
            return {}
        return original(package, resource, *args, **kwargs)

    with mock.patch.object(utilities, "load_resource", load_resource):
        yield


class Backends:
    """moto's backends of one account and region, for the scorer's own set-up of a check.

    A boto3 call through mock_aws builds, signs and parses a request and serialises its answer
    (about a millisecond); the backend's method changes the same state in microseconds, and the
    offline tier sets up the lab's resources before 32 checks a run. tests/test_moto_bridge.py
    checks that what these make is what the API calls make.
    """

    def __init__(self, account_id: str, region: str) -> None:
        from moto.backends import get_backend

        self.region = region
        self._backend = lambda service, where=region: get_backend(service)[account_id][where]

    def create_cluster(self, name: str, capacity_providers: list[str], strategy: list[dict]) -> None:
        self._backend("ecs").create_cluster(name, capacity_providers=capacity_providers,
                                            default_capacity_provider_strategy=strategy)

    def create_repository(self, name: str) -> str:
        """The repository's URI."""
        return self._backend("ecr").create_repository(
            repository_name=name, registry_id=None, encryption_config=None, image_scan_config=None,
            image_tag_mutability=None, tags=[]).uri

    def create_log_group(self, name: str, exist_ok: bool = False) -> None:
        from moto.logs.exceptions import ResourceAlreadyExistsException

        try:
            self._backend("logs").create_log_group(name, None)
        except ResourceAlreadyExistsException:
            if not exist_ok:
                raise

    def create_bucket(self, name: str) -> None:
        self._backend("s3", "global").create_bucket(name, self.region)

    def register_task_definition(self, definition: dict) -> str:
        """RegisterTaskDefinition's parameters (`definition`, as the API takes them): its ARN."""
        from moto.core.utils import camelcase_to_underscores

        parameters = {camelcase_to_underscores(key): value for key, value in definition.items() if key != "family"}
        return self._backend("ecs").register_task_definition(definition["family"], **parameters).arn

    def run_fargate_task(self, cluster: str, task_definition: str, network: dict) -> str:
        """RunTask on FARGATE with this networkConfiguration (as the API takes it), as bridged: its ARN."""
        tasks = self._backend("ecs").run_task(cluster, task_definition, 1, None, None, None, "FARGATE", network)
        return tasks[0].task_arn

    def create_log_stream(self, group: str, stream: str) -> None:
        self._backend("logs").create_log_stream(group, stream)

    def put_log_events(self, group: str, stream: str, events: list[dict]) -> None:
        self._backend("logs").put_log_events(group, stream, events)


def _release() -> None:
    global _active
    with _lock:
        _active = False


# --- moto's state, for the scorer's scenarios -------------------------------------------------------
def task_model(task_arn: str) -> Any:
    """moto's model of a task, to script its end (``containers[0].exitCode``, ``stopped_reason``);
    its account and region are its ARN's (arn:aws:ecs:REGION:ACCOUNT:task/...)."""
    from moto.ecs.models import ecs_backends

    _arn, _aws, _ecs, region, account_id, _rest = task_arn.split(":", 5)
    backend = ecs_backends[account_id][region]
    for tasks in backend.tasks.values():
        if task_arn in tasks:
            return tasks[task_arn]
    raise KeyError(task_arn)


def task_progression(times: int | None) -> None:
    """Each state of a task lasts `times` DescribeTasks calls (None: moto's default, one per call)."""
    from moto.moto_api import state_manager

    if times is None:
        state_manager.unset_transition("ecs::task")
    else:
        state_manager.set_transition("ecs::task", {"progression": "manual", "times": times})


def reset(services: tuple[str, ...]) -> None:
    """Forget every resource of these services in every account and region."""
    from moto.backends import get_backend

    for service in services:
        # BackendDict.reset() is a classmethod that resets every service: reset per account.
        for account_backend in get_backend(service).values():
            account_backend.reset()
    task_progression(None)


def reset_all() -> None:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
