"""The lab's resources in a moto account, made directly with boto3 by the scorer (fast), for
checks that need them around the student's code: default VPC subnets, the ECS security group,
the cluster, the log group, the bucket, the repositories and the roles."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from ecslab.facts import (
    ACCOUNT_ID,
    CLASSIFIER_CONTAINER,
    IAM_OUTPUTS,
    IAM_STACK,
    INFRASTRUCTURE_OUTPUTS,
    INFRASTRUCTURE_STACK,
    CLASSIFIER_CPU,
    CLASSIFIER_FAMILY,
    CLASSIFIER_LOG_GROUP,
    CLASSIFIER_MEMORY,
    CLASSIFIER_REPOSITORY,
    CLUSTER,
    LOG_STREAM_PREFIX,
    REGION,
    WEB_LOG_GROUP,
    WEB_REPOSITORY,
    LabNames,
)
from standin import moto_bridge

Clients = Callable[[str], Any]  # service -> the scorer's own client


@dataclass
class LabBase:
    """What the checks only read, made once per tier run (EC2 and IAM are slow in moto).

    Names differ from the stacks' own ("grader-..."), so that a check can still deploy the
    real templates into the same account.
    """

    subnet_ids: list[str]
    security_group_id: str
    task_role_arn: str
    execution_role_arn: str

    @classmethod
    def provision(cls, client: Clients) -> "LabBase":
        ec2, iam = client("ec2"), client("iam")
        vpc_id = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        subnet_ids = [s["SubnetId"] for s in sorted(subnets, key=lambda s: s["AvailabilityZone"])][:2]
        group = ec2.create_security_group(GroupName="grader-ecs-tasks-sg", Description="ECS tasks",
                                          VpcId=vpc_id)["GroupId"]
        return cls(subnet_ids, group, _role(iam, "grader-classifier-task-role"),
                   _role(iam, "grader-task-execution-role"))


@dataclass
class LabResources:
    subnet_ids: list[str]
    security_group_id: str
    cluster: str
    classifier_repository_uri: str
    web_repository_uri: str
    task_role_arn: str
    execution_role_arn: str
    bucket: str


def _role(iam: Any, name: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def provision_lab(base: LabBase) -> LabResources:
    """Cluster, repositories, log group and bucket in a freshly reset account (made in moto's
    backends directly: the same resources as the API's, without 5 requests before 32 checks)."""
    backends = moto_bridge.Backends(ACCOUNT_ID, REGION)
    backends.create_cluster(CLUSTER, ["FARGATE"], [{"capacityProvider": "FARGATE", "weight": 1}])
    repositories = {name: backends.create_repository(name) for name in (CLASSIFIER_REPOSITORY, WEB_REPOSITORY)}
    backends.create_log_group(CLASSIFIER_LOG_GROUP)
    bucket = LabNames().bucket
    backends.create_bucket(bucket)
    return LabResources(
        subnet_ids=base.subnet_ids,
        security_group_id=base.security_group_id,
        cluster=CLUSTER,
        classifier_repository_uri=repositories[CLASSIFIER_REPOSITORY],
        web_repository_uri=repositories[WEB_REPOSITORY],
        task_role_arn=base.task_role_arn,
        execution_role_arn=base.execution_role_arn,
        bucket=bucket,
    )


def classifier_task_definition(image: str, task_role_arn: str, execution_role_arn: str) -> dict:
    """The harness's own, correct task definition (step 11a), for checks that start after it."""
    return dict(
        family=CLASSIFIER_FAMILY, networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu=CLASSIFIER_CPU, memory=CLASSIFIER_MEMORY, taskRoleArn=task_role_arn, executionRoleArn=execution_role_arn,
        containerDefinitions=[{
            "name": CLASSIFIER_CONTAINER, "image": image, "essential": True,
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": CLASSIFIER_LOG_GROUP, "awslogs-region": REGION,
                "awslogs-stream-prefix": LOG_STREAM_PREFIX}},
        }],
    )


def register_classifier_task_definition(backends: moto_bridge.Backends, lab: LabResources) -> str:
    """The harness's own task definition (made in moto's backends: no request), for checks that start after it."""
    return backends.register_task_definition(classifier_task_definition(
        f"{lab.classifier_repository_uri}:latest", lab.task_role_arn, lab.execution_role_arn))


def run_classifier_task(backends: moto_bridge.Backends, lab: LabResources, task_definition_arn: str) -> str:
    """Start a task as the scorer (not the student), for monitoring checks."""
    return backends.run_fargate_task(lab.cluster, task_definition_arn, {"awsvpcConfiguration": {
        "subnets": lab.subnet_ids, "securityGroups": [lab.security_group_id], "assignPublicIp": "ENABLED"}})


def lab_stack_outputs(lab: LabResources) -> dict[str, str]:
    """Every output of the lab's two stacks, for these resources."""
    names = LabNames()
    outputs = {
        "VPCId": "vpc-grader", "SubnetIds": ",".join(lab.subnet_ids), "ECSSecurityGroup": lab.security_group_id,
        "LoadBalancerSecurityGroup": lab.security_group_id, "LoadBalancerDNS": "ecs-lab-alb.grader.invalid",
        "TargetGroup": f"arn:aws:elasticloadbalancing:{REGION}:{names.account}:targetgroup/ecs-lab-tg/0",
        "S3Bucket": lab.bucket, "WebAppECRRepository": lab.web_repository_uri,
        "ClassifierECRRepository": lab.classifier_repository_uri, "WebAppLogGroup": WEB_LOG_GROUP,
        "ClassifierLogGroup": CLASSIFIER_LOG_GROUP, "ECSTaskExecutionRoleArn": lab.execution_role_arn,
        "WebAppTaskRoleArn": lab.task_role_arn, "ImageClassifierTaskRoleArn": lab.task_role_arn,
    }
    assert set(outputs) == {*INFRASTRUCTURE_OUTPUTS, *IAM_OUTPUTS}
    return outputs


def create_output_stacks(cloudformation: Any, outputs: dict[str, str]) -> None:
    """The two stacks, with these outputs and no resource of their own."""
    for stack, keys in ((INFRASTRUCTURE_STACK, INFRASTRUCTURE_OUTPUTS), (IAM_STACK, IAM_OUTPUTS)):
        template = {"Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                    "Outputs": {key: {"Value": outputs[key]} for key in keys}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto: "WaitConditionHandle ... not supported" (it has nothing to do)
            cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template))
