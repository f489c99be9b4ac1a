"""The local ECS (standin.local_ecs) on its own: what RunTask, DescribeTasks and StopTask do
with real containers, the task metadata endpoint, a service of 2 tasks behind the local load
balancer (stable, two distinct tasks answering, scaled to 0), the clean-up.

The containers run the project's base image (python, no build needed). Needs a Docker
engine (`sudo bash scripts/setup-docker.sh`); skipped without one, except in CI.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
import urllib.error
import urllib.request
from unittest import mock

import pytest

from ecslab.facts import REGION
from standin.local_ecs import LocalEcs
from standin.local_ecs.lifecycle import ORDER
from standin.local_ecs.runner import RunSettings
from local_tier_support.docker_state import Snapshot, docker_client_or_skip

BASE = os.environ.get("ECS_LAB_BASE_IMAGE", "ecs-lab/python-base:3.11-bookworm")
CLUSTER = "local-test"
GROUP = "/ecs/local-test"
REPOSITORY = "local-test/app"


@pytest.fixture(scope="module")
def docker_client():
    client = docker_client_or_skip()
    from docker.errors import ImageNotFound

    try:
        client.images.get(BASE)
    except ImageNotFound:
        pytest.skip(f"base image {BASE} missing: run `sudo bash scripts/setup-docker.sh`")
    yield client
    client.close()


@pytest.fixture(scope="module")
def world(docker_client):
    before = Snapshot.take(docker_client)
    settings = RunSettings(task_time_limit_s=60, stop_timeout_s=1)
    with LocalEcs(docker_client, region=REGION, settings=settings) as ecs, mock.patch.dict(os.environ, ecs.environment()):
        ecs.client("ecs").create_cluster(clusterName=CLUSTER)
        ecs.client("logs").create_log_group(logGroupName=GROUP)
        uri = ecs.client("ecr").create_repository(repositoryName=REPOSITORY)["repository"]["repositoryUri"]
        ecs.registry.publish(BASE, uri, "v1")
        ec2 = ecs.client("ec2")
        subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
        group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
        yield ecs, uri, subnets, group
    assert Snapshot.take(docker_client).left_by(ecs.resources.run_id, before) == []


def register(ecs, image: str, log_group: str = GROUP, role: str | None = None, **container) -> str:
    definition = {"name": "app", "image": image, "essential": True,
                  "logConfiguration": {"logDriver": "awslogs", "options": {
                      "awslogs-group": log_group, "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "ecs"}},
                  **container}
    kwargs = {"taskRoleArn": role} if role else {}
    return ecs.client("ecs").register_task_definition(
        family="app", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[definition], **kwargs)["taskDefinition"]["taskDefinitionArn"]


def run(world, task_definition: str, command: list[str] | None = None, environment: dict | None = None,
        **extra) -> str:
    ecs, _uri, subnets, group = world
    override = {"name": "app"}
    if command is not None:
        override["command"] = command
    if environment:
        override["environment"] = [{"name": k, "value": v} for k, v in environment.items()]
    launch = {} if "capacityProviderStrategy" in extra else {"launchType": "FARGATE"}
    response = ecs.client("ecs").run_task(
        cluster=CLUSTER, taskDefinition=task_definition, **launch, **extra,
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group],
                                                      "assignPublicIp": "ENABLED"}},
        overrides={"containerOverrides": [override]})
    return response["tasks"][0]["taskArn"]


def follow(ecs, task_arn: str, limit: float = 60) -> tuple[dict, list[str]]:
    """DescribeTasks every 50 ms until STOPPED: (final task, statuses seen in order)."""
    seen: list[str] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        task = ecs.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"][0]
        if not seen or seen[-1] != task["lastStatus"]:
            seen.append(task["lastStatus"])
        if task["lastStatus"] == "STOPPED":
            return task, seen
        time.sleep(0.05)
    raise AssertionError(f"{task_arn} not STOPPED after {limit} s: {seen}")


def log_lines(ecs, task_arn: str) -> list[str]:
    stream = f"ecs/app/{task_arn.rsplit('/', 1)[-1]}"
    events = ecs.client("logs").get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    return [e["message"] for e in events["events"]]


PY = "python"


def test_task_really_runs_with_overrides_and_exit_code(world):
    ecs, uri, *_ = world
    script = ("import os, sys, time; print('hello', os.environ['GREETING']); print('to stderr', file=sys.stderr); "
              "sys.stdout.flush(); time.sleep(2); sys.exit(3)")
    task_arn = run(world, register(ecs, f"{uri}:v1", environment=[{"name": "GREETING", "value": "def"}]),
                   [PY, "-c", script], {"GREETING": "override"})
    task, seen = follow(ecs, task_arn)
    assert seen == [s for s in ORDER if s in seen], seen  # the lifecycle's order, never backwards
    assert seen[-1] == "STOPPED" and "RUNNING" in seen
    container = task["containers"][0]
    assert container["exitCode"] == 3 and container["lastStatus"] == "STOPPED"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["stopCode"] == "EssentialContainerExited"
    assert container["imageDigest"].startswith("sha256:") and container["runtimeId"]
    assert {"createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppingAt", "stoppedAt"} <= set(task)
    assert task["availabilityZone"].startswith("eu-west-1")
    assert sorted(log_lines(ecs, task_arn)) == ["hello override", "to stderr"]  # stdout is flushed after stderr


def test_task_role_credentials_and_endpoint_in_the_container(world):
    ecs, uri, *_ = world
    role = ecs.client("iam").create_role(RoleName="local-test-task-role", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}))["Role"]["Arn"]
    script = ("import json, os; print(json.dumps({k: os.environ.get(k) for k in ('AWS_ACCESS_KEY_ID', "
              "'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'AWS_DEFAULT_REGION', "
              "'ECS_CONTAINER_METADATA_URI_V4')}))")
    with_role = run(world, register(ecs, f"{uri}:v1", role=role), [PY, "-c", script])
    without_role = run(world, register(ecs, f"{uri}:v1"), [PY, "-c", script])
    follow(ecs, with_role)
    follow(ecs, without_role)
    env = json.loads(log_lines(ecs, with_role)[0])
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]
    assert env["AWS_ENDPOINT_URL"] == ecs.container_endpoint_url and env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["ECS_CONTAINER_METADATA_URI_V4"].startswith("http://")
    assert json.loads(log_lines(ecs, without_role)[0])["AWS_ACCESS_KEY_ID"] is None  # no role, no credentials


def test_metadata_endpoint_v4(world):
    ecs, uri, *_ = world
    script = textwrap.dedent("""
        import json, os, urllib.request
        base = os.environ["ECS_CONTAINER_METADATA_URI_V4"]
        task = json.load(urllib.request.urlopen(base + "/task"))
        container = json.load(urllib.request.urlopen(base))
        print(json.dumps({"arn": task["TaskARN"], "az": task["AvailabilityZone"], "family": task["Family"],
                          "name": container["Name"], "docker": container["DockerId"],
                          "containers": len(task["Containers"])}))
    """)
    task_arn = run(world, register(ecs, f"{uri}:v1"), [PY, "-c", script])
    task, _ = follow(ecs, task_arn)
    assert task["containers"][0]["exitCode"] == 0, log_lines(ecs, task_arn)
    seen = json.loads(log_lines(ecs, task_arn)[-1])
    assert seen["arn"] == task_arn and seen["az"] == task["availabilityZone"]
    assert seen["family"] == "app" and seen["name"] == "app" and seen["containers"] == 1
    assert seen["docker"] == task["containers"][0]["runtimeId"]


@pytest.mark.parametrize("image", ["{uri}:absent", "local-test/never-built:1"])
def test_missing_image_stops_with_cannot_pull(world, image):
    ecs, uri, *_ = world
    task_arn = run(world, register(ecs, image.format(uri=uri)))
    task, _ = follow(ecs, task_arn)
    assert task["stoppedReason"].startswith("CannotPullContainerError: ")
    assert task["stopCode"] == "TaskFailedToStart"
    container = task["containers"][0]
    assert "exitCode" not in container and container["reason"].startswith("CannotPullContainerError")
    assert "startedAt" not in task and "pullStartedAt" in task


def test_missing_log_group_is_a_resource_initialization_error(world):
    ecs, uri, *_ = world
    task, _ = follow(ecs, run(world, register(ecs, f"{uri}:v1", log_group="/ecs/does-not-exist"), [PY, "-c", "0"]))
    assert task["stoppedReason"].startswith("ResourceInitializationError") and "log group" in task["stoppedReason"]
    assert "exitCode" not in task["containers"][0]


def test_hanging_task_is_stopped_at_its_time_limit(world):
    ecs, uri, *_ = world
    ecs.settings.task_time_limit_s = 2
    try:
        task_arn = run(world, register(ecs, f"{uri}:v1"), ["sleep", "600"])
    finally:
        ecs.settings.task_time_limit_s = 60
    started = time.monotonic()
    task, _ = follow(ecs, task_arn)
    assert time.monotonic() - started < 20
    assert "time limit of 2 s" in task["stoppedReason"]
    assert task["containers"][0]["exitCode"] == 137  # sleep as PID 1 ignores SIGTERM: killed after stopTimeout


def test_stop_task(world):
    ecs, uri, *_ = world
    script = "import time; print('up', flush=True); time.sleep(600)"
    task_arn = run(world, register(ecs, f"{uri}:v1"), [PY, "-c", script])
    deadline = time.monotonic() + 30
    while ecs.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"][0]["lastStatus"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stopped = ecs.client("ecs").stop_task(cluster=CLUSTER, task=task_arn, reason="fini")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    task, _ = follow(ecs, task_arn)
    assert task["stoppedReason"] == "fini" and task["stopCode"] == "UserInitiated"
    assert task["containers"][0]["exitCode"] in (137, 143)


def test_capacity_provider_strategy_and_unknown_tasks(world):
    ecs, uri, *_ = world
    task_arn = run(world, register(ecs, f"{uri}:v1"), [PY, "-c", "print('ok')"],
                   capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])
    task, _ = follow(ecs, task_arn)
    assert task["containers"][0]["exitCode"] == 0 and task.get("capacityProviderName") == "FARGATE"
    response = ecs.client("ecs").describe_tasks(cluster=CLUSTER, tasks=["0123456789abcdef0123456789abcdef"])
    assert response["tasks"] == [] and response["failures"][0]["reason"] == "MISSING"


def test_override_of_an_unknown_container_is_refused(world):
    ecs, uri, subnets, group = world
    client = ecs.client("ecs")
    with pytest.raises(client.exceptions.InvalidParameterException, match="not a container"):
        client.run_task(cluster=CLUSTER, taskDefinition=register(ecs, f"{uri}:v1"), launchType="FARGATE",
                        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group]}},
                        overrides={"containerOverrides": [{"name": "classifier", "command": ["true"]}]})


def test_list_tasks_shows_tasks_meant_to_run(world):
    ecs, uri, *_ = world
    task_arn = run(world, register(ecs, f"{uri}:v1"), [PY, "-c", "0"])
    follow(ecs, task_arn)
    client = ecs.client("ecs")
    assert task_arn not in client.list_tasks(cluster=CLUSTER)["taskArns"]
    assert task_arn in client.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"]


def test_command_that_cannot_start(world):
    ecs, uri, *_ = world
    task, _ = follow(ecs, run(world, register(ecs, f"{uri}:v1"), ["pyhton", "-c", "0"]))
    assert task["stoppedReason"].startswith("CannotStartContainerError") and "pyhton" in task["stoppedReason"]
    assert task["stopCode"] == "TaskFailedToStart" and "exitCode" not in task["containers"][0]


WEB_SERVER = textwrap.dedent("""
    import json, os, urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    task = json.load(urllib.request.urlopen(os.environ["ECS_CONTAINER_METADATA_URI_V4"] + "/task"))
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"taskArn": task["TaskARN"], "availabilityZone": task["AvailabilityZone"]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    ThreadingHTTPServer(("", 3000), Handler).serve_forever()
""")


def _answering_tasks(url: str, wanted: int = 2, limit_s: float = 60) -> dict[str, str]:
    """Task ARN -> zone of the tasks that answered through the load balancer (503 until one is healthy)."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and len(seen) < wanted:
        try:
            with urllib.request.urlopen(f"{url}/", timeout=5) as response:
                body = json.loads(response.read())
            seen[body["taskArn"]] = body["availabilityZone"]
        except (OSError, ValueError, urllib.error.HTTPError):
            time.sleep(0.5)
    return seen


def test_service_of_two_tasks_behind_the_load_balancer(world):
    """As step 6-7 of the handout does on AWS (what the local tier's web_service check showed until
    Part 1 left the local tier): a FARGATE service of 2 tasks in two zones, registered with the
    target group of an ALB listener, becomes stable; the listener reaches both tasks; 0 stops them."""
    ecs, uri, subnets, group = world
    client, elbv2 = ecs.client("ecs"), ecs.client("elbv2")
    vpc = ecs.client("ec2").describe_subnets(SubnetIds=subnets)["Subnets"][0]["VpcId"]
    balancer = elbv2.create_load_balancer(Name="local-test-alb", Subnets=subnets, SecurityGroups=[group],
                                          Scheme="internet-facing", Type="application")["LoadBalancers"][0]
    target_group = elbv2.create_target_group(
        Name="local-test-tg", Protocol="HTTP", Port=3000, VpcId=vpc, TargetType="ip", HealthCheckPath="/",
        HealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}])
    definition = register(ecs, f"{uri}:v1", command=["python", "-c", WEB_SERVER],
                          portMappings=[{"containerPort": 3000, "protocol": "tcp"}])
    client.create_service(
        cluster=CLUSTER, serviceName="web", taskDefinition=definition, desiredCount=2, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group],
                                                      "assignPublicIp": "ENABLED"}},
        loadBalancers=[{"targetGroupArn": target_group, "containerName": "app", "containerPort": 3000}])
    try:
        client.get_waiter("services_stable").wait(cluster=CLUSTER, services=["web"],
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 90})
        arns = client.list_tasks(cluster=CLUSTER, serviceName="web")["taskArns"]
        tasks = client.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
        assert [t["lastStatus"] for t in tasks] == ["RUNNING", "RUNNING"]
        assert len({t["availabilityZone"] for t in tasks}) == 2  # spread over the service's subnets
        answered = _answering_tasks(ecs.load_balancer_url(balancer["DNSName"]))
        assert sorted(answered) == sorted(arns)
        assert answered == {t["taskArn"]: t["availabilityZone"] for t in tasks}  # metadata endpoint v4
        client.update_service(cluster=CLUSTER, service="web", desiredCount=0)
        deadline = time.monotonic() + 60
        while {t["lastStatus"] for t in client.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]} != {"STOPPED"}:
            assert time.monotonic() < deadline, "desiredCount 0 did not stop the tasks"
            time.sleep(0.5)
    finally:
        client.update_service(cluster=CLUSTER, service="web", desiredCount=0)
        client.delete_service(cluster=CLUSTER, service="web", force=True)
