"""Checkpoint cluster (step 3), aws: ecs-lab-cluster, FARGATE capacity provider, default strategy.

Read: ECS DescribeClusters. The cluster is kept by step 8 and only deleted by the final
clean-up: verified at stages part1, after-step8 and part2.
"""

import pytest

from grader.tiers.aws import lookup
from grader.feedback import expect

pytestmark = pytest.mark.stage("part1", "after-step8", "part2")

CREATE_HINT = ("aws ecs create-cluster --cluster-name ecs-lab-cluster --capacity-providers FARGATE "
               "--default-capacity-provider-strategy capacityProvider=FARGATE,weight=1")


@pytest.fixture(scope="module")
def cluster(world):
    found = lookup.cluster(world)
    expect(found is not None and found.get("status") == "ACTIVE",
           f"Le cluster {lookup.CLUSTER} n'existe pas ou n'est pas actif : créez-le ({CREATE_HINT}).",
           f"Cluster {lookup.CLUSTER} does not exist or is not active: create it ({CREATE_HINT}).",
           expected="ACTIVE", seen=(found or {}).get("status"))
    return found


def test_cluster_active(cluster):
    assert cluster["status"] == "ACTIVE"


def test_fargate_capacity_provider(cluster):
    providers = cluster.get("capacityProviders") or []
    expect("FARGATE" in providers, "Le cluster doit avoir le fournisseur de capacité FARGATE.",
           "The cluster must have the FARGATE capacity provider.", expected=["FARGATE"], seen=providers)


def test_default_strategy_is_fargate(cluster):
    strategy = cluster.get("defaultCapacityProviderStrategy") or []
    weighted = {s.get("capacityProvider") for s in strategy if (s.get("weight") or 0) > 0}
    expect(weighted == {"FARGATE"},
           "La stratégie par défaut du cluster doit placer les tâches sur FARGATE (FARGATE, weight 1).",
           "The cluster's default strategy must place tasks on FARGATE (FARGATE, weight 1).",
           expected=[{"capacityProvider": "FARGATE", "weight": 1}], seen=strategy)
