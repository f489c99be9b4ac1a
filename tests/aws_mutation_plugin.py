"""A pytest plugin for the aws tier's tests (`-p aws_mutation_plugin`): the cluster checks try a
mutating call through the tier's own session, as a buggy check would. The read-only recorder
must refuse it before it is sent, and the run must fail."""

import pytest


@pytest.fixture(autouse=True)
def _scale_the_service_down(request: pytest.FixtureRequest) -> None:
    if "test_cluster.py" not in request.node.nodeid:
        return
    world = request.getfixturevalue("world")
    world.client("ecs").update_service(cluster="ecs-lab-cluster", service="web-service", desiredCount=0)
