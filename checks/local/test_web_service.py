"""Checkpoint web_service (steps 6-7), on the local ECS: a service of 2 tasks behind the load
balancer answers from two distinct tasks.

What is verified: the lab's web task definition (``resources/web-service-task-definition.json``
filled as ``ecs-lab update-task-definitions`` fills it), registered and used by the
handout's ``create-service`` (cluster ecs-lab-cluster, desired count 2, FARGATE, awsvpc
with public IP, the target group of the infrastructure stack on container web-app:3000),
runs two real tasks in two zones; the service becomes stable; requests to the ALB's DNS
name, answered by the local load balancer that stands in for the ALB listener, reach two
distinct tasks, each reporting its task ARN and zone from the task metadata endpoint v4;
scaling to 0 stops them. The commands of Part 1 are the handout's, not yours: this shows
that the lab's service works locally; on AWS the aws tier checks your own service.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from grader.feedback import expect

from ecslab.facts import CLUSTER, REGION
from grader.tiers.local.images import ROOT

pytestmark = pytest.mark.timeout(150, func_only=True)
SERVICE = "web-service"


@pytest.fixture(scope="module")
def web_service(world):
    from ecslab.taskdef import fill_web_task_definition, load_task_definition

    outputs = world.outputs
    ecs = world.client("ecs")
    document = fill_web_task_definition(
        load_task_definition(ROOT / "resources" / "web-service-task-definition.json"),
        account_id=world.ecs.account_id, execution_role_arn=outputs["ECSTaskExecutionRoleArn"],
        task_role_arn=outputs["WebAppTaskRoleArn"], image=f"{outputs['WebAppECRRepository']}:latest",
        region=REGION)
    ecs.register_task_definition(**document)
    ecs.create_service(
        cluster=CLUSTER, serviceName=SERVICE, taskDefinition="ecs-web-app", desiredCount=2, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": world.subnets,
                                                      "securityGroups": [world.security_group],
                                                      "assignPublicIp": "ENABLED"}},
        loadBalancers=[{"targetGroupArn": outputs["TargetGroup"], "containerName": "web-app", "containerPort": 3000}])
    try:
        yield ecs
    finally:
        try:
            ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=0)
            ecs.delete_service(cluster=CLUSTER, service=SERVICE, force=True)
        except Exception:  # noqa: BLE001 - the tier's end removes the containers anyway
            pass


def _answers(url: str, wanted: int = 2, limit_s: float = 60) -> dict[str, dict]:
    seen: dict[str, dict] = {}
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/", timeout=5) as response:
                body = json.loads(response.read())
            ecs_data = body.get("ecs") or {}
            seen.setdefault(ecs_data.get("taskArn") or f"?{body.get('hostname')}", ecs_data)
            if len([k for k in seen if not k.startswith("?")]) >= wanted:
                break
        except (OSError, ValueError, urllib.error.HTTPError):
            time.sleep(0.5)  # no healthy target yet: 503, as an ALB
    return seen


@pytest.mark.weight(1)
def test_service_becomes_stable_with_two_tasks(web_service):
    try:
        web_service.get_waiter("services_stable").wait(cluster=CLUSTER, services=[SERVICE],
                                                       WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    except Exception as error:  # noqa: BLE001
        service = web_service.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
        expect(False, "Le service n'est pas devenu stable avec 2 tâches en cours d'exécution.",
               "The service did not become stable with 2 running tasks.",
               seen=f"{error}; running {service.get('runningCount')}, events {service.get('events', [])[:2]}")
    arns = web_service.list_tasks(cluster=CLUSTER, serviceName=SERVICE)["taskArns"]
    tasks = web_service.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []
    running = [t for t in tasks if t["lastStatus"] == "RUNNING"]
    expect(len(running) == 2, "Le service doit faire tourner 2 tâches.", "The service must run 2 tasks.",
           seen=[t["lastStatus"] for t in tasks])


@pytest.mark.weight(3)
def test_two_distinct_tasks_answer_through_the_load_balancer(world, web_service):
    url = world.ecs.load_balancer_url(world.outputs["LoadBalancerDNS"])
    seen = _answers(url)
    arns = sorted(k for k in seen if not k.startswith("?"))
    expect(len(arns) >= 2, "Deux tâches distinctes doivent répondre derrière le load balancer.",
           "Two distinct tasks must answer behind the load balancer.", expected=2, seen=list(seen))
    zones = {seen[arn].get("availabilityZone") for arn in arns}
    expect(None not in zones, "Chaque tâche doit indiquer sa zone (métadonnées ECS v4).",
           "Each task must report its zone (ECS metadata v4).", seen=zones)


@pytest.mark.weight(1)
def test_scaling_to_zero_stops_the_tasks(world, web_service):
    arns = web_service.list_tasks(cluster=CLUSTER, serviceName=SERVICE)["taskArns"]
    web_service.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=0)
    deadline = time.monotonic() + 60
    statuses: list[str] = []
    while time.monotonic() < deadline:
        statuses = [t["lastStatus"] for t in web_service.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]]
        if statuses and all(s == "STOPPED" for s in statuses):
            break
        time.sleep(0.5)
    expect(statuses and all(s == "STOPPED" for s in statuses), "Avec desiredCount 0, les tâches doivent s'arrêter.",
           "With desiredCount 0 the tasks must stop.", seen=statuses)
