"""The local tier's world: real Docker, real containers, and an ECS that really runs the task.

One world for the whole tier: the classifier image built from the submission (the lab's code
with the student's ``s3_io.py`` and the EfficientNet-Lite0 test model), a moto server with
the local ECS hooked in (standin.local_ecs), the lab's two stacks deployed into it, the
cluster of step 3, the image published to the ECR stand-in under the stack's classifier
repository URI, a photo server the containers reach, and the student's
worker (grader.worker) whose boto3 talks to that moto server, on the real clock: tasks
really run. Every container and network is removed at the end, also after a failed or
timed-out check or Ctrl-C.
"""

from __future__ import annotations

import os
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Callable
from unittest import mock

from ecslab.facts import CLUSTER, REGION
from grader.evidence.aws_requests import STUDENT_KEY, AwsRequests, Scenario
from grader.feedback import CheckFailed
from grader.tiers import base
from grader.submission import FORBIDDEN_DIRS, Submission
from grader.tiers.local.images import BuiltImages
from grader.tiers.local.photos import PhotoServer
from grader.tiers.offline.provision import classifier_task_definition
from grader.worker import sandbox
from grader.worker.process import Endpoint, Worker


_HIDDEN = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_ECS",
           "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL_STS",
           "AWS_CA_BUNDLE")


Account = base.Account  # one check's view: its record of the student's requests (real clock: no virtual time)


class SharedRun:
    """Runs ``work`` once for every check that needs it; a CheckFailed is kept and raised again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._value: Any = None
        self._failure: CheckFailed | None = None

    def get(self, work: Callable[[], Any]) -> Any:
        with self._lock:
            if not self._done:
                try:
                    self._value = work()
                except CheckFailed as failure:
                    self._failure = failure
                self._done = True
        if self._failure is not None:
            raise self._failure
        return self._value


@dataclass
class LocalWorld(base.World):
    submission: Submission
    docker: Any  # docker.DockerClient of the grader's engine
    images: BuiltImages
    ecs: Any = None  # standin.local_ecs.LocalEcs
    outputs: dict[str, str] = field(default_factory=dict)
    photos: PhotoServer | None = None
    worker: Worker | None = None
    requests: AwsRequests | None = None
    flags: list[str] = field(default_factory=list)
    endless: set[str] = field(default_factory=set)
    call_time_limit_s: float = 120.0
    shared: dict[str, SharedRun] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> "LocalWorld":
        from standin.local_ecs import LocalEcs
        from standin.local_ecs.runner import RunSettings
        from ecslab.stacks import deploy_lab_stacks

        stack = self._stack
        try:
            settings = RunSettings(task_time_limit_s=180, stop_timeout_s=5, health_check_interval_cap_s=2)
            self.ecs = stack.enter_context(LocalEcs(
                self.docker, region=REGION, settings=settings, moto_wrap=self._record,
                moto_unix_socket=sandbox.unix_sockets(stack)("aws")))
            # The scorer's own boto3 (the lab's deploy helper) reaches the local ECS's moto server.
            stack.enter_context(mock.patch.dict(os.environ, {
                **self.ecs.environment(), "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}))
            for name in _HIDDEN:
                os.environ.pop(name, None)
            outputs = deploy_lab_stacks(self.ecs.session())
            self.outputs = outputs
            self.client("ecs").create_cluster(
                clusterName=CLUSTER, capacityProviders=["FARGATE"],
                defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])
            self.ecs.registry.publish(self.images.classifier, outputs["ClassifierECRRepository"], "latest")
            self.photos = PhotoServer(self.ecs.address.bind, self.ecs.address.for_containers)
            stack.callback(self.photos.close)
            moto = self.ecs.moto
            self.worker = Worker(
                self.submission.files, region=REGION, clock="real",
                environment={"AWS_ACCESS_KEY_ID": STUDENT_KEY, "AWS_SECRET_ACCESS_KEY": "testing",
                             "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION},
                endpoints={"AWS_ENDPOINT_URL": Endpoint(self.ecs.address.for_host, moto.port, moto.unix_socket)},
                forbidden_paths=list(FORBIDDEN_DIRS))
            stack.callback(self.worker.close)
            self.worker.start()
        except BaseException:
            stack.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.requests is not None:
            self.requests.scenario = None
        self._stack.close()

    def _record(self, app: Any) -> AwsRequests:
        """moto's application, behind the record of the student's requests."""
        self.requests = AwsRequests(app)
        return self.requests

    def reset(self) -> Account:
        """A new record for one check (the local ECS keeps its state: tasks take seconds to run)."""
        scenario = Scenario(clock=None)
        self.requests.scenario = scenario
        return Account(world=self, requests=scenario)

    # --- the lab, as the scorer sees it -------------------------------------------------------
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

    def register_classifier(self, image: str | None = None) -> str:
        """The harness's own (correct) classifier task definition, as step 11a asks."""
        response = self.client("ecs").register_task_definition(**classifier_task_definition(
            image or self.classifier_uri, self.outputs["ImageClassifierTaskRoleArn"],
            self.outputs["ECSTaskExecutionRoleArn"]))
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
