"""Checkpoint final_cleanup (final clean-up), aws: nothing of the lab is left in the account.

Reads: CloudFormation DescribeStacks, ECS DescribeClusters/DescribeServices, ELB
DescribeLoadBalancers/DescribeTargetGroups, S3 HeadBucket, ECR DescribeRepositories,
CloudWatch Logs DescribeLogGroups, EC2 DescribeSecurityGroups, IAM GetRole. Registered task
definitions are not counted: they cost nothing and the handout's clean-up keeps them (ecs-lab
cleanup deregisters them anyway). Verified at stage final.
"""

import pytest

from grader.tiers.aws import lookup
from grader.feedback import expect

pytestmark = pytest.mark.stage("final")

HINT = "ecs-lab cleanup"


def _expect_gone(left: list[str], what_fr: str, what_en: str) -> None:
    expect(not left, f"Il reste {what_fr} du lab : relancez « {HINT} ».",
           f"The lab's {what_en} are still there: run \"{HINT}\" again.", expected=[], seen=left)


def test_no_stack_left(world):
    left = [name for name in (lookup.INFRASTRUCTURE_STACK, lookup.IAM_STACK) if lookup.stack(world, name)]
    _expect_gone(left, "des piles CloudFormation", "CloudFormation stacks")


def test_no_cluster_service_or_load_balancer_left(world):
    left = []
    if lookup.cluster(world) is not None:
        left.append(f"cluster {lookup.CLUSTER}")
    if lookup.service(world) is not None:
        left.append(f"service {lookup.SERVICE}")
    if lookup.load_balancer(world) is not None:
        left.append(f"ALB {lookup.LOAD_BALANCER}")
    if lookup.target_group(world) is not None:
        left.append(f"target group {lookup.TARGET_GROUP}")
    _expect_gone(left, "des ressources ECS ou ELB", "ECS or ELB resources")


def test_no_storage_left(world, names):
    left = []
    if lookup.bucket_exists(world, names.bucket):
        left.append(f"bucket {names.bucket}")
    left += [f"ECR {r}" for r in (lookup.WEB_REPOSITORY, lookup.CLASSIFIER_REPOSITORY)
             if lookup.repository_exists(world, r)]
    left += [f"log group {g}" for g in (lookup.WEB_LOG_GROUP, lookup.CLASSIFIER_LOG_GROUP)
             if lookup.log_group_exists(world, g)]
    _expect_gone(left, "du stockage (S3, ECR, CloudWatch Logs)", "storage (S3, ECR, CloudWatch Logs)")


def test_no_security_group_or_role_left(world):
    left = [f"security group {g}" for g in lookup.security_groups(world)]
    left += [f"role {r}" for r in lookup.ROLES if lookup.role_exists(world, r)]
    _expect_gone(left, "des security groups ou des rôles IAM", "security groups or IAM roles")
