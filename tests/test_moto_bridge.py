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


def test_resources_made_in_the_backends_are_the_ones_the_api_makes(monkeypatch):
    """The offline tier makes the lab's resources in moto's backends (standin.moto_bridge.Backends), not
    through requests: the student's code must see the same cluster, repositories, log group and bucket."""
    from standin.moto_bridge import Backends, reset

    region, account = "eu-west-1", "123456789012"
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": region}.items():
        monkeypatch.setenv(key, value)
    strategy = [{"capacityProvider": "FARGATE", "weight": 1}]

    def described() -> dict:
        ecs, ecr = boto3.client("ecs", region_name=region), boto3.client("ecr", region_name=region)
        logs, s3 = boto3.client("logs", region_name=region), boto3.client("s3", region_name=region)
        seen = {"clusters": ecs.describe_clusters(clusters=["lab"], include=["SETTINGS", "CONFIGURATIONS"])["clusters"],
                "repositories": ecr.describe_repositories()["repositories"],
                "groups": logs.describe_log_groups()["logGroups"],
                "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
                "location": s3.get_bucket_location(Bucket="lab-bucket")["LocationConstraint"]}
        for entry in [*seen["repositories"], *seen["groups"]]:  # when they were made
            for moment in ("createdAt", "creationTime"):
                entry.pop(moment, None)
        return seen

    with mock_aws(), bridged():
        backends = Backends(account, region)
        backends.create_cluster("lab", ["FARGATE"], strategy)
        uri = backends.create_repository("repo")
        backends.create_log_group("/lab/group")
        backends.create_bucket("lab-bucket")
        direct = described()
        reset(("ecs", "ecr", "logs", "s3"))
        boto3.client("ecs").create_cluster(clusterName="lab", capacityProviders=["FARGATE"],
                                           defaultCapacityProviderStrategy=strategy)
        made = boto3.client("ecr").create_repository(repositoryName="repo")["repository"]["repositoryUri"]
        boto3.client("logs").create_log_group(logGroupName="/lab/group")
        boto3.client("s3").create_bucket(Bucket="lab-bucket", CreateBucketConfiguration={"LocationConstraint": region})
        assert uri == made
        assert direct == described()
