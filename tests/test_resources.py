"""resources/: cfn-lint, the lab's rules (names, ports, outputs, tags, least privilege), moto deployment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from ecslab.stacks import deploy_lab_stacks
from grader.judges.templates import as_list, classifier_policy_problems, load_template, resolve, role_statements
from ecslab_support.moto_env import *  # noqa: F401,F403 - fixtures
from ecslab_support.moto_env import ACCOUNT, REGION, RESOURCES, WEB_TASK_DEFINITION

INFRASTRUCTURE = RESOURCES / "infrastructure.yaml"
IAM = RESOURCES / "iam-roles.yaml"
BUCKET = f"ecs-lab-images-{ACCOUNT}-{REGION}"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
LAB_TAGS = {"project": "ecs-lab", "environment": "development"}

INFRASTRUCTURE_OUTPUTS = {
    "VPCId", "SubnetIds", "ECSSecurityGroup", "LoadBalancerSecurityGroup", "LoadBalancerDNS", "TargetGroup",
    "S3Bucket", "WebAppECRRepository", "ClassifierECRRepository", "WebAppLogGroup", "ClassifierLogGroup",
}
IAM_OUTPUTS = {"ECSTaskExecutionRoleArn", "WebAppTaskRoleArn", "ImageClassifierTaskRoleArn"}


# ---------------------------------------------------------------------------
# Static evaluation of the templates (grader/judges/templates.py resolves the lab's values)


@pytest.fixture(scope="module")
def infrastructure() -> dict:
    return load_template(INFRASTRUCTURE)


@pytest.fixture(scope="module")
def iam() -> dict:
    return load_template(IAM)


def resource(template: dict, resource_type: str, **where: Any) -> dict:
    """The properties (resolved) of the one resource of ``resource_type`` matching ``where``."""
    found = []
    for body in template["Resources"].values():
        if body["Type"] != resource_type:
            continue
        properties = resolve(body.get("Properties", {}))
        if all(properties.get(k) == v for k, v in where.items()):
            found.append(properties)
    assert len(found) == 1, f"{resource_type} {where}: {len(found)} found"
    return found[0]


# ---------------------------------------------------------------------------
# cfn-lint


@pytest.mark.parametrize("path", [INFRASTRUCTURE, IAM], ids=lambda p: p.name)
def test_cfn_lint_reports_nothing(path: Path) -> None:
    matches = lint_file(path, ManualArgs(regions=[REGION], include_checks=["I"]))
    errors_and_warnings = [m for m in matches if m.rule.id[0] in "EW"]
    assert errors_and_warnings == [], "\n".join(str(m) for m in errors_and_warnings)
    assert matches == [], "informational: " + "\n".join(str(m) for m in matches)


def test_cfn_lint_would_catch_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(INFRASTRUCTURE.read_text().replace("Type: AWS::ECR::Repository", "Type: AWS::ECR::Repo", 1))
    assert any(m.rule.id.startswith("E") for m in lint_file(broken, ManualArgs(regions=[REGION])))


# ---------------------------------------------------------------------------
# Infrastructure: names, values, outputs


def test_infrastructure_parameters(infrastructure: dict) -> None:
    parameters = infrastructure["Parameters"]
    assert parameters["ProjectName"]["Type"] == "String"
    assert parameters["ProjectName"]["Default"] == "ecs-lab"
    assert parameters["VpcId"]["Type"] == "AWS::EC2::VPC::Id"
    assert parameters["SubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"


def test_bucket_is_versioned_and_private(infrastructure: dict) -> None:
    bucket = resource(infrastructure, "AWS::S3::Bucket")
    assert bucket["BucketName"] == BUCKET
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }


@pytest.mark.parametrize("name,keep", [("ecs-lab/web-app", 10), ("ecs-lab/image-classifier", 5)])
def test_ecr_repositories(infrastructure: dict, name: str, keep: int) -> None:
    repository = resource(infrastructure, "AWS::ECR::Repository", RepositoryName=name)
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
    rules = json.loads(repository["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert len(rules) == 1
    assert rules[0]["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep}
    assert rules[0]["action"] == {"type": "expire"}


@pytest.mark.parametrize("name", ["/ecs/ecs-lab/web-app", "/ecs/ecs-lab/image-classifier"])
def test_log_groups(infrastructure: dict, name: str) -> None:
    assert resource(infrastructure, "AWS::Logs::LogGroup", LogGroupName=name)["RetentionInDays"] == 7


def test_security_groups(infrastructure: dict) -> None:
    alb = resource(infrastructure, "AWS::EC2::SecurityGroup", GroupName="ecs-lab-alb-sg")
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], r.get("CidrIp")) for r in alb["SecurityGroupIngress"]] == [
        ("tcp", 80, 80, "0.0.0.0/0")
    ]
    ecs = resource(infrastructure, "AWS::EC2::SecurityGroup", GroupName="ecs-lab-ecs-sg")
    (ingress,) = ecs["SecurityGroupIngress"]
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 3000, 3000)
    assert "CidrIp" not in ingress  # from the ALB's group only, never from the internet
    assert ingress["SourceSecurityGroupId"] == {"Fn::GetAtt": ["LoadBalancerSecurityGroup", "GroupId"]}
    assert [(e["IpProtocol"], e["CidrIp"]) for e in ecs["SecurityGroupEgress"]] == [("-1", "0.0.0.0/0")]


def test_load_balancer_listener_and_target_group(infrastructure: dict) -> None:
    alb = resource(infrastructure, "AWS::ElasticLoadBalancingV2::LoadBalancer", Name="ecs-lab-alb")
    assert alb["Scheme"] == "internet-facing"
    assert alb["Type"] == "application"
    assert alb["Subnets"] == {"Ref": "SubnetIds"}
    target_group = resource(infrastructure, "AWS::ElasticLoadBalancingV2::TargetGroup", Name="ecs-lab-tg")
    assert {k: target_group[k] for k in (
        "Protocol", "Port", "TargetType", "HealthCheckPath", "HealthCheckIntervalSeconds",
        "HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount",
    )} == {
        "Protocol": "HTTP", "Port": 3000, "TargetType": "ip", "HealthCheckPath": "/health",
        "HealthCheckIntervalSeconds": 30, "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3,
    }
    listener = resource(infrastructure, "AWS::ElasticLoadBalancingV2::Listener")
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)
    assert listener["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
    assert listener["LoadBalancerArn"] == {"Ref": "LoadBalancer"}


def test_outputs_are_exactly_the_lab_keys(infrastructure: dict, iam: dict) -> None:
    assert set(infrastructure["Outputs"]) == INFRASTRUCTURE_OUTPUTS
    assert set(iam["Outputs"]) == IAM_OUTPUTS
    assert infrastructure["Outputs"]["SubnetIds"]["Value"] == {"Fn::Join": [",", {"Ref": "SubnetIds"}]}
    for key in ("WebAppECRRepository", "ClassifierECRRepository"):
        assert infrastructure["Outputs"][key]["Value"]["Fn::GetAtt"][1] == "RepositoryUri"


@pytest.mark.parametrize("path", [INFRASTRUCTURE, IAM], ids=lambda p: p.name)
def test_every_taggable_resource_has_the_lab_tags(path: Path) -> None:
    template = load_template(path)
    checked = 0
    for name, body in template["Resources"].items():
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, body["Type"]).schema
        if "Tags" not in schema.get("properties", {}):
            continue
        tags = resolve(body["Properties"].get("Tags", []))
        tags = tags if isinstance(tags, dict) else {t["Key"]: t["Value"] for t in tags}
        for key, value in LAB_TAGS.items():
            assert tags.get(key) == value, f"{name}: tag {key}"
        assert tags.get("managed-by"), f"{name}: tag managed-by"
        checked += 1
    assert checked >= (9 if path == INFRASTRUCTURE else 3)


# ---------------------------------------------------------------------------
# IAM: names and least privilege


def role(iam: dict, name: str) -> dict:
    return resource(iam, "AWS::IAM::Role", RoleName=name)


statements = role_statements


def test_roles_trust_ecs_tasks_only(iam: dict) -> None:
    for body in iam["Resources"].values():
        (trust,) = resolve(body["Properties"])["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert trust["Action"] == "sts:AssumeRole"
        assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT


def test_task_execution_role(iam: dict) -> None:
    execution = role(iam, "ecs-lab-task-execution-role")
    assert execution["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    ]
    by_action = {a: s for s in statements(execution) for a in as_list(s["Action"])}
    for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"):
        assert by_action[action]["Resource"] == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/ecs-lab/*"
    assert by_action["ecr:GetAuthorizationToken"]["Resource"] == "*"  # the only action without resources
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert by_action[action]["Resource"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/ecs-lab/*"


def test_web_app_task_role_only_puts_metrics_in_its_namespace(iam: dict) -> None:
    (statement,) = statements(role(iam, "ecs-lab-web-app-task-role"))
    assert statement["Action"] == "cloudwatch:PutMetricData"
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "ecs-lab/WebApp"}}
    assert not role(iam, "ecs-lab-web-app-task-role").get("ManagedPolicyArns")


def test_image_classifier_task_role_is_least_privilege(iam: dict) -> None:
    classifier = role(iam, "ecs-lab-image-classifier-task-role")
    assert not classifier.get("ManagedPolicyArns")
    role_statements = statements(classifier)
    assert classifier_policy_problems(role_statements, BUCKET_ARN) == []
    granted = {a for s in role_statements for a in as_list(s["Action"])}
    assert granted == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "cloudwatch:PutMetricData"}


@pytest.mark.parametrize(
    "bad",
    [
        {"Effect": "Allow", "Action": "s3:*", "Resource": f"{BUCKET_ARN}/*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::another-bucket/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"},
        {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:DeleteBucket", "Resource": BUCKET_ARN},
    ],
)
def test_least_privilege_rule_rejects_broad_grants(bad: dict) -> None:
    assert classifier_policy_problems([bad], BUCKET_ARN)


# ---------------------------------------------------------------------------
# The web task definition file (tracked, with its placeholders)


def test_web_task_definition_file_matches_the_lab() -> None:
    document = json.loads(WEB_TASK_DEFINITION.read_text())
    assert {k: document[k] for k in ("family", "networkMode", "requiresCompatibilities", "cpu", "memory")} == {
        "family": "ecs-web-app", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
        "cpu": "256", "memory": "512",
    }
    assert document["executionRoleArn"] == "arn:aws:iam::ACCOUNT_ID:role/ecs-lab-task-execution-role"
    assert document["taskRoleArn"] == "arn:aws:iam::ACCOUNT_ID:role/ecs-lab-web-app-task-role"
    (container,) = document["containerDefinitions"]
    assert container["name"] == "web-app"
    assert container["image"] == "<ECR_WEB_URI>"
    assert container["essential"] is True
    assert container["portMappings"] == [{"containerPort": 3000, "protocol": "tcp"}]
    assert container["environment"] == [{"name": "PORT", "value": "3000"}]
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/ecs/ecs-lab/web-app", "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"},
    }
    health = container["healthCheck"]
    assert "http://localhost:3000/health" in " ".join(health["command"])
    assert (health["interval"], health["timeout"], health["retries"], health["startPeriod"]) == (30, 5, 3, 60)
    assert "memory" not in container  # Fargate: task-level memory only


# ---------------------------------------------------------------------------
# Deployment into moto


def test_both_templates_deploy_into_moto_and_outputs_read_back(moto_session) -> None:
    outputs = deploy_lab_stacks(moto_session)
    assert set(outputs) == INFRASTRUCTURE_OUTPUTS | IAM_OUTPUTS

    ec2 = moto_session.client("ec2")
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    assert outputs["VPCId"] == default_vpc
    subnets = outputs["SubnetIds"].split(",")
    zones = {s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=subnets)["Subnets"]}
    assert len(subnets) >= 2 and len(zones) == len(subnets)

    assert outputs["S3Bucket"] == BUCKET
    moto_session.client("s3").head_bucket(Bucket=BUCKET)
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    assert outputs["WebAppECRRepository"] == f"{registry}/ecs-lab/web-app"
    assert outputs["ClassifierECRRepository"] == f"{registry}/ecs-lab/image-classifier"
    assert (outputs["WebAppLogGroup"], outputs["ClassifierLogGroup"]) == (
        "/ecs/ecs-lab/web-app", "/ecs/ecs-lab/image-classifier"
    )
    groups = moto_session.client("logs").describe_log_groups(logGroupNamePrefix="/ecs/ecs-lab/")["logGroups"]
    assert {(g["logGroupName"], g["retentionInDays"]) for g in groups} == {
        ("/ecs/ecs-lab/web-app", 7), ("/ecs/ecs-lab/image-classifier", 7)
    }

    security_groups = {
        g["GroupId"]: g
        for g in ec2.describe_security_groups(
            GroupIds=[outputs["ECSSecurityGroup"], outputs["LoadBalancerSecurityGroup"]]
        )["SecurityGroups"]
    }
    ecs_sg = security_groups[outputs["ECSSecurityGroup"]]
    assert ecs_sg["GroupName"] == "ecs-lab-ecs-sg"
    assert ecs_sg["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == outputs["LoadBalancerSecurityGroup"]
    assert security_groups[outputs["LoadBalancerSecurityGroup"]]["GroupName"] == "ecs-lab-alb-sg"

    elbv2 = moto_session.client("elbv2")
    (alb,) = elbv2.describe_load_balancers(Names=["ecs-lab-alb"])["LoadBalancers"]
    assert alb["DNSName"] == outputs["LoadBalancerDNS"]
    assert alb["Scheme"] == "internet-facing"
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)
    assert listener["DefaultActions"][0]["TargetGroupArn"] == outputs["TargetGroup"]
    (target_group,) = elbv2.describe_target_groups(TargetGroupArns=[outputs["TargetGroup"]])["TargetGroups"]
    assert (target_group["TargetGroupName"], target_group["Port"], target_group["TargetType"],
            target_group["HealthCheckPath"]) == ("ecs-lab-tg", 3000, "ip", "/health")

    for key, name in (
        ("ECSTaskExecutionRoleArn", "ecs-lab-task-execution-role"),
        ("WebAppTaskRoleArn", "ecs-lab-web-app-task-role"),
        ("ImageClassifierTaskRoleArn", "ecs-lab-image-classifier-task-role"),
    ):
        assert outputs[key] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
        moto_session.client("iam").get_role(RoleName=name)


def test_deploy_lab_stacks_is_idempotent(moto_session) -> None:
    first = deploy_lab_stacks(moto_session)
    second = deploy_lab_stacks(moto_session)
    assert first == second
    events = moto_session.client("cloudformation").describe_stack_events(StackName="ecs-lab-iam-roles")
    assert not any(e["ResourceStatus"].startswith("UPDATE") for e in events["StackEvents"])
