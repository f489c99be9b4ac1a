"""The offline tier's world: moto behind a server the scorer owns, a Docker engine of its own,
and the student's worker; :meth:`OfflineWorld.reset` gives each check a clean account.

- moto runs in this process twice over: the scorer's own clients reach it in-process
  (``mock_aws``: fast, and never mistaken for the student), the student's code reaches it over
  HTTP through :class:`~grader.evidence.aws_requests.AwsRequests`, which records every request
  as received and plays the check's scenario;
- the student's ``docker.DockerClient`` talks to :class:`~grader.evidence.docker_engine.DockerEngine`;
- the student's clock is the check's :class:`~grader.evidence.clock.VirtualClock`.
"""

from __future__ import annotations

import os

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from standin import moto_bridge
from ecslab.facts import ACCOUNT_ID, REGION
from standin.moto_server import MotoServer
from grader.evidence.aws_requests import STUDENT_KEY, AwsRequests, Scenario
from grader.evidence.clock import VirtualClock
from grader.evidence.docker_engine import DockerEngine, EngineState
from grader.tiers import base
from grader.submission import FORBIDDEN_DIRS, Submission
from grader.tiers.offline.provision import LabBase
from grader.worker import sandbox
from grader.worker.process import Endpoint, Worker, WorkerFailure

# Services whose state the checks change; reset between checks. EC2 and IAM (slow to set up:
# default VPC, roles) are kept for the whole tier and only read by the checks.
MUTABLE_SERVICES = ("ecs", "ecr", "logs", "s3", "cloudformation", "elbv2")
SCORER_KEY = "AKIASCORERINPROCESS0"
# The user's AWS configuration is never read (a profile's endpoint_url would send the scorer's
# calls past moto, e.g. to the sandbox of `ecs-lab sandbox env`, or to a real account).
_SCORER_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": SCORER_KEY, "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
_HIDDEN = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECS",
           "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS")


@dataclass
class Account(base.Account):
    """One check's clean account: the scenario on the server, the clock, and the Docker engine."""

    docker: EngineState | None = None

    @property
    def backends(self) -> moto_bridge.Backends:
        """moto's backends of this account: the scorer's own set-up, made without requests."""
        return moto_bridge.Backends(ACCOUNT_ID, REGION)


@dataclass
class OfflineWorld(base.World):
    submission: Submission
    base: LabBase | None = None
    worker_failure: WorkerFailure | None = None
    _stack: ExitStack = field(default_factory=ExitStack)
    _worker: Worker | None = None
    _starting: threading.Thread | None = None
    requests: AwsRequests | None = None
    engine: DockerEngine | None = None
    flags: list[str] = field(default_factory=list)  # what the student's code tried (see Student)
    endless: set[str] = field(default_factory=set)  # student functions that never returned
    real_waits: dict = field(default_factory=dict)  # student functions that waited in real time (not graded)
    call_time_limit_s: float = 15.0
    _session: Any = None

    def __enter__(self) -> "OfflineWorld":
        stack = self._stack
        try:
            stack.enter_context(scorer_environment())
            socket = sandbox.unix_sockets(stack)
            moto = MotoServer(region=REGION, wrap=self._record, unix_socket=socket("aws")).start()
            stack.callback(moto.stop)
            self.engine = DockerEngine(unix_socket=socket("docker")).start()
            stack.callback(self.engine.stop)
            self._worker = Worker(
                self.submission.files, region=REGION, clock="virtual",
                environment={"AWS_ACCESS_KEY_ID": STUDENT_KEY, "AWS_SECRET_ACCESS_KEY": "testing",
                             "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION},
                endpoints={"AWS_ENDPOINT_URL": Endpoint("127.0.0.1", moto.port, moto.unix_socket),
                           "DOCKER_HOST": Endpoint("127.0.0.1", self.engine.port, self.engine.unix_socket, "tcp")},
                forbidden_paths=list(FORBIDDEN_DIRS))
            stack.callback(self._worker.close)
            # The worker starts (Python, boto3, the submission's imports: half a second) while this
            # process imports moto's models and sets up the lab; the servers answer nothing meanwhile.
            self._starting = threading.Thread(target=self._start_worker, name="worker-start", daemon=True)
            self._starting.start()
            from moto import mock_aws

            stack.enter_context(moto_bridge.shared_models(REGION))
            stack.enter_context(mock_aws())
            stack.enter_context(moto_bridge.bridged())
            self.base = LabBase.provision(self.client)
        except BaseException:
            stack.close()
            raise
        return self

    def _record(self, app: Any) -> AwsRequests:
        """moto's application, behind the record of the student's requests."""
        self.requests = AwsRequests(app)
        return self.requests

    def _start_worker(self) -> None:
        try:
            self._worker.start()
        except WorkerFailure as failure:
            self.worker_failure = failure

    @property
    def worker(self) -> Worker:
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        if self.worker_failure is not None:
            raise self.worker_failure
        return self._worker

    def reset(self) -> Account:
        """A clean account for one check: mutable services reset, a new scenario and clock."""
        moto_bridge.reset(MUTABLE_SERVICES)
        clock = VirtualClock()
        scenario = Scenario(clock=clock)
        self.requests.scenario = scenario
        self.engine.state = EngineState(clock=clock)
        return Account(world=self, requests=scenario, clock=clock, docker=self.engine.state)

    @property
    def session(self) -> Any:
        """The scorer's own boto3 session (in-process moto); its clients are made once per process."""
        if self._session is None:
            self._session = moto_bridge.kept_session(SCORER_KEY, "testing", REGION)
        return self._session

    def client(self, service: str) -> Any:
        return self.session.client(service)

    @staticmethod
    def warm_up(services: tuple[str, ...]) -> None:
        """Make the scorer's clients of `services` now, their models parsed (a batch, before it forks:
        each run would otherwise make them again, a tenth of a CPU-second)."""
        with scorer_environment(), moto_bridge.shared_models(REGION):
            session = moto_bridge.kept_session(SCORER_KEY, "testing", REGION)
            for service in services:
                session.client(service)
            moto_bridge.list_models(session)

    def __exit__(self, *exc: Any) -> None:
        if self.requests is not None:
            self.requests.scenario = None
        self._stack.close()


@contextmanager
def scorer_environment() -> Iterator[None]:
    """The scorer's own AWS environment: its key, the lab's region, no profile, no endpoint of the user's."""
    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict("os.environ", _SCORER_ENVIRONMENT))
        for name in _HIDDEN:
            stack.enter_context(_unset(name))
        yield


@contextmanager
def _unset(name: str) -> Iterator[None]:
    import os

    with mock.patch.dict(os.environ):
        os.environ.pop(name, None)
        yield


__all__ = ["ACCOUNT_ID", "Account", "OfflineWorld"]
