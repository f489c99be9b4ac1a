"""Where moto differs from AWS for this lab, bridged in one place (standin/moto_bridge.py)."""
from __future__ import annotations

import json
import re
import time

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


def test_resources_made_in_the_backends_are_the_ones_the_api_makes(monkeypatch):
    """The offline tier makes the lab's resources, its own task definition and task, and the container's
    log events in moto's backends (standin.moto_bridge.Backends), not through requests: the student's
    code must see what the API calls would have made."""
    from grader.tiers.offline.provision import classifier_task_definition
    from standin.moto_bridge import Backends, reset

    region, account = "eu-west-1", "123456789012"
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": region}.items():
        monkeypatch.setenv(key, value)
    strategy = [{"capacityProvider": "FARGATE", "weight": 1}]
    definition = classifier_task_definition("repo:latest", f"arn:aws:iam::{account}:role/task",
                                            f"arn:aws:iam::{account}:role/execution")
    now_ms = int(time.time() * 1000)
    events = [{"timestamp": now_ms - 60_000 + i, "message": f"line {i}"} for i in range(3)]

    def described(task_arn: str) -> dict:
        ecs, ecr = boto3.client("ecs", region_name=region), boto3.client("ecr", region_name=region)
        logs, s3 = boto3.client("logs", region_name=region), boto3.client("s3", region_name=region)
        seen = {"clusters": ecs.describe_clusters(clusters=["lab"], include=["SETTINGS", "CONFIGURATIONS"])["clusters"],
                "repositories": ecr.describe_repositories()["repositories"],
                "groups": logs.describe_log_groups()["logGroups"],
                "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
                "location": s3.get_bucket_location(Bucket="lab-bucket")["LocationConstraint"],
                "definition": ecs.describe_task_definition(taskDefinition="image-classifier")["taskDefinition"],
                "tasks": ecs.describe_tasks(cluster="lab", tasks=[task_arn])["tasks"],
                "events": logs.get_log_events(logGroupName="/lab/group", logStreamName="stream")["events"]}
        for entry in [*seen["repositories"], *seen["groups"], seen["definition"], *seen["tasks"], *seen["events"]]:
            for moment in ("createdAt", "creationTime", "registeredAt", "startedAt", "ingestionTime"):
                entry.pop(moment, None)  # when they were made
        # what moto draws at random for each task: its ids, its network interface, addresses and host name
        return json.loads(re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|eni-[0-9a-f]+"
                                 r"|\b\d+\.\d+\.\d+\.\d+\b|ip-[0-9-]+\.|([0-9a-f]{2}:){5}[0-9a-f]{2}", "X",
                                 json.dumps(seen, default=str)))

    with mock_aws(), bridged():
        subnet = boto3.client("ec2", region_name=region).describe_subnets()["Subnets"][0]["SubnetId"]
        network = {"awsvpcConfiguration": {"subnets": [subnet], "assignPublicIp": "ENABLED"}}
        backends = Backends(account, region)
        backends.create_cluster("lab", ["FARGATE"], strategy)
        uri = backends.create_repository("repo")
        backends.create_log_group("/lab/group")
        backends.create_log_group("/lab/group", exist_ok=True)
        backends.create_bucket("lab-bucket")
        arn = backends.register_task_definition(definition)
        task = backends.run_fargate_task("lab", arn, network)
        backends.create_log_stream("/lab/group", "stream")
        backends.put_log_events("/lab/group", "stream", events)
        direct = described(task)
        reset(("ecs", "ecr", "logs", "s3"))
        ecs = boto3.client("ecs")
        ecs.create_cluster(clusterName="lab", capacityProviders=["FARGATE"], defaultCapacityProviderStrategy=strategy)
        made = boto3.client("ecr").create_repository(repositoryName="repo")["repository"]["repositoryUri"]
        logs = boto3.client("logs")
        logs.create_log_group(logGroupName="/lab/group")
        boto3.client("s3").create_bucket(Bucket="lab-bucket", CreateBucketConfiguration={"LocationConstraint": region})
        made_arn = ecs.register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]
        made_task = ecs.run_task(cluster="lab", taskDefinition=made_arn, launchType="FARGATE",
                                 networkConfiguration=network)["tasks"][0]["taskArn"]
        logs.create_log_stream(logGroupName="/lab/group", logStreamName="stream")
        logs.put_log_events(logGroupName="/lab/group", logStreamName="stream", logEvents=events)
        assert (uri, arn) == (made, made_arn)
        assert direct == described(made_task)
        assert [e["message"] for e in direct["events"]] == ["line 0", "line 1", "line 2"] and direct["tasks"]
