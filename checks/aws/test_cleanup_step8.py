"""Checkpoint cleanup_step8 (step 8), aws: the web service and the ALB are gone, the rest is kept.

Reads: ECS DescribeServices, ELB DescribeLoadBalancers/DescribeListeners/DescribeTargetGroups,
then what must be kept for Part 2: ECS DescribeClusters, S3 HeadBucket, ECR
DescribeRepositories, EC2 DescribeSecurityGroups, IAM GetRole. Verified at stages
after-step8 and part2. (The ALB and the target group belong to the infrastructure stack: while
the stack exists, their absence shows that they were deleted, no CloudTrail needed.)
"""

import pytest

from grader.tiers.aws import lab as aws_lab
from grader.feedback import expect

pytestmark = pytest.mark.stage("after-step8", "part2")

HINT = "ecs-lab cleanup-step8"


def test_web_service_deleted(world):
    found = aws_lab.service(world)
    status = (found or {}).get("status")
    expect(found is None or status == "DRAINING",
           f"Le service {aws_lab.SERVICE} existe encore : supprimez-le ({HINT}).",
           f"Service {aws_lab.SERVICE} still exists: delete it ({HINT}).", expected="INACTIVE", seen=status)


def test_load_balancer_and_listeners_deleted(world):
    balancer = aws_lab.load_balancer(world)
    listeners = aws_lab.listeners(world, balancer["LoadBalancerArn"]) if balancer else []
    expect(balancer is None,
           f"L'ALB {aws_lab.LOAD_BALANCER} existe encore (avec {len(listeners)} listener(s)) : "
           f"supprimez ses listeners puis l'ALB ({HINT}).",
           f"ALB {aws_lab.LOAD_BALANCER} still exists (with {len(listeners)} listener(s)): delete its "
           f"listeners, then the ALB ({HINT}).", expected=aws_lab.DELETED, seen=aws_lab.LOAD_BALANCER)


def test_target_group_deleted(world):
    group = aws_lab.target_group(world)
    expect(group is None,
           f"Le target group {aws_lab.TARGET_GROUP} existe encore : supprimez-le une fois l'ALB supprimé ({HINT}).",
           f"Target group {aws_lab.TARGET_GROUP} still exists: delete it once the ALB is gone ({HINT}).",
           expected=aws_lab.DELETED, seen=aws_lab.TARGET_GROUP)


def test_part2_resources_kept(world, names):
    cluster = aws_lab.cluster(world)
    groups = aws_lab.security_groups(world)
    kept = {
        f"cluster {aws_lab.CLUSTER}": cluster is not None and cluster.get("status") == "ACTIVE",
        f"bucket {names.bucket}": aws_lab.bucket_exists(world, names.bucket),
        **{f"ECR {r}": aws_lab.repository_exists(world, r)
           for r in (aws_lab.WEB_REPOSITORY, aws_lab.CLASSIFIER_REPOSITORY)},
        **{f"security group {g}": g in groups for g in aws_lab.SECURITY_GROUPS},
        **{f"role {r}": aws_lab.role_exists(world, r) for r in aws_lab.ROLES},
    }
    missing = [name for name, present in kept.items() if not present]
    expect(not missing,
           "L'étape 8 doit conserver le cluster, le bucket S3, les repositories ECR, les security groups et "
           "les rôles (nécessaires à la Partie 2) : recréez ce qui manque (ecs-lab deploy, étape 3).",
           "Step 8 must keep the cluster, the S3 bucket, the ECR repositories, the security groups and the "
           "roles (Part 2 needs them): re-create what is missing (ecs-lab deploy, step 3).",
           expected=sorted(kept), seen=f"manquant(s) / missing: {missing}")
