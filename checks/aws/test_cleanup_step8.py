"""Checkpoint cleanup_step8 (step 8), aws: the web service and the ALB are gone, the rest is kept.

Reads: ECS DescribeServices, ELB DescribeLoadBalancers/DescribeListeners/DescribeTargetGroups,
then what must be kept for Part 2: ECS DescribeClusters, S3 HeadBucket, ECR
DescribeRepositories, EC2 DescribeSecurityGroups, IAM GetRole. Verified at stages
after-step8 and part2. (The ALB and the target group belong to the infrastructure stack: while
the stack exists, their absence shows that they were deleted, no CloudTrail needed.)
"""

import pytest

from grader.tiers.aws import lookup
from grader.feedback import expect

pytestmark = pytest.mark.stage("after-step8", "part2")

HINT = "ecs-lab cleanup-step8"


def test_web_service_deleted(world):
    found = lookup.service(world)
    status = (found or {}).get("status")
    expect(found is None or status == "DRAINING",
           f"Le service {lookup.SERVICE} existe encore : supprimez-le ({HINT}).",
           f"Service {lookup.SERVICE} still exists: delete it ({HINT}).", expected="INACTIVE", seen=status)


def test_load_balancer_and_listeners_deleted(world):
    balancer = lookup.load_balancer(world)
    listeners = lookup.listeners(world, balancer["LoadBalancerArn"]) if balancer else []
    expect(balancer is None,
           f"L'ALB {lookup.LOAD_BALANCER} existe encore (avec {len(listeners)} listener(s)) : "
           f"supprimez ses listeners puis l'ALB ({HINT}).",
           f"ALB {lookup.LOAD_BALANCER} still exists (with {len(listeners)} listener(s)): delete its "
           f"listeners, then the ALB ({HINT}).", expected=lookup.DELETED, seen=lookup.LOAD_BALANCER)


def test_target_group_deleted(world):
    group = lookup.target_group(world)
    expect(group is None,
           f"Le target group {lookup.TARGET_GROUP} existe encore : supprimez-le une fois l'ALB supprimé ({HINT}).",
           f"Target group {lookup.TARGET_GROUP} still exists: delete it once the ALB is gone ({HINT}).",
           expected=lookup.DELETED, seen=lookup.TARGET_GROUP)


def test_part2_resources_kept(world, names):
    cluster = lookup.cluster(world)
    groups = lookup.security_groups(world)
    kept = {
        f"cluster {lookup.CLUSTER}": cluster is not None and cluster.get("status") == "ACTIVE",
        f"bucket {names.bucket}": lookup.bucket_exists(world, names.bucket),
        **{f"ECR {r}": lookup.repository_exists(world, r)
           for r in (lookup.WEB_REPOSITORY, lookup.CLASSIFIER_REPOSITORY)},
        **{f"security group {g}": g in groups for g in lookup.SECURITY_GROUPS},
        **{f"role {r}": lookup.role_exists(world, r) for r in lookup.ROLES},
    }
    missing = [name for name, present in kept.items() if not present]
    expect(not missing,
           "L'étape 8 doit conserver le cluster, le bucket S3, les repositories ECR, les security groups et "
           "les rôles (nécessaires à la Partie 2) : recréez ce qui manque (ecs-lab deploy, étape 3).",
           "Step 8 must keep the cluster, the S3 bucket, the ECR repositories, the security groups and the "
           "roles (Part 2 needs them): re-create what is missing (ecs-lab deploy, step 3).",
           expected=sorted(kept), seen=f"manquant(s) / missing: {missing}")
