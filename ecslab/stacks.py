"""The lab's two CloudFormation stacks: deploy (create or update), outputs, delete.

``deploy_lab_stacks`` is also the helper that tests and graders call to put a
(moto) account in the state "both stacks deployed".
"""

from __future__ import annotations

import ast
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError, WaiterError

from ecslab import LAB_PROJECT
from ecslab.aws import error_code
from ecslab.console import Console
from ecslab.errors import LabError
from ecslab.network import LabNetwork, find_default_network

INFRASTRUCTURE_TEMPLATE = "infrastructure.yaml"
IAM_TEMPLATE = "iam-roles.yaml"

# Stacks take minutes on AWS: poll every 10 s, for at most 30 min.
STACK_WAITER_CONFIG = {"Delay": 10, "MaxAttempts": 180}

COMPLETE_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
NO_UPDATES = "No updates are to be performed"


@dataclass(frozen=True)
class LabStackNames:
    """Stack names derived from the project name (``ecs-lab`` in the lab)."""

    project: str = LAB_PROJECT

    @property
    def infrastructure(self) -> str:
        return f"{self.project}-infrastructure"

    @property
    def iam(self) -> str:
        return f"{self.project}-iam-roles"

    def all(self) -> tuple[str, str]:
        return (self.infrastructure, self.iam)


def resources_dir() -> Path:
    """``resources/`` of the project (``ECS_LAB_RESOURCES`` overrides it)."""
    override = os.environ.get("ECS_LAB_RESOURCES")
    if override:
        return Path(override)
    in_package = Path(__file__).resolve().parent / "resources"  # the checkout's resources/ (a link), or the wheel's copy
    if in_package.is_dir():
        return in_package
    return Path.cwd() / "resources"


def build_dir() -> Path:
    """Where the lab's commands write what they generate: ``build/`` beside the project's ``resources/``
    (LAB.md's `cat build/...`), or in the current folder when the lab is an installed copy."""
    resources = resources_dir().resolve()  # the checkout's resources/, through ecslab/resources (a link)
    package = Path(__file__).resolve().parent
    if resources.is_relative_to(package):
        return Path.cwd() / "build"
    return resources.parent / "build"


def read_template(name: str, directory: Path | None = None) -> str:
    path = (directory or resources_dir()) / name
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        raise LabError("template_missing", path=str(path)) from None


def describe_stack(cfn: Any, name: str) -> dict | None:
    """The stack, or ``None`` when it does not exist (deleted stacks included)."""
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
            return None
        raise


def stack_outputs(cfn: Any, name: str) -> dict[str, str]:
    """Outputs of a complete stack; :class:`LabError` when it is missing or not complete."""
    stack = describe_stack(cfn, name)
    if stack is None:
        raise LabError("stack_missing", stack=name)
    if stack["StackStatus"] not in COMPLETE_STATES:
        raise LabError("stack_not_ready", stack=name, status=stack["StackStatus"])
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def lab_outputs(session: boto3.Session, project_name: str = LAB_PROJECT) -> dict[str, str]:
    """Both stacks' outputs merged (what the student's ``get_stack_outputs`` returns)."""
    cfn = session.client("cloudformation")
    merged: dict[str, str] = {}
    for name in LabStackNames(project_name).all():
        merged.update(stack_outputs(cfn, name))
    return merged


def last_event_id(cfn: Any, name: str) -> str | None:
    """Id of the stack's newest event: the events after it belong to the next operation."""
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return None
    return events[0]["EventId"] if events else None


def failure_reasons(cfn: Any, name: str, after_event: str | None = None, limit: int = 5) -> str:
    """The first resource failures of the stack's last operation, for the message."""
    try:
        pages = cfn.get_paginator("describe_stack_events").paginate(StackName=name)
        events = []
        for page in pages:
            events.extend(page["StackEvents"])
    except ClientError:
        return ""
    reasons = []
    for event in events:  # newest first
        if after_event is not None and event["EventId"] == after_event:
            break
        if event.get("ResourceStatus", "").endswith("FAILED") and event.get("ResourceStatusReason"):
            reasons.append(f"{event['LogicalResourceId']}: {event['ResourceStatusReason']}")
    return " | ".join(reversed(reasons[-limit:]))


def _wait(cfn: Any, waiter_name: str, name: str, after_event: str | None) -> None:
    try:
        cfn.get_waiter(waiter_name).wait(StackName=name, WaiterConfig=STACK_WAITER_CONFIG)
    except WaiterError:
        stack = describe_stack(cfn, name)
        status = stack["StackStatus"] if stack else "?"
        reasons = failure_reasons(cfn, name, after_event) or (stack or {}).get("StackStatusReason", "")
        key = "stack_delete_failed" if waiter_name == "stack_delete_complete" else "stack_failed"
        raise LabError(key, stack=name, status=status, reasons=reasons or "-") from None


def _parameter_value(value: str) -> str:
    """A parameter value as AWS renders it (moto renders list parameters as a Python list)."""
    if value.startswith("[") and value.endswith("]"):
        try:
            items = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        if isinstance(items, list):
            return ",".join(str(item) for item in items)
    return value


def _same_deployment(cfn: Any, stack: dict, template_body: str, parameters: dict[str, str]) -> bool:
    """True when the stack already runs this template with these parameters (nothing to update)."""
    current = {p["ParameterKey"]: _parameter_value(p.get("ParameterValue", "")) for p in stack.get("Parameters", [])}
    if current != parameters:
        return False
    deployed = cfn.get_template(StackName=stack["StackName"], TemplateStage="Original")["TemplateBody"]
    return isinstance(deployed, str) and deployed == template_body


def deploy_stack(
    cfn: Any,
    name: str,
    template_body: str,
    parameters: dict[str, str],
    capabilities: Iterable[str],
    console: Console,
) -> str:
    """Create or update one stack and wait for it: returns ``created``, ``updated`` or ``unchanged``."""
    kwargs = {
        "StackName": name,
        "TemplateBody": template_body,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Capabilities": list(capabilities),
    }
    stack = describe_stack(cfn, name)
    status = stack["StackStatus"] if stack else None

    if status is not None and status.endswith("_IN_PROGRESS"):
        raise LabError("stack_busy", stack=name, status=status)
    if status in {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"}:
        # A stack whose creation failed cannot be updated: delete it, then create it again.
        console.say("stack_recreate", stack=name, status=status)
        before = last_event_id(cfn, name)
        cfn.delete_stack(StackName=name)
        _wait(cfn, "stack_delete_complete", name, before)
        status = None

    if status is None:
        console.say("stack_creating", stack=name)
        cfn.create_stack(**kwargs)
        _wait(cfn, "stack_create_complete", name, None)
        console.say("stack_created", stack=name)
        return "created"

    if _same_deployment(cfn, stack, template_body, parameters):
        console.say("stack_unchanged", stack=name)
        return "unchanged"
    before = last_event_id(cfn, name)
    try:
        cfn.update_stack(**kwargs)
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and NO_UPDATES in str(exc):
            console.say("stack_unchanged", stack=name)
            return "unchanged"
        raise
    console.say("stack_updating", stack=name)
    _wait(cfn, "stack_update_complete", name, before)
    console.say("stack_updated", stack=name)
    return "updated"


def deploy_both_stacks(
    session: boto3.Session,
    project_name: str,
    network: LabNetwork,
    console: Console,
    templates_dir: Path | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Deploy both stacks; returns ``({stack: created|updated|unchanged}, merged outputs)``."""
    names = LabStackNames(project_name)
    cfn = session.client("cloudformation")
    statuses = {
        names.infrastructure: deploy_stack(
            cfn,
            names.infrastructure,
            read_template(INFRASTRUCTURE_TEMPLATE, templates_dir),
            {"ProjectName": project_name, "VpcId": network.vpc_id, "SubnetIds": ",".join(network.subnet_ids)},
            ["CAPABILITY_IAM"],
            console,
        ),
        names.iam: deploy_stack(
            cfn,
            names.iam,
            read_template(IAM_TEMPLATE, templates_dir),
            {"ProjectName": project_name},
            ["CAPABILITY_NAMED_IAM"],
            console,
        ),
    }
    return statuses, lab_outputs(session, project_name)


def deploy_lab_stacks(
    session: boto3.Session,
    project_name: str = LAB_PROJECT,
    network: LabNetwork | None = None,
    console: Console | None = None,
    templates_dir: Path | None = None,
) -> dict[str, str]:
    """Deploy (create or update) both lab stacks and return their merged outputs.

    The infrastructure stack goes into ``network`` (by default the region's
    default VPC and one subnet per zone), with CAPABILITY_IAM; the IAM stack
    with CAPABILITY_NAMED_IAM, as in the handout. Silent unless a console is given.
    """
    console = console or Console(out=io.StringIO(), err=io.StringIO())
    network = network or find_default_network(session)
    _, outputs = deploy_both_stacks(session, project_name, network, console, templates_dir)
    return outputs


def delete_stacks(cfn: Any, names: Iterable[str], console: Console) -> int:
    """Delete the stacks that exist, then wait for each; returns how many were deleted."""
    started: dict[str, str | None] = {}
    for name in names:
        stack = describe_stack(cfn, name)
        if stack is None:
            continue
        if stack["StackStatus"].endswith("_IN_PROGRESS") and stack["StackStatus"] != "DELETE_IN_PROGRESS":
            raise LabError("stack_busy", stack=name, status=stack["StackStatus"])
        console.say("stack_deleting", stack=name)
        started[name] = last_event_id(cfn, name)
        cfn.delete_stack(StackName=name)
    for name, since in started.items():
        _wait(cfn, "stack_delete_complete", name, since)
        console.say("stack_deleted", stack=name)
    return len(started)
