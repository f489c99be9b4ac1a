"""Where moto differs from AWS for this lab, bridged in one place (standin/moto_bridge.py)."""
from __future__ import annotations

import boto3
from moto import mock_aws

from standin.moto_bridge import bridged


def test_run_task_on_ec2_without_container_instances_answers_like_ecs(monkeypatch):
    """moto crashes (HTTP 500, an HTML page in the student's feedback); ECS answers with no task
    and the reason, which the student's code can report."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws(), bridged():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        ecs = boto3.client("ecs", region_name="eu-west-1")
        cluster = ecs.create_cluster(clusterName="lab")["cluster"]["clusterArn"]
        ecs.register_task_definition(family="f", containerDefinitions=[{"name": "c", "image": "i"}],
                                     requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                     cpu="256", memory="512")
        network = {"awsvpcConfiguration": {"subnets": [subnet]}}
        answer = ecs.run_task(cluster="lab", taskDefinition="f", launchType="EC2", networkConfiguration=network)
        assert answer["tasks"] == []
        assert answer["failures"] == [{"arn": cluster, "reason": "No Container Instances were found in your cluster."}]
        started = ecs.run_task(cluster="lab", taskDefinition="f", launchType="FARGATE", networkConfiguration=network)
        assert len(started["tasks"]) == 1 and started["failures"] == []
