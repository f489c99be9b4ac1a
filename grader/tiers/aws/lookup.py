"""What the aws tier reads in the account: the lab's names (lab-facts) and read-only lookups.

Every function takes the tier (grader.tiers.aws.world.AwsWorld) and only reads through it. "Not
found" is an answer (None or an empty list), never an exception, so that checks can judge it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ecslab.facts import (  # noqa: F401 - the lab's names, read by the aws checks through this module
    CLASSIFIER_CONTAINER,
    CLASSIFIER_FAMILY,
    CLASSIFIER_LOG_GROUP,
    CLASSIFIER_REPOSITORY,
    CLASSIFIER_TASK_ROLE,
    CLUSTER,
    EXECUTION_ROLE,
    IAM_OUTPUTS,
    IAM_STACK,
    INFRASTRUCTURE_OUTPUTS,
    INFRASTRUCTURE_STACK,
    LOAD_BALANCER,
    PROJECT,
    RESULT_KEY,
    ROLES,
    SECURITY_GROUPS,
    TARGET_GROUP,
    WEB_CONTAINER,
    WEB_FAMILY,
    WEB_LOG_GROUP,
    WEB_REPOSITORY,
    WEB_TASK_ROLE,
    LabNames,
)
from ecslab.facts import WEB_SERVICE as SERVICE
from grader.evidence.awslogs import found_result as result_document  # noqa: F401 - read by the aws checks
from grader.feedback import Text
from grader.tiers.aws.world import AwsWorld

# Feedback values ("attendu : supprimé", "obtenu : rien").
NOTHING = Text("rien", "nothing")
DELETED = Text("supprimé", "deleted")
STACK_COMPLETE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _missing(error: ClientError, *codes: str) -> bool:
    return error_code(error) in codes or "does not exist" in str(error) or "not found" in str(error).lower()


# ---- CloudFormation -------------------------------------------------------------

def stack(tier: AwsWorld, name: str) -> dict | None:
    try:
        found = tier.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if _missing(error, "ValidationError"):
            return None
        raise
    return found[0] if found and found[0]["StackStatus"] != "DELETE_COMPLETE" else None


def outputs_of(found: dict | None) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue", "") for o in (found or {}).get("Outputs", [])}


# ---- ECS ----------------------------------------------------------------------

def cluster(tier: AwsWorld) -> dict | None:
    """The lab's cluster unless it is missing or INACTIVE (deleted)."""
    found = tier.client("ecs").describe_clusters(clusters=[CLUSTER])["clusters"]
    live = [c for c in found if c.get("status") != "INACTIVE"]
    return live[0] if live else None


def service(tier: AwsWorld) -> dict | None:
    """web-service unless it is missing or INACTIVE (deleted); None too when the cluster is gone."""
    try:
        found = tier.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
    except ClientError as error:
        if error_code(error) in {"ClusterNotFoundException", "ServiceNotFoundException"}:
            return None
        raise
    live = [s for s in found if s.get("status") != "INACTIVE"]
    return live[0] if live else None


def latest_task_definition(tier: AwsWorld, family: str) -> dict | None:
    """The latest ACTIVE revision of `family` (what `--task-definition family` means)."""
    try:
        found = tier.client("ecs").describe_task_definition(taskDefinition=family)["taskDefinition"]
    except ClientError as error:
        if error_code(error) in {"ClientException", "InvalidParameterException"}:
            return None
        raise
    return None if found.get("status") == "INACTIVE" else found


def tasks(tier: AwsWorld, *, desired_status: str, family: str | None = None,
          service_name: str | None = None) -> list[dict]:
    """Tasks of the lab's cluster (described), newest first."""
    ecs = tier.client("ecs")
    kwargs: dict[str, Any] = {"cluster": CLUSTER, "desiredStatus": desired_status}
    if family:
        kwargs["family"] = family
    if service_name:
        kwargs["serviceName"] = service_name
    try:
        arns = [arn for page in ecs.get_paginator("list_tasks").paginate(**kwargs) for arn in page["taskArns"]]
    except ClientError as error:
        if error_code(error) in {"ClusterNotFoundException", "ServiceNotFoundException"}:
            return []
        raise
    described: list[dict] = []
    for first in range(0, len(arns), 100):  # DescribeTasks takes at most 100 tasks
        described += ecs.describe_tasks(cluster=CLUSTER, tasks=arns[first:first + 100])["tasks"]
    if service_name:  # the service's own tasks only (their group is "service:<name>")
        described = [t for t in described if t.get("group") == f"service:{service_name}"]
    if family:
        described = [t for t in described if task_family(t) == family]
    return sorted(described, key=_created, reverse=True)


def _created(task: dict) -> float:
    when = task.get("createdAt") or task.get("startedAt")
    return when.timestamp() if isinstance(when, datetime) else 0.0


def task_family(task: dict) -> str:
    """"image-classifier" from ".../task-definition/image-classifier:3"."""
    return str(task.get("taskDefinitionArn", "")).rsplit("/", 1)[-1].rsplit(":", 1)[0]


def task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def container_of(task: dict, name: str) -> dict:
    return next((c for c in task.get("containers", []) if c.get("name") == name), {})


def command_of(task: dict, container: str) -> list[str]:
    """The command override of `container` in a task (DescribeTasks or a RunTask request)."""
    for override in (task.get("overrides") or {}).get("containerOverrides") or []:
        if override.get("name") == container:
            return [str(a) for a in override.get("command") or []]
    return []


def is_s3_run(command: list[str]) -> bool:
    """The bonus's S3 mode: `classifier.py s3://bucket/in.jpg s3://bucket/out.json`."""
    return sum(1 for arg in command if arg.startswith("s3://")) >= 2


def task_ips(task: dict) -> set[str]:
    return {d.get("value") for a in task.get("attachments", []) for d in a.get("details", [])
            if d.get("name") == "privateIPv4Address" and d.get("value")}


# ---- ECR, ELB, S3, EC2, IAM ---------------------------------------------------------

def image(tier: AwsWorld, repository: str, tag: str = "latest") -> dict | None:
    try:
        found = tier.client("ecr").describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as error:
        if error_code(error) in {"RepositoryNotFoundException", "ImageNotFoundException"}:
            return None
        raise
    return found["imageDetails"][0] if found.get("imageDetails") else None


def repository_exists(tier: AwsWorld, repository: str) -> bool:
    try:
        tier.client("ecr").describe_repositories(repositoryNames=[repository])
        return True
    except ClientError as error:
        if error_code(error) == "RepositoryNotFoundException":
            return False
        raise


def image_manifest(tier: AwsWorld, repository: str, tag: str = "latest") -> dict | None:
    """The image's manifest (BatchGetImage: a read), parsed, or None."""
    try:
        found = tier.client("ecr").batch_get_image(
            repositoryName=repository, imageIds=[{"imageTag": tag}],
            acceptedMediaTypes=["application/vnd.docker.distribution.manifest.v2+json",
                                "application/vnd.docker.distribution.manifest.list.v2+json",
                                "application/vnd.oci.image.manifest.v1+json",
                                "application/vnd.oci.image.index.v1+json"])
    except ClientError:
        return None
    for item in found.get("images", []):
        try:
            return json.loads(item.get("imageManifest") or "")
        except ValueError:
            return None
    return None


def load_balancer(tier: AwsWorld) -> dict | None:
    try:
        found = tier.client("elbv2").describe_load_balancers(Names=[LOAD_BALANCER])["LoadBalancers"]
    except ClientError as error:
        if error_code(error) in {"LoadBalancerNotFound", "LoadBalancerNotFoundException"}:
            return None
        raise
    return found[0] if found else None


def listeners(tier: AwsWorld, balancer_arn: str) -> list[dict]:
    try:
        return tier.client("elbv2").describe_listeners(LoadBalancerArn=balancer_arn)["Listeners"]
    except ClientError as error:
        if error_code(error) in {"LoadBalancerNotFound", "LoadBalancerNotFoundException"}:
            return []
        raise


def target_group(tier: AwsWorld) -> dict | None:
    try:
        found = tier.client("elbv2").describe_target_groups(Names=[TARGET_GROUP])["TargetGroups"]
    except ClientError as error:
        if error_code(error) in {"TargetGroupNotFound", "TargetGroupNotFoundException"}:
            return None
        raise
    return found[0] if found else None


def target_health(tier: AwsWorld, target_group_arn: str) -> list[dict]:
    try:
        return tier.client("elbv2").describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    except ClientError as error:
        if error_code(error) in {"TargetGroupNotFound", "TargetGroupNotFoundException"}:
            return []
        raise


def bucket_exists(tier: AwsWorld, bucket: str) -> bool:
    try:
        tier.client("s3").head_bucket(Bucket=bucket)
        return True
    except ClientError as error:
        if error_code(error) in {"404", "NoSuchBucket", "NotFound"}:
            return False
        raise


def s3_object(tier: AwsWorld, bucket: str, key: str) -> tuple[dict, bytes] | None:
    """(HeadObject metadata, body) of a small object, or None when it does not exist."""
    s3 = tier.client("s3")
    try:
        found = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}:
            return None
        raise
    with found["Body"] as body:
        return found, body.read(1_000_000)


def security_groups(tier: AwsWorld) -> dict[str, str]:
    """name -> id of the lab's security groups that exist."""
    found = tier.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": list(SECURITY_GROUPS)}])["SecurityGroups"]
    return {g["GroupName"]: g["GroupId"] for g in found}


def role_exists(tier: AwsWorld, role: str) -> bool:
    try:
        tier.client("iam").get_role(RoleName=role)
        return True
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return False
        raise


def log_group_exists(tier: AwsWorld, group: str) -> bool:
    found = tier.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return any(g["logGroupName"] == group for g in found)


# ---- CloudWatch Logs: the classifier's output -------------------------------------

def log_lines(tier: AwsWorld, group: str, stream: str, max_pages: int = 20) -> list[str] | None:
    """Every message of a log stream, oldest first; None when the stream does not exist."""
    logs = tier.client("logs")
    kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    lines: list[str] = []
    for _ in range(max_pages):
        try:
            page = logs.get_log_events(**kwargs)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise
        lines += [e.get("message", "") for e in page.get("events", [])]
        token = page.get("nextForwardToken")
        if not token or token == kwargs.get("nextToken"):
            break
        kwargs["nextToken"] = token
    return lines


def recent_streams(tier: AwsWorld, group: str, prefix: str, limit: int = 5) -> list[dict]:
    """The newest log streams of `group` whose name starts with `prefix`."""
    try:
        found = tier.client("logs").describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)["logStreams"]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return []
        raise
    return sorted(found, key=lambda s: s.get("lastEventTimestamp") or s.get("creationTime") or 0, reverse=True)[:limit]


def result_problems(document: Any, lang: str = "fr") -> list[str]:
    """What makes `document` not a successful result document (empty list: it is one)."""
    def say(fr: str, en: str) -> str:
        return Text(fr, en)(lang)

    if document is None:
        return [say("pas de document résultat", "no result document")]
    if not isinstance(document, dict):
        return [say("pas un objet JSON", "not a JSON object")]
    problems = []
    predictions = document.get("predictions")
    if not isinstance(predictions, list) or not predictions:
        problems.append(say("predictions vide ou absent", "predictions empty or missing"))
    elif not all(isinstance(p, dict) and "label" in p and ("confidence" in p or "score" in p) for p in predictions):
        problems.append(say("label/confidence absents des prédictions", "label/confidence missing in predictions"))
    if not (isinstance(document.get("processing"), dict) and document["processing"].get("success") is True):
        problems.append(say("processing.success n'est pas true", "processing.success is not true"))
    return problems


@dataclass
class ClassifierRun:
    """One run of the classifier task: seen in ECS (stopped, kept ~1 h) or in CloudTrail (RunTask)."""

    task_arn: str
    command: list[str]
    started: datetime | None
    exit_code: int | None = None
    stopped_reason: str = ""
    visible_in_ecs: bool = False
    task_definition_arn: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def s3_mode(self) -> bool:
        return is_s3_run(self.command)


def classifier_runs(tier: AwsWorld) -> list[ClassifierRun]:
    """Every known run of the classifier, newest first: stopped tasks still kept by ECS, then
    (CloudTrail evidence) RunTask calls of the image-classifier family whose task ECS no longer shows."""
    return tier.once("classifier_runs", lambda: _classifier_runs(tier))


def _classifier_runs(tier: AwsWorld) -> list[ClassifierRun]:
    runs: dict[str, ClassifierRun] = {}
    for task in tasks(tier, desired_status="STOPPED", family=CLASSIFIER_FAMILY):
        if task.get("lastStatus") != "STOPPED":
            continue
        container = container_of(task, CLASSIFIER_CONTAINER)
        runs[task["taskArn"]] = ClassifierRun(
            task_arn=task["taskArn"], command=command_of(task, CLASSIFIER_CONTAINER),
            started=task.get("startedAt") or task.get("createdAt"), exit_code=container.get("exitCode"),
            stopped_reason=task.get("stoppedReason", ""), visible_in_ecs=True,
            task_definition_arn=task.get("taskDefinitionArn", ""))
    for event in tier.trail_events("RunTask", "ecs.amazonaws.com"):
        if event.error_code:
            continue
        definition = str(event.request.get("taskDefinition", ""))
        if definition.rsplit("/", 1)[-1].rsplit(":", 1)[0] != CLASSIFIER_FAMILY:
            continue
        command = command_of(event.request, CLASSIFIER_CONTAINER)
        for launched in event.response.get("tasks") or []:
            arn = launched.get("taskArn")
            if arn and arn not in runs:
                runs[arn] = ClassifierRun(task_arn=arn, command=command, started=event.time,
                                          task_definition_arn=launched.get("taskDefinitionArn", definition))
    return sorted(runs.values(), key=lambda r: r.started.timestamp() if r.started else 0, reverse=True)


def run_log_lines(tier: AwsWorld, run: ClassifierRun) -> tuple[str, str, list[str] | None]:
    """(group, stream, lines) of a run's classifier container, from its task definition's awslogs options."""
    group, prefix = CLASSIFIER_LOG_GROUP, "ecs"
    definition = None
    if run.task_definition_arn:
        try:
            definition = tier.client("ecs").describe_task_definition(
                taskDefinition=run.task_definition_arn)["taskDefinition"]
        except ClientError:
            definition = None
    for container in (definition or {}).get("containerDefinitions", []):
        if container.get("name") == CLASSIFIER_CONTAINER:
            options = (container.get("logConfiguration") or {}).get("options") or {}
            group = options.get("awslogs-group", group)
            prefix = options.get("awslogs-stream-prefix", prefix)
    stream = f"{prefix}/{CLASSIFIER_CONTAINER}/{task_id(run.task_arn)}"
    return group, stream, log_lines(tier, group, stream)
