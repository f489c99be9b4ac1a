"""The grading stack (grading-stack.yaml): found by its name, deployed when missing.

Everything a run uses on AWS is in it (nothing is created outside it but the task definition's
revisions, which name the image of each grader): ``aws cloudformation delete-stack --stack-name
ecs-lab-grading`` removes it all, once its bucket and repository are emptied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.ecs.protocol import FAMILY_SUFFIX, STACK_NAME

TEMPLATE = Path(__file__).with_name("grading-stack.yaml")
OUTPUTS = ("Cluster", "Repository", "RepositoryUri", "Bucket", "QueueUrl", "DeadLetterQueueUrl", "LogGroup",
           "TaskRoleArn", "ExecutionRoleArn", "SecurityGroup")
DEPLOY_TIMEOUT_S = 900


class StackError(Exception):
    """The stack cannot be used (its state, a failed deployment, no default VPC): the message says why."""


@dataclass(frozen=True)
class GradingStack:
    name: str
    cluster: str
    repository: str
    repository_uri: str
    bucket: str
    queue_url: str
    dead_letter_queue_url: str
    log_group: str
    task_role_arn: str
    execution_role_arn: str
    security_group: str
    subnets: tuple[str, ...]

    @property
    def family(self) -> str:
        return f"{self.name}{FAMILY_SUFFIX}"


def find(session: Any, name: str = STACK_NAME) -> GradingStack | None:
    """The deployed stack, or None when the region has none of that name."""
    from botocore.exceptions import ClientError

    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    stack = stacks[0]
    if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
        raise StackError(f"the stack {name} is {stack['StackStatus']}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [key for key in OUTPUTS if key not in outputs]
    if missing:
        raise StackError(f"the stack {name} lacks the outputs {', '.join(missing)} (another template?)")
    vpc = next((p["ParameterValue"] for p in stack.get("Parameters", []) if p["ParameterKey"] == "VpcId"), None)
    return GradingStack(
        name=name, cluster=outputs["Cluster"], repository=outputs["Repository"],
        repository_uri=outputs["RepositoryUri"], bucket=outputs["Bucket"], queue_url=outputs["QueueUrl"],
        dead_letter_queue_url=outputs["DeadLetterQueueUrl"], log_group=outputs["LogGroup"],
        task_role_arn=outputs["TaskRoleArn"], execution_role_arn=outputs["ExecutionRoleArn"],
        security_group=outputs["SecurityGroup"], subnets=_subnets(session, vpc))


def deploy(session: Any, name: str = STACK_NAME) -> GradingStack:
    """Create the stack in the session's region (in its default VPC) and wait until it is complete."""
    from botocore.exceptions import WaiterError

    vpc = default_vpc(session)
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=TEMPLATE.read_text(encoding="utf-8"),
                                Parameters=[{"ParameterKey": "VpcId", "ParameterValue": vpc}],
                                Capabilities=["CAPABILITY_IAM"], OnFailure="DELETE",
                                Tags=[{"Key": "ecs-lab", "Value": "grading"}])
    try:
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=name, WaiterConfig={"Delay": 5, "MaxAttempts": DEPLOY_TIMEOUT_S // 5})
    except WaiterError as error:
        raise StackError(f"the stack {name} was not created: {error}") from None
    stack = find(session, name)
    if stack is None:
        raise StackError(f"the stack {name} was not created")
    return stack


def default_vpc(session: Any) -> str:
    vpcs = session.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise StackError(f"the region {session.region_name} has no default VPC (the grading tasks run in it)")
    return vpcs[0]["VpcId"]


def _subnets(session: Any, vpc: str | None) -> tuple[str, ...]:
    if not vpc:
        return ()
    subnets = session.client("ec2").describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    return tuple(sorted(s["SubnetId"] for s in subnets))
