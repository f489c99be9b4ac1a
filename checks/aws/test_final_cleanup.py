"""Checkpoint final_cleanup (final clean-up), aws: nothing of the lab is left in the account.

Reads: CloudFormation DescribeStacks, ECS DescribeClusters/DescribeServices, ELB
DescribeLoadBalancers/DescribeTargetGroups, S3 HeadBucket, ECR DescribeRepositories,
CloudWatch Logs DescribeLogGroups, EC2 DescribeSecurityGroups, IAM GetRole. Registered task
definitions are not counted: they cost nothing and the handout's clean-up keeps them (ecs-lab
cleanup deregisters them anyway). Verified at stage final.
"""

import pytest

from grader.tiers.aws import lab as aws_lab
from grader.feedback import expect

pytestmark = pytest.mark.stage("final")

HINT = "ecs-lab cleanup"


def _expect_gone(left: list[str], what_fr: str, what_en: str) -> None:
    expect(not left, f"Il reste {what_fr} du lab : relancez « {HINT} ».",
           f"The lab's {what_en} are still there: run \"{HINT}\" again.", expected=[], seen=left)


def test_no_stack_left(world):
    left = [name for name in (aws_lab.INFRASTRUCTURE_STACK, aws_lab.IAM_STACK) if aws_lab.stack(world, name)]
    _expect_gone(left, "des piles CloudFormation", "CloudFormation stacks")


def test_no_cluster_service_or_load_balancer_left(world):
    left = []
    if aws_lab.cluster(world) is not None:
        left.append(f"cluster {aws_lab.CLUSTER}")
    if aws_lab.service(world) is not None:
        left.append(f"service {aws_lab.SERVICE}")
    if aws_lab.load_balancer(world) is not None:
        left.append(f"ALB {aws_lab.LOAD_BALANCER}")
    if aws_lab.target_group(world) is not None:
        left.append(f"target group {aws_lab.TARGET_GROUP}")
    _expect_gone(left, "des ressources ECS ou ELB", "ECS or ELB resources")


def test_no_storage_left(world, names):
    left = []
    if aws_lab.bucket_exists(world, names.bucket):
        left.append(f"bucket {names.bucket}")
    left += [f"ECR {r}" for r in (aws_lab.WEB_REPOSITORY, aws_lab.CLASSIFIER_REPOSITORY)
             if aws_lab.repository_exists(world, r)]
    left += [f"log group {g}" for g in (aws_lab.WEB_LOG_GROUP, aws_lab.CLASSIFIER_LOG_GROUP)
             if aws_lab.log_group_exists(world, g)]
    _expect_gone(left, "du stockage (S3, ECR, CloudWatch Logs)", "storage (S3, ECR, CloudWatch Logs)")


def test_no_security_group_or_role_left(world):
    left = [f"security group {g}" for g in aws_lab.security_groups(world)]
    left += [f"role {r}" for r in aws_lab.ROLES if aws_lab.role_exists(world, r)]
    _expect_gone(left, "des security groups ou des rôles IAM", "security groups or IAM roles")
