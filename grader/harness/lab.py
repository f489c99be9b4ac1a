"""The lab's resources in a moto account, made directly with boto3 (fast), for checks that
need them around the student's code: default VPC subnets, the ECS security group, the
cluster, the log group, the bucket, the repositories and the roles."""

from __future__ import annotations

import json
from dataclasses import dataclass

from grader.harness.aws import ACCOUNT_ID, REGION, MotoAccount

CLUSTER = "ecs-lab-cluster"
CLASSIFIER_REPOSITORY = "ecs-lab/image-classifier"
WEB_REPOSITORY = "ecs-lab/web-app"
CLASSIFIER_LOG_GROUP = "/ecs/ecs-lab/image-classifier"
BUCKET = f"ecs-lab-images-{ACCOUNT_ID}-{REGION}"


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
    def provision(cls, account: MotoAccount) -> "LabBase":
        ec2, iam = account.client("ec2"), account.client("iam")
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


def _role(iam, name: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def provision_lab(account: MotoAccount, base: LabBase) -> LabResources:
    """Cluster, repositories, log group and bucket in a freshly reset account."""
    ecs, ecr = account.client("ecs"), account.client("ecr")
    logs, s3 = account.client("logs"), account.client("s3")
    ecs.create_cluster(clusterName=CLUSTER, capacityProviders=["FARGATE"],
                       defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])
    repositories = {}
    for name in (CLASSIFIER_REPOSITORY, WEB_REPOSITORY):
        repositories[name] = ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
    logs.create_log_group(logGroupName=CLASSIFIER_LOG_GROUP)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return LabResources(
        subnet_ids=base.subnet_ids,
        security_group_id=base.security_group_id,
        cluster=CLUSTER,
        classifier_repository_uri=repositories[CLASSIFIER_REPOSITORY],
        web_repository_uri=repositories[WEB_REPOSITORY],
        task_role_arn=base.task_role_arn,
        execution_role_arn=base.execution_role_arn,
        bucket=BUCKET,
    )


def register_classifier_task_definition(account: MotoAccount, lab: LabResources) -> str:
    """The harness's own, correct task definition, for checks that start after step 11a."""
    response = account.client("ecs").register_task_definition(
        family="image-classifier", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu="1024", memory="2048", taskRoleArn=lab.task_role_arn, executionRoleArn=lab.execution_role_arn,
        containerDefinitions=[{
            "name": "image-classifier", "image": f"{lab.classifier_repository_uri}:latest", "essential": True,
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": CLASSIFIER_LOG_GROUP, "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"}},
        }],
    )
    return response["taskDefinition"]["taskDefinitionArn"]


def run_classifier_task(account: MotoAccount, lab: LabResources, task_definition_arn: str) -> str:
    """Start a task with the harness's client (not the student's), for monitoring checks."""
    response = account.client("ecs").run_task(
        cluster=lab.cluster, taskDefinition=task_definition_arn, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": lab.subnet_ids,
                                                      "securityGroups": [lab.security_group_id],
                                                      "assignPublicIp": "ENABLED"}},
    )
    return response["tasks"][0]["taskArn"]
