"""Clean-up of the local ECS: closing it removes running tasks' containers; what a killed run
left is swept by the next one. (A module of its own: only one local ECS runs per process.)

Needs a Docker engine (`sudo bash scripts/setup-docker.sh`); skipped without one, except in CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from unittest import mock

import pytest

from standin.local_ecs import LocalEcs, LocalEcsError
from standin.local_ecs.runner import RunSettings
from local_tier_support.docker_state import RUN_ID_VARIABLE, Snapshot, docker_client_or_skip, new_run_id

BASE = os.environ.get("ECS_LAB_BASE_IMAGE", "ecs-lab/python-base:3.11-bookworm")
CLUSTER = "local-test"
GROUP = "/ecs/local-test"


@pytest.fixture(scope="module")
def docker_client():
    client = docker_client_or_skip()
    yield client
    client.close()


def register(ecs, image: str) -> str:
    return ecs.client("ecs").register_task_definition(
        family="app", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": image, "essential": True, "logConfiguration": {
            "logDriver": "awslogs", "options": {"awslogs-group": GROUP, "awslogs-region": "eu-west-1",
                                                "awslogs-stream-prefix": "ecs"}}}],
    )["taskDefinition"]["taskDefinitionArn"]


def test_one_local_ecs_per_process(docker_client):
    with LocalEcs(docker_client):
        with pytest.raises(LocalEcsError, match="already running"):
            LocalEcs(docker_client).start()


def test_close_removes_running_tasks(docker_client):
    before = Snapshot.take(docker_client)
    with LocalEcs(docker_client, settings=RunSettings(stop_timeout_s=1)) as ecs, \
            mock.patch.dict(os.environ, ecs.environment()):
        ecs.client("ecs").create_cluster(clusterName=CLUSTER)
        ecs.client("logs").create_log_group(logGroupName=GROUP)
        ec2 = ecs.client("ec2")
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        arn = ecs.client("ecs").run_task(
            cluster=CLUSTER, taskDefinition=register(ecs, BASE), launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}},
            overrides={"containerOverrides": [{"name": "app", "command": ["sleep", "600"]}]})["tasks"][0]["taskArn"]
        deadline = time.monotonic() + 30
        while not ecs.running_containers():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert Snapshot.take(docker_client).left_by(ecs.resources.run_id, before)
    assert Snapshot.take(docker_client).left_by(ecs.resources.run_id, before) == []
    assert arn


def test_leftovers_of_a_killed_run_are_swept(docker_client, tmp_path):
    """SIGKILL leaves no chance to clean up: the next local ECS removes what the dead run left."""
    run_id = new_run_id()
    before = Snapshot.take(docker_client)
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import os, time
        from standin.local_ecs import LocalEcs
        ecs = LocalEcs().start()
        os.environ.update(ecs.environment())
        ecs.client("ecs").create_cluster(clusterName="c")
        c = ecs.client("ecs")
        td = c.register_task_definition(family="f", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu="256", memory="512", containerDefinitions=[{{"name": "app", "image": "{BASE}",
            "command": ["sleep", "600"]}}])["taskDefinition"]["taskDefinitionArn"]
        subnet = ecs.client("ec2").describe_subnets()["Subnets"][0]["SubnetId"]
        c.run_task(cluster="c", taskDefinition=td, launchType="FARGATE",
                   networkConfiguration={{"awsvpcConfiguration": {{"subnets": [subnet]}}}})
        while not ecs.running_containers():
            time.sleep(0.05)
        print("running", flush=True)
        time.sleep(600)
    """))
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                               cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               env={**os.environ, RUN_ID_VARIABLE: run_id})
    try:
        assert process.stdout.readline().strip() == "running"
        time.sleep(0.5)
        assert Snapshot.take(docker_client).left_by(run_id, before)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    leftovers = Snapshot.take(docker_client).left_by(run_id, before)
    assert leftovers, "a killed run leaves its containers (nothing to sweep: the test proves nothing)"
    LocalEcs(docker_client).start().close()
    assert Snapshot.take(docker_client).left_by(run_id, before) == []
