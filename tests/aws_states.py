"""Account states for the aws tier's tests, on a moto server standing in for AWS.

One `MotoServer` (moto.server.ThreadedMotoServer, in this process) per test module; each
prepared state lives in its own moto account (moto maps an IAM access key to its account),
so states never see each other and need no reset. The states are made the way a student
makes them: the lab's own commands and code (ecslab.stacks.deploy_lab_stacks,
ecslab.taskdef, ecslab.cleanup.Cleaner, the reference ImageClassifierOperations), the
handout's API calls for the rest.

What moto cannot do, and how it is bridged here (in this process, where the server runs):
- CloudTrail LookupEvents is not implemented: `CloudTrailEmulator` answers it from the
  write calls that the "student" sessions made (recorded by a botocore hook, as CloudTrail
  records management events: request parameters, response elements, error code).
- ECS services launch no tasks: the service's tasks are started with RunTask by an
  "internal" session (not recorded in CloudTrail, as ECS's own scheduling is not), with the
  group `service:web-service`, and the service's runningCount is set in the backend.
- ECS tasks advance one state per DescribeTasks and always exit with 0: moto's state manager
  keeps them where they are (a manual transition that never comes), and their status, exit
  code and stopped reason are set in the backend.
- Nothing runs in a task: the classifier's output is written to CloudWatch Logs as the
  awslogs driver would (grader.evidence.awslogs), and the S3 result object is put directly.
- RunTask crashes on Fargate containers without their own memory (the harness's patch).
- The ALB does not route: `WebAppFleet` runs the real web app (containers/web-app/app.py)
  as local processes with a fake task metadata endpoint (each answers with the taskArn of
  one of the service's moto tasks) behind a round-robin proxy; the tier reaches it through
  ECS_LAB_ALB_ENDPOINT (honoured only with AWS_ENDPOINT_URL set).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import http.client
import io
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import botocore.loaders
import botocore.session

import ecslab.cleanup
import ecslab.stacks
from ecslab.cleanup import Cleaner
from standin import moto_bridge
from standin.cloudtrail import EventHistory
from ecslab.console import Console
from ecslab.stacks import deploy_lab_stacks
from ecslab.submission import load_module
from ecslab.taskdef import fill_web_task_definition, load_task_definition
from grader.tiers.aws.readonly import is_read_operation
from grader.evidence import awslogs

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
CLUSTER = "ecs-lab-cluster"
SERVICE = "web-service"
TIGER_URL = "https://huggingface.co/datasets/Xenova/transformers.js-docs/resolve/main/tiger.jpg"
_FAST = {"Delay": 0, "MaxAttempts": 3}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------
# CloudTrail's event history


class CloudTrailEmulator(EventHistory):
    """standin.cloudtrail's event history, filled with the write calls of the attached ("student")
    sessions (a botocore hook: request parameters, response elements, error code)."""

    def attach(self, session: boto3.Session, account_id: str, user: str = "student") -> None:
        def remember(params: dict, context: dict, **_: Any) -> None:
            context["trail_params"] = copy.deepcopy(params)

        def record(http_response, parsed: dict, model, context: dict, **_: Any) -> None:
            service = model.service_model
            if is_read_operation(service.service_name, model.name) or service.service_name == "sts":
                return
            self.record(account_id, REGION, event_name=model.name,
                        source=f"{service.endpoint_prefix}.amazonaws.com",
                        request=context.get("trail_params") or {},
                        response={k: v for k, v in parsed.items() if k not in ("ResponseMetadata", "Error")},
                        error_code=(parsed.get("Error") or {}).get("Code"), user=user)

        session.events.register("before-parameter-build", remember, unique_id="trail-remember")
        session.events.register("after-call", record, unique_id="trail-record")


# ---------------------------------------------------------------------------
# The moto server

_LOADER = botocore.loaders.create_loader()  # service models parsed once for every session
_ACCOUNT_IDS = itertools.count(210987650001)


def _session(access_key: str, secret_key: str) -> boto3.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                         region_name=REGION)



@dataclass
class Account:
    """A moto account with its own credentials; `session` is the student's (recorded in CloudTrail),
    `internal` stands for AWS's own actions (ECS scheduling: not in CloudTrail)."""

    id: str
    access_key: str
    secret_key: str
    session: boto3.Session
    internal: boto3.Session
    outputs: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=REGION)
        return self._clients[service]


class MotoServer:
    """A moto server on 127.0.0.1 for one test module, and the bridges over moto's gaps."""

    def __init__(self, cloudtrail: bool = True) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.trail = CloudTrailEmulator()
        self.cloudtrail = cloudtrail  # False: LookupEvents fails as on a bare local endpoint
        self._stack = ExitStack()

    def __enter__(self) -> MotoServer:
        from moto.moto_api import state_manager
        from moto.server import ThreadedMotoServer

        from standin import moto_bridge

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        stack = self._stack
        # moto as AWS for the lab (standin.moto_bridge), and CloudTrail's LookupEvents answered from
        # the calls the students' sessions made.
        stack.enter_context(moto_bridge.bridged(lookup_events=self.trail.lookup if self.cloudtrail else None))
        # Tasks stay where set_task puts them (moto advances them one state per DescribeTasks).
        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})
        stack.callback(state_manager.unset_transition, "ecs::task")
        # The lab's commands poll with waiters: moto answers at once.
        stack.enter_context(mock.patch.object(ecslab.stacks, "STACK_WAITER_CONFIG", _FAST))
        stack.enter_context(mock.patch.object(ecslab.cleanup, "ECS_WAITER_CONFIG", _FAST))
        stack.enter_context(mock.patch.object(ecslab.cleanup, "ELB_WAITER_CONFIG", _FAST))
        stack.enter_context(mock.patch.object(ecslab.cleanup, "TARGET_GROUP_RETRY_DELAY", 0.0))
        environ = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_DEFAULT_REGION": REGION}
        stack.enter_context(mock.patch.dict(os.environ, environ))
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            if name in os.environ:
                stack.enter_context(mock.patch.dict(os.environ))
                os.environ.pop(name)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        stack.callback(server.stop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def account(self) -> Account:
        """A fresh account: an IAM user and access key made in the backend, sessions on the server."""
        from moto.iam.models import iam_backends

        account_id = str(next(_ACCOUNT_IDS))  # never twice in this process: moto's backends are global
        iam = iam_backends[account_id]["aws"]
        iam.create_user(region_name=REGION, user_name="student", path="/")
        key = iam.create_access_key("student")
        session, internal = (_session(key.access_key_id, key.secret_access_key) for _ in range(2))
        self.trail.attach(session, account_id)
        return Account(account_id, key.access_key_id, key.secret_access_key, session, internal)

    # ---- the backend, in this process -----------------------------------------

    @staticmethod
    def ecs_backend(account: Account):
        from moto.ecs.models import ecs_backends

        return ecs_backends[account.id][REGION]

    def task(self, account: Account, task_arn: str):
        for tasks in self.ecs_backend(account).tasks.values():
            if task_arn in tasks:
                return tasks[task_arn]
        raise KeyError(task_arn)

    def set_task(self, account: Account, task_arn: str, status: str, *, exit_code: int | None = 0,
                 reason: str = "") -> None:
        """Put a task in `status`, with its container's exit code (moto's state manager keeps it there)."""
        task = self.task(account, task_arn)
        task.status = status
        task.desired_status = "STOPPED" if status == "STOPPED" else "RUNNING"
        task.stopped_reason = reason
        for container in task.containers:
            container.last_status = status
            container.exitCode = exit_code if status == "STOPPED" else None

    def forget_task(self, account: Account, task_arn: str) -> None:
        """ECS forgets stopped tasks after about an hour."""
        for tasks in self.ecs_backend(account).tasks.values():
            tasks.pop(task_arn, None)

    def environment(self, account: Account | None, **extra: str) -> dict[str, str]:
        """The environment of a tier run on `account` (no credentials at all when None)."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_LAB_")) and k != "CI"}
        environ.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                       AWS_EC2_METADATA_DISABLED="true", PYTHONDONTWRITEBYTECODE="1")
        if account is not None:
            environ.update(AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID=account.access_key,
                           AWS_SECRET_ACCESS_KEY=account.secret_key)
        environ.update(extra)
        return environ


# ---------------------------------------------------------------------------
# A run of the aws tier


@dataclass
class TierRun:
    code: int
    output: str
    report: dict
    tier: dict | None
    report_dir: Path
    extra: dict = field(default_factory=dict)  # what the test needs to know of the state

    def checkpoint(self, checkpoint_id: str) -> dict:
        return next(c for c in self.report["checkpoints"] if c["id"] == checkpoint_id)

    def grades(self) -> dict[str, tuple[str, float]]:
        """checkpoint -> (status, score) for the checkpoints the aws tier can verify."""
        aws = {c["id"] for c in self.report["checkpoints"] if any(ch["tier"] == "aws" for ch in c["checks"])}
        return {c["id"]: (c["status"], c["score"]) for c in self.report["checkpoints"] if c["id"] in aws}

    def text(self) -> str:
        """Everything the run wrote (reports, tier file, terminal)."""
        files = "".join(p.read_text(encoding="utf-8") for p in sorted(self.report_dir.iterdir()) if p.is_file())
        return files + self.output

    def save(self, path: Path) -> None:
        """Kept beside the reports, for another process (an xdist worker) to load."""
        data = {"code": self.code, "output": self.output, "report_dir": str(self.report_dir), "extra": self.extra}
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(data), encoding="utf-8")
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> "TierRun":
        data = json.loads(path.read_text(encoding="utf-8"))
        report_dir = Path(data["report_dir"])
        tier_file = report_dir / "aws-tier.json"
        return cls(data["code"], data["output"], json.loads((report_dir / "report.json").read_text(encoding="utf-8")),
                   json.loads(tier_file.read_text(encoding="utf-8")) if tier_file.is_file() else None, report_dir,
                   data["extra"])


def tier_command(stage: str, report_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "--tier=aws", f"--stage={stage}", f"--report-dir={report_dir}",
            "-p", "no:cacheprovider", "-q", *args]


def start_tier(environment: dict[str, str], stage: str, report_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(tier_command(stage, report_dir, *args), cwd=PROJECT_ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_tier(process: subprocess.Popen, report_dir: Path, timeout: float = 240) -> TierRun:
    output, _ = process.communicate(timeout=timeout)
    report_file = report_dir / "report.json"
    assert report_file.is_file(), f"no report (exit {process.returncode}):\n{output[-4000:]}"
    tier_file = report_dir / "aws-tier.json"
    return TierRun(process.returncode, output, json.loads(report_file.read_text(encoding="utf-8")),
                   json.loads(tier_file.read_text(encoding="utf-8")) if tier_file.is_file() else None, report_dir)


# ---------------------------------------------------------------------------
# The student's steps


def manifest(tag: str, platforms: list[str] | None = None) -> str:
    """An image manifest (an index when platforms are given, as `docker buildx` pushes)."""
    digest = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
    if platforms:
        return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": digest,
             "platform": {"os": p.split("/")[0], "architecture": p.split("/")[1]}} for p in platforms]})
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                                  "digest": digest}, "layers": []})


def deploy(account: Account) -> dict[str, str]:
    """Step 2 (ecs-lab deploy)."""
    account.outputs = deploy_lab_stacks(account.session)
    return account.outputs


def create_cluster(account: Account, providers=("FARGATE",), strategy=(("FARGATE", 1),)) -> None:
    """Step 3."""
    account.client("ecs").create_cluster(
        clusterName=CLUSTER, capacityProviders=list(providers),
        defaultCapacityProviderStrategy=[{"capacityProvider": p, "weight": w} for p, w in strategy])


def push(account: Account, repository: str, platforms: list[str] | None = None) -> None:
    """Steps 4 and 10: the image's manifest under the tag latest (what `docker push` leaves)."""
    account.client("ecr").put_image(repositoryName=repository, imageManifest=manifest(repository, platforms),
                                    imageTag="latest")


def register_web_task_definition(account: Account, **changes: Any) -> str:
    """Step 5 (ecs-lab update-task-definitions --register), with optional `changes` to the document."""
    outputs = account.outputs
    document = fill_web_task_definition(
        load_task_definition(PROJECT_ROOT / "resources" / "web-service-task-definition.json"),
        account_id=account.id, execution_role_arn=outputs["ECSTaskExecutionRoleArn"],
        task_role_arn=outputs["WebAppTaskRoleArn"], image=f"{outputs['WebAppECRRepository']}:latest", region=REGION)
    document.update(changes)
    return account.client("ecs").register_task_definition(**document)["taskDefinition"]["taskDefinitionArn"]


def _network(account: Account) -> dict:
    return {"awsvpcConfiguration": {"subnets": account.outputs["SubnetIds"].split(",")[:2],
                                    "securityGroups": [account.outputs["ECSSecurityGroup"]],
                                    "assignPublicIp": "ENABLED"}}


def create_web_service(server: MotoServer, account: Account, running: int = 2) -> list[str]:
    """Step 6 (create-service), then what ECS does: `running` tasks in the service, targets registered."""
    ecs = account.client("ecs")
    service = ecs.create_service(
        cluster=CLUSTER, serviceName=SERVICE, taskDefinition="ecs-web-app", desiredCount=2, launchType="FARGATE",
        networkConfiguration=_network(account),
        loadBalancers=[{"targetGroupArn": account.outputs["TargetGroup"], "containerName": "web-app",
                        "containerPort": 3000}])["service"]
    deployment = service["deployments"][0]["id"] if service.get("deployments") else "ecs-svc/1"
    internal = account.internal.client("ecs", region_name=REGION)
    task_arns = []
    for _ in range(running):
        task = internal.run_task(cluster=CLUSTER, taskDefinition=service["taskDefinition"], launchType="FARGATE",
                                 networkConfiguration=_network(account), group=f"service:{SERVICE}",
                                 startedBy=deployment)["tasks"][0]
        server.set_task(account, task["taskArn"], "RUNNING")
        task_arns.append(task["taskArn"])
    described = internal.describe_tasks(cluster=CLUSTER, tasks=task_arns)["tasks"] if task_arns else []
    addresses = [d["value"] for t in described for a in t.get("attachments", []) for d in a["details"]
                 if d["name"] == "privateIPv4Address"]
    if addresses:
        account.internal.client("elbv2", region_name=REGION).register_targets(
            TargetGroupArn=account.outputs["TargetGroup"], Targets=[{"Id": ip, "Port": 3000} for ip in addresses])
    backend_service = server.ecs_backend(account).services[f"{CLUSTER}:{SERVICE}"]
    backend_service.running_count = running
    backend_service.pending_count = 2 - running
    account.notes["web_tasks"] = task_arns
    return task_arns


def cleanup_step8(server: MotoServer, account: Account) -> None:
    """Step 8 (ecs-lab cleanup-step8); ECS then stops the service's tasks."""
    for task_arn in account.notes.get("web_tasks", []):
        server.set_task(account, task_arn, "STOPPED", exit_code=0, reason="Scaling activity initiated by deployment")
    server.ecs_backend(account).services[f"{CLUSTER}:{SERVICE}"].running_count = 0
    Cleaner(account.session, Console(out=io.StringIO(), err=io.StringIO())).step8()


def final_cleanup(account: Account) -> None:
    """The final clean-up (ecs-lab cleanup)."""
    Cleaner(account.session, Console(out=io.StringIO(), err=io.StringIO())).everything()


def reference_operations(account: Account):
    module = load_module(PROJECT_ROOT / "reference", "image_classifier_operations")
    return module.ImageClassifierOperations(region=REGION, session=account.session)


def run_classifier(server: MotoServer, account: Account, *, exit_code: int = 0, s3: bool = False,
                   register: bool = True) -> str:
    """Step 12 (or bonus step 4) with the reference code: register, run; then the task's life as
    ECS and the awslogs driver would leave it (stopped with `exit_code`, its output in the logs)."""
    with contextlib.redirect_stdout(io.StringIO()):  # the reference code reports what it does
        return _run_classifier(server, account, exit_code=exit_code, s3=s3, register=register)


def _run_classifier(server: MotoServer, account: Account, *, exit_code: int, s3: bool, register: bool) -> str:
    ops = reference_operations(account)
    outputs = account.outputs
    if register:
        account.notes["classifier_td"] = ops.register_image_classifier_task_definition(
            f"{outputs['ClassifierECRRepository']}:latest", outputs["ImageClassifierTaskRoleArn"],
            outputs["ECSTaskExecutionRoleArn"])
    subnets, group = outputs["SubnetIds"].split(",")[:2], outputs["ECSSecurityGroup"]
    bucket = outputs["S3Bucket"]
    source = f"s3://{bucket}/input/image.jpg" if s3 else TIGER_URL
    if s3:
        task_arn = ops.run_s3_classification_task(CLUSTER, account.notes["classifier_td"], subnets, group, source,
                                                  f"s3://{bucket}/output/result.json")
    else:
        task_arn = ops.run_image_classification_task(CLUSTER, account.notes["classifier_td"], subnets, group, source)
    document = awslogs.result_document(source)
    if exit_code == 0:
        lines = awslogs.classifier_output(document, noise_lines=3)
        if s3:
            account.internal.client("s3", region_name=REGION).put_object(
                Bucket=bucket, Key="output/result.json", Body=json.dumps(document).encode())
    else:
        lines = [f"Téléchargement de l'image : {source}", "Erreur : impossible de télécharger l'image (HTTP 403)"]
    awslogs.write_container_output(moto_bridge.Backends(account.id, REGION), task_arn, lines)
    server.set_task(account, task_arn, "STOPPED", exit_code=exit_code,
                    reason="Essential container in task exited")
    return task_arn


# ---------------------------------------------------------------------------
# The ALB's targets: the real web app, behind a round-robin proxy


class _Metadata(BaseHTTPRequestHandler):
    """ECS task metadata endpoint v4 of one task: /<n> (container) and /<n>/task."""

    tasks: list[str] = []

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        arn = self.tasks[int(parts[0])]
        body = {"TaskARN": arn, "Family": "ecs-web-app", "Revision": "1", "Cluster": CLUSTER,
                "AvailabilityZone": f"{REGION}{'abc'[int(parts[0]) % 3]}", "LaunchType": "FARGATE",
                "DesiredStatus": "RUNNING", "KnownStatus": "RUNNING"} if parts[1:] == ["task"] else \
            {"Name": "web-app", "DockerId": parts[0], "Image": "web-app:latest"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class _Proxy(BaseHTTPRequestHandler):
    """The ALB: each request goes to the next target (round robin)."""

    targets: itertools.cycle

    def do_GET(self) -> None:
        port = next(self.targets)
        upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            upstream.request("GET", self.path, headers={"Host": self.headers.get("Host", "")})
            response = upstream.getresponse()
            data = response.read()
            status = response.status
        except OSError:
            data, status = b"<html>502 Bad Gateway</html>", 502
        finally:
            upstream.close()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class WebAppFleet:
    """`python containers/web-app/app.py` once per task, behind a local stand-in for the ALB."""

    def __init__(self, task_arns: list[str]) -> None:
        self.task_arns = task_arns
        self._stack = ExitStack()
        self.address = ""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> int:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._stack.callback(server.server_close)
        self._stack.callback(server.shutdown)
        return server.server_address[1]

    def __enter__(self) -> WebAppFleet:
        metadata = self._serve(type("Metadata", (_Metadata,), {"tasks": list(self.task_arns)}))
        ports = []
        for index in range(len(self.task_arns)):
            port = free_port()
            environ = {**os.environ, "PORT": str(port),
                       "ECS_CONTAINER_METADATA_URI_V4": f"http://127.0.0.1:{metadata}/{index}"}
            process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "containers" / "web-app" / "app.py")],
                                       env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self._stack.callback(_stop, process)
            ports.append(port)
        for port in ports:
            _wait_for(port)
        proxy = self._serve(type("Proxy", (_Proxy,), {"targets": itertools.cycle(ports)}))
        self.address = f"127.0.0.1:{proxy}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
        finally:
            connection.close()
    raise TimeoutError(f"web app on port {port} did not start")
