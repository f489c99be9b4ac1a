"""The local tier: real Docker, real containers, and an ECS that really runs the task.

One world for the whole tier (package scope, so it is gone before another tier runs):
the images built from the SUBMISSION (the classifier with the student's ``s3_io.py`` and
the EfficientNet-Lite0 test model, and the lab's web application), a moto server with the
local ECS hooked in (ecslab.local_ecs), the lab's two stacks deployed into it, the cluster
of step 3, both images published to the ECR stand-in under the stacks' repository URIs,
and a photo server the containers reach. Boto3 in this process (the student's code)
talks to the moto server through ``AWS_ENDPOINT_URL``.

Without Docker (or a base image, or the test model) the tier is not graded, with the
reason; in CI (CI=true) that is a failure. Every container and network is removed at the
end, also after a failed or timed-out check or Ctrl-C; SIGTERM is handled as Ctrl-C.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest

from grader.plugin import record_note

from grader.feedback import Text
from grader.harness import student
from grader.harness.lab import CLASSIFIER_LOG_GROUP

from .support import (
    CLUSTER,
    LOCAL_BASE,
    REGION,
    SETUP_HINT,
    BuiltImages,
    PhotoServer,
    SharedRun,
    build_images,
    endless_guard,
    setup_settings,
    tier_unavailable,
)

images_key = pytest.StashKey[BuiltImages]()
_AWS_VARIABLES_TO_HIDE = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                          "AWS_ENDPOINT_URL_ECS", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_ECR",
                          "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL_STS", "AWS_CA_BUNDLE")


@dataclass
class LocalWorld:
    ecs: Any  # ecslab.local_ecs.LocalEcs
    outputs: dict[str, str]
    images: BuiltImages
    photos: PhotoServer
    shared: dict[str, SharedRun] = field(default_factory=dict)
    hung: set[str] = field(default_factory=set)  # student functions that never returned (see endless_guard)

    @property
    def subnets(self) -> list[str]:
        return self.outputs["SubnetIds"].split(",")[:2]

    @property
    def security_group(self) -> str:
        return self.outputs["ECSSecurityGroup"]

    @property
    def bucket(self) -> str:
        return self.outputs["S3Bucket"]

    @property
    def classifier_uri(self) -> str:
        return f"{self.outputs['ClassifierECRRepository']}:latest"

    def client(self, service: str) -> Any:
        return self.ecs.client(service)

    def shared_run(self, name: str) -> SharedRun:
        return self.shared.setdefault(name, SharedRun())

    def call(self, function: str, outcome_only: bool, target: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the student's `function` (a method of `target`), guarded against endless calls.

        Returns student.call's value, or student.outcome's (value, error) with `outcome_only`.
        """
        method = student.method(target, function)
        with endless_guard(self.hung, function):
            if outcome_only:
                return student.outcome(Text(function, function), method, *args, **kwargs)
            return student.call(Text(function, function), method, *args, **kwargs)

    def register_classifier(self, image: str | None = None) -> str:
        """The harness's own (correct) classifier task definition, as step 11a asks."""
        response = self.client("ecs").register_task_definition(
            family="image-classifier", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu="1024", memory="2048", taskRoleArn=self.outputs["ImageClassifierTaskRoleArn"],
            executionRoleArn=self.outputs["ECSTaskExecutionRoleArn"],
            containerDefinitions=[{
                "name": "image-classifier", "image": image or self.classifier_uri, "essential": True,
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": CLASSIFIER_LOG_GROUP, "awslogs-region": REGION,
                    "awslogs-stream-prefix": "ecs"}},
            }])
        return response["taskDefinition"]["taskDefinitionArn"]

    def describe(self, task_arn: str) -> dict:
        """The task as DescribeTasks reports it ({} for a task the local ECS does not know)."""
        tasks = self.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"]
        return tasks[0] if tasks else {}

    def wait_stopped(self, task_arn: str, timeout: float = 120) -> dict:
        try:
            self.ecs.wait_stopped(task_arn, timeout)
        except KeyError:
            pass  # not a task of the local ECS (a wrong ARN from the student's code): judged by the check
        return self.describe(task_arn)


def _report(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.getplugin("terminalreporter")
    capture = config.pluginmanager.getplugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(f"[tier local] {line}")


@pytest.fixture(scope="package")
def docker_client(pytestconfig: pytest.Config) -> Iterator[Any]:
    try:
        import docker

        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        tier_unavailable(pytestconfig, f"Tier local non évalué : aucun moteur Docker ne répond sur cette machine "
                                       f"({type(exc).__name__}: {str(exc)[:160]}) ; {SETUP_HINT}.")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="package")
def built_images(pytestconfig: pytest.Config, docker_client: Any, submission) -> BuiltImages:
    from docker.errors import ImageNotFound

    settings = setup_settings()
    base = settings.get("ECS_LAB_BASE_IMAGE")
    if base is None:
        try:
            docker_client.images.get(LOCAL_BASE)
            base = LOCAL_BASE
        except ImageNotFound:
            base = None  # the Dockerfiles' public default (python:3.11-slim), pulled by the build
    elif base == LOCAL_BASE:
        try:
            docker_client.images.get(base)
        except ImageNotFound:
            tier_unavailable(pytestconfig, f"Tier local non évalué : l'image de base {base} est absente du "
                                           f"moteur Docker ; {SETUP_HINT}.")
    network = "host" if settings.get("ECS_LAB_BUILD_NETWORK") == "host" else None
    _report(pytestconfig, "construction des images (classificateur avec votre s3_io.py, application web)...")
    try:
        images = build_images(docker_client, submission.path, base, network)
    except Exception as exc:  # noqa: BLE001 - a build problem is the machine's, never the student's
        tier_unavailable(pytestconfig, f"Tier local non évalué : construction des images impossible ici : "
                                       f"{str(exc)[-400:]}")
    pytestconfig.stash[images_key] = images
    _report(pytestconfig, images.summary())
    record_note(pytestconfig, images.summary())  # image sizes in the reports too
    return images


@pytest.fixture(scope="package")
def local_world(pytestconfig: pytest.Config, docker_client: Any, built_images: BuiltImages) -> Iterator[LocalWorld]:
    from ecslab.local_ecs import LocalEcs
    from ecslab.local_ecs.runner import RunSettings
    from ecslab.stacks import deploy_lab_stacks

    settings = RunSettings(task_time_limit_s=180, stop_timeout_s=5, health_check_interval_cap_s=2)
    with LocalEcs(docker_client, region=REGION, settings=settings) as ecs, \
            mock.patch.dict(os.environ, {**ecs.environment(), "AWS_CONFIG_FILE": os.devnull,
                                         "AWS_SHARED_CREDENTIALS_FILE": os.devnull}):
        for name in _AWS_VARIABLES_TO_HIDE:
            os.environ.pop(name, None)
        session = ecs.session()
        outputs = deploy_lab_stacks(session)
        ecs.client("ecs").create_cluster(
            clusterName=CLUSTER, capacityProviders=["FARGATE"],
            defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])
        ecs.registry.publish(built_images.classifier, outputs["ClassifierECRRepository"], "latest")
        ecs.registry.publish(built_images.web, outputs["WebAppECRRepository"], "latest")
        photos = PhotoServer(ecs.address.bind, ecs.address.for_containers)
        try:
            yield LocalWorld(ecs=ecs, outputs=outputs, images=built_images, photos=photos)
        finally:
            photos.close()


@dataclass
class LocalAccount:
    session: Any  # boto3.Session


@pytest.fixture
def account(local_world: LocalWorld) -> LocalAccount:
    """The student's session: plain boto3, on the moto server of the local ECS (AWS_ENDPOINT_URL)."""
    import boto3

    return LocalAccount(session=boto3.Session(region_name=REGION))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    images = config.stash.get(images_key, None)
    if images is not None:
        terminalreporter.write_line(f"[tier local] {images.summary()}")
