"""The step 8 clean-up (web service and load balancer) and the final clean-up.

Both are idempotent: each step looks first and acts only on what exists, and
the functions return the number of things they changed, so that the command
can say "nothing left to do" when it is 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ecslab import CLASSIFIER_TASK_FAMILY, CLUSTER_NAME, LAB_PROJECT, WEB_SERVICE_NAME, WEB_TASK_FAMILY
from ecslab.aws import error_code
from ecslab.console import Console
from ecslab.stacks import LabStackNames, delete_stacks, describe_stack

# botocore waiters: poll every 6 s (ECS) / 15 s (ELB), for at most 10 min.
ECS_WAITER_CONFIG = {"Delay": 6, "MaxAttempts": 100}
ELB_WAITER_CONFIG = {"Delay": 15, "MaxAttempts": 40}
# The target group stays "in use" a few seconds after its load balancer is gone.
TARGET_GROUP_RETRIES = 12
TARGET_GROUP_RETRY_DELAY = 5.0


@dataclass
class LabNames:
    """Names of the lab's resources, derived from the project name."""

    project: str = LAB_PROJECT
    cluster: str = CLUSTER_NAME
    service: str = WEB_SERVICE_NAME
    task_families: tuple[str, ...] = (WEB_TASK_FAMILY, CLASSIFIER_TASK_FAMILY)

    @property
    def load_balancer(self) -> str:
        return f"{self.project}-alb"

    @property
    def target_group(self) -> str:
        return f"{self.project}-tg"

    @property
    def repositories(self) -> tuple[str, str]:
        return (f"{self.project}/web-app", f"{self.project}/image-classifier")

    def bucket(self, account: str, region: str) -> str:
        return f"{self.project}-images-{account}-{region}"

    @property
    def stacks(self) -> LabStackNames:
        return LabStackNames(self.project)


@dataclass
class Cleaner:
    """Deletes the lab's resources through one session; counts what it changed."""

    session: boto3.Session
    console: Console
    names: LabNames = field(default_factory=LabNames)
    sleep: Callable[[float], None] = time.sleep
    actions: int = 0

    def __post_init__(self) -> None:
        self.ecs = self.session.client("ecs")
        self.elbv2 = self.session.client("elbv2")

    def _done(self, key: str, **params: Any) -> None:
        self.actions += 1
        self.console.say(key, **params)

    # ---- ECS -------------------------------------------------------------

    def _active_cluster(self) -> bool:
        clusters = self.ecs.describe_clusters(clusters=[self.names.cluster])["clusters"]
        return any(c["status"] in {"ACTIVE", "PROVISIONING"} for c in clusters)

    def _service(self, service: str) -> dict | None:
        try:
            services = self.ecs.describe_services(cluster=self.names.cluster, services=[service])["services"]
        except ClientError as exc:
            if error_code(exc) == "ClusterNotFoundException":
                return None
            raise
        live = [s for s in services if s["status"] != "INACTIVE"]
        return live[0] if live else None

    def delete_service(self, service: str) -> None:
        """Scale to 0, wait until stable, delete, wait until inactive (handout step 8, 1-3)."""
        found = self._service(service)
        if found is None:
            return
        cluster = self.names.cluster
        if found["status"] == "ACTIVE":
            if found["desiredCount"] != 0:
                self.console.say("service_scaling", service=service)
                self.ecs.update_service(cluster=cluster, service=service, desiredCount=0)
            self.console.say("service_waiting", service=service)
            self.ecs.get_waiter("services_stable").wait(
                cluster=cluster, services=[service], WaiterConfig=ECS_WAITER_CONFIG
            )
            self.ecs.delete_service(cluster=cluster, service=service)
        self.ecs.get_waiter("services_inactive").wait(
            cluster=cluster, services=[service], WaiterConfig=ECS_WAITER_CONFIG
        )
        self._done("service_deleted", service=service, cluster=cluster)

    def _service_names(self) -> list[str]:
        paginator = self.ecs.get_paginator("list_services")
        arns = [arn for page in paginator.paginate(cluster=self.names.cluster) for arn in page["serviceArns"]]
        return [arn.rsplit("/", 1)[-1] for arn in arns]

    def stop_tasks(self) -> None:
        paginator = self.ecs.get_paginator("list_tasks")
        arns = [
            arn
            for page in paginator.paginate(cluster=self.names.cluster, desiredStatus="RUNNING")
            for arn in page["taskArns"]
        ]
        if not arns:
            return
        self.console.say("tasks_stopping", count=len(arns), cluster=self.names.cluster)
        for arn in arns:
            self.ecs.stop_task(cluster=self.names.cluster, task=arn, reason="ecs-lab cleanup")
        for chunk in _chunks(arns, 100):  # DescribeTasks takes at most 100 tasks
            self.ecs.get_waiter("tasks_stopped").wait(
                cluster=self.names.cluster, tasks=chunk, WaiterConfig=ECS_WAITER_CONFIG
            )
        self._done("tasks_stopped", count=len(arns))

    def delete_cluster(self) -> None:
        if not self._active_cluster():
            return
        for service in self._service_names():
            self.delete_service(service)
        self.stop_tasks()
        self.ecs.delete_cluster(cluster=self.names.cluster)
        self._done("cluster_deleted", cluster=self.names.cluster)

    def deregister_task_definitions(self) -> None:
        paginator = self.ecs.get_paginator("list_task_definitions")
        for family in self.names.task_families:
            arns = [
                arn
                for page in paginator.paginate(familyPrefix=family, status="ACTIVE")
                for arn in page["taskDefinitionArns"]
                if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family  # exact family, not a prefix
            ]
            for arn in arns:
                self.ecs.deregister_task_definition(taskDefinition=arn)
            if arns:
                self._done("taskdefs_deregistered", family=family, count=len(arns))

    # ---- Load balancer ---------------------------------------------------

    def delete_load_balancer(self) -> None:
        """Listeners, then the ALB, then wait until it is gone (handout step 8, 4-6)."""
        try:
            balancers = self.elbv2.describe_load_balancers(Names=[self.names.load_balancer])["LoadBalancers"]
        except ClientError as exc:
            if error_code(exc) in {"LoadBalancerNotFound", "LoadBalancerNotFoundException"}:
                return
            raise
        for balancer in balancers:
            arn = balancer["LoadBalancerArn"]
            listeners = self.elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
            for listener in listeners:
                self.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
            if listeners:
                self._done("alb_listeners_deleted", count=len(listeners))
            self.console.say("alb_deleting", name=self.names.load_balancer)
            self.elbv2.delete_load_balancer(LoadBalancerArn=arn)
            self.elbv2.get_waiter("load_balancers_deleted").wait(
                LoadBalancerArns=[arn], WaiterConfig=ELB_WAITER_CONFIG
            )
            self._done("alb_deleted", name=self.names.load_balancer)

    def delete_target_group(self) -> None:
        try:
            groups = self.elbv2.describe_target_groups(Names=[self.names.target_group])["TargetGroups"]
        except ClientError as exc:
            if error_code(exc) in {"TargetGroupNotFound", "TargetGroupNotFoundException"}:
                return
            raise
        for group in groups:
            for attempt in range(TARGET_GROUP_RETRIES):
                try:
                    self.elbv2.delete_target_group(TargetGroupArn=group["TargetGroupArn"])
                    break
                except ClientError as exc:
                    if error_code(exc) != "ResourceInUse" or attempt == TARGET_GROUP_RETRIES - 1:
                        raise
                    self.sleep(TARGET_GROUP_RETRY_DELAY)
            self._done("tg_deleted", name=self.names.target_group)

    # ---- S3 and ECR ------------------------------------------------------

    def _bucket_name(self) -> str:
        stack = describe_stack(self.session.client("cloudformation"), self.names.stacks.infrastructure)
        for output in (stack or {}).get("Outputs", []):
            if output["OutputKey"] == "S3Bucket":
                return output["OutputValue"]
        account = self.session.client("sts").get_caller_identity()["Account"]
        return self.names.bucket(account, self.session.region_name)

    def _bucket_exists(self, s3: Any, bucket: str) -> bool:
        try:
            s3.head_bucket(Bucket=bucket)
            return True
        except ClientError as exc:
            if error_code(exc) in {"404", "NoSuchBucket", "NotFound"}:
                return False
            raise

    def empty_bucket(self, bucket: str) -> None:
        """Delete every object version and delete marker (a versioned bucket keeps them all)."""
        s3 = self.session.client("s3")
        if not self._bucket_exists(s3, bucket):
            return
        deleted = 0
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket):
            keys = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for kind in ("Versions", "DeleteMarkers")
                for item in page.get(kind, [])
            ]
            for chunk in _chunks(keys, 1000):  # DeleteObjects takes at most 1000 keys
                response = s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
                errors = response.get("Errors", [])
                if errors:
                    first = errors[0]
                    message = f"{first.get('Key')}: {first.get('Message')}"
                    raise ClientError({"Error": {"Code": first.get("Code", "?"), "Message": message}}, "DeleteObjects")
                deleted += len(chunk)
        if deleted:
            self._done("bucket_emptied", bucket=bucket, count=deleted)

    def delete_images(self) -> None:
        ecr = self.session.client("ecr")
        paginator = ecr.get_paginator("list_images")
        for repository in self.names.repositories:
            try:
                images = [i for page in paginator.paginate(repositoryName=repository) for i in page["imageIds"]]
            except ClientError as exc:
                if error_code(exc) == "RepositoryNotFoundException":
                    continue
                raise
            for chunk in _chunks(images, 100):  # BatchDeleteImage takes at most 100 ids
                ecr.batch_delete_image(repositoryName=repository, imageIds=chunk)
            if images:
                self._done("ecr_images_deleted", repository=repository, count=len(images))

    def delete_leftovers(self, bucket: str) -> None:
        """The bucket and repositories, when no stack deleted them (created by hand, or retained)."""
        s3 = self.session.client("s3")
        if self._bucket_exists(s3, bucket):
            self.empty_bucket(bucket)
            s3.delete_bucket(Bucket=bucket)
            self._done("bucket_deleted", bucket=bucket)
        ecr = self.session.client("ecr")
        for repository in self.names.repositories:
            try:
                ecr.delete_repository(repositoryName=repository, force=True)
            except ClientError as exc:
                if error_code(exc) == "RepositoryNotFoundException":
                    continue
                raise
            self._done("repository_deleted", repository=repository)

    # ---- The two commands ------------------------------------------------

    def step8(self) -> int:
        """Web service, listeners, ALB, target group; everything else is kept."""
        self.delete_service(self.names.service)
        self.delete_load_balancer()
        self.delete_target_group()
        return self.actions

    def everything(self) -> int:
        """Everything the lab created, so that nothing is billed any more."""
        bucket = self._bucket_name()
        self.delete_cluster()
        self.deregister_task_definitions()
        self.empty_bucket(bucket)
        self.delete_images()
        self.actions += delete_stacks(self.session.client("cloudformation"), self.names.stacks.all(), self.console)
        self.delete_leftovers(bucket)
        return self.actions


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
