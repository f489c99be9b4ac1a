"""``ecs-lab grade SUBMISSIONS --on ecs``: the instructor's side (the tasks' is grader.ecs.task).

    preflight: credentials → the grading stack (deployed when missing) → the grader's image in its
               repository (built and pushed when missing) → the task role may write the reports
               → the estimate (``--dry-run`` stops there; an error: one sentence, nothing started)
    run:       the staged submissions to S3 → one message each → N tasks (kept at N while work is
               left) → each outcome, as it lands, becomes the row of a local batch (grader.batch.cli)

A task that stops (OOM, a Spot interruption, ``docker kill``) loses nothing graded: what it held is
released at once (its claims name the messages) and taken by another task; a submission held by two
tasks that died goes to the dead-letter queue and its row says why, with the tasks' stop reasons.
Ctrl-C stops the tasks this command started and empties the queue; what was graded is kept.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.ecs import costs, protocol
from grader.ecs.stack import GradingStack, StackError
from grader.feedback import Text
from grader.runner import Finished, Job

FARGATE_CPUS = (0.25, 0.5, 1, 2, 4, 8, 16)
POLL_S = 1.0
STOP_WAIT_S = 120
FAILED_STARTS_LIMIT = 3  # tasks in a row that stop before grading anything: the run is abandoned
TRANSFER_THREADS = 8
RESEND_CHECK_S = 20  # how often the queue is checked for lost work


class LaunchError(Exception):
    """Bad input or an unusable account: said in one sentence (exit status 2), nothing started."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


@dataclass
class EcsSettings:
    tasks: int = 4
    cpu: float = 1.0  # vCPU per task
    memory_mb: int = 2048
    profile: str | None = None
    region: str | None = None
    visibility_s: int = 60
    idle_s: float = 6.0  # a task stops after the queue stayed empty this long


def settings_from(args: Any) -> EcsSettings:
    cpu = float(args.cpu)
    if cpu not in FARGATE_CPUS:
        raise LaunchError(Text(f"--cpu doit être l'une des tailles de Fargate : {', '.join(f'{c:g}' for c in FARGATE_CPUS)}.",
                               f"--cpu must be one of Fargate's sizes: {', '.join(f'{c:g}' for c in FARGATE_CPUS)}."))
    if args.tasks < 1:
        raise LaunchError(Text("--tasks doit être au moins 1.", "--tasks must be at least 1."))
    if args.memory < 512:
        raise LaunchError(Text("--memory est en Mo et doit être au moins 512.",
                               "--memory is in MB and must be at least 512."))
    return EcsSettings(tasks=args.tasks, cpu=cpu, memory_mb=int(args.memory), profile=args.profile,
                       region=args.region)


@dataclass
class _Task:
    arn: str
    status: str = "PROVISIONING"
    reason: str = ""
    exit_code: int | None = None
    claims_read: bool = False
    claimed: bool = False
    created: float = 0.0
    stopped: float = 0.0


@dataclass
class Launcher:
    settings: EcsSettings
    lang: str
    say: Callable[[str], None] = print
    session: Any = None
    stack: GradingStack | None = None
    image: str = ""  # <repository URI>:<tag>
    account: str = ""
    _tasks: dict[str, _Task] = field(default_factory=dict)
    _last_check: float = 0.0
    _empty_before: bool = False

    # --- Before anything starts -------------------------------------------------------------------
    def preflight(self, *, dry_run: bool) -> None:
        """Credentials, stack, image, role: raises LaunchError (nothing started) when one is missing."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._preflight(dry_run=dry_run)
        except (BotoCoreError, ClientError) as error:
            raise LaunchError(Text(f"AWS a refusé : {error}", f"AWS refused: {error}")) from None

    def _preflight(self, *, dry_run: bool) -> None:
        from ecslab.aws import make_session, translate_error
        from ecslab.errors import LabError
        from ecslab.messages import render

        region = self.settings.region or _default_region(self.settings.profile)
        try:
            self.session = make_session(self.settings.profile, region)
            self.account = self.session.client("sts").get_caller_identity()["Account"]
        except Exception as error:  # noqa: BLE001 - botocore's errors, said in one sentence
            lab = error if isinstance(error, LabError) else translate_error(error, self.settings.profile)
            raise LaunchError(Text(render(lab.key, "fr", **lab.params), render(lab.key, "en", **lab.params))) from None
        self._say(f"Compte {self.account}, région {region}.", f"Account {self.account}, region {region}.")
        try:
            from grader.ecs import stack as stacks

            self.stack = stacks.find(self.session)
            if self.stack is None:
                if dry_run:
                    self._say(f"La pile {protocol.STACK_NAME} n'existe pas : elle serait créée.",
                              f"The stack {protocol.STACK_NAME} does not exist: it would be created.")
                    return
                self._say(f"Création de la pile {protocol.STACK_NAME} (grader/ecs/grading-stack.yaml)…",
                          f"Creating the stack {protocol.STACK_NAME} (grader/ecs/grading-stack.yaml)...")
                self.stack = stacks.deploy(self.session)
        except StackError as error:
            raise LaunchError(Text(f"pile de notation inutilisable : {error}.", f"unusable grading stack: {error}.")) from None
        if not self.stack.subnets:
            raise LaunchError(Text(f"le VPC de la pile {self.stack.name} n'a aucun sous-réseau.",
                                   f"the VPC of the stack {self.stack.name} has no subnet."))
        self._check_role()
        self._image(dry_run=dry_run)

    def _check_role(self) -> None:
        from grader.ecs.policy import allows, role_documents

        stack = self.stack
        documents = role_documents(self.session.client("iam"), stack.task_role_arn.rsplit("/", 1)[-1])
        queue_arn = self.session.client("sqs").get_queue_attributes(
            QueueUrl=stack.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        needed = [("s3:GetObject", f"arn:aws:s3:::{stack.bucket}/runs/x"),
                  ("s3:PutObject", f"arn:aws:s3:::{stack.bucket}/runs/x"),
                  ("sqs:ReceiveMessage", queue_arn), ("sqs:DeleteMessage", queue_arn)]
        refused = [f"{action} {resource}" for action, resource in needed if not allows(documents, action, resource)]
        if refused:
            raise LaunchError(Text(f"le rôle des tâches ({stack.task_role_arn}) ne permet pas : {'; '.join(refused)}.",
                                   f"the tasks' role ({stack.task_role_arn}) does not allow: {'; '.join(refused)}."))

    def _image(self, *, dry_run: bool) -> None:
        import tempfile

        from ecslab.images import docker_settings
        from grader.ecs.image import IMAGE, ImageError, build_image, image_tag
        from grader.lms.gradescope_bundle import write_bundle
        from grader.project import CACHE_DIR
        from grader.tiers.local.images import LOCAL_BASE

        settings = docker_settings()
        base = settings.get("ECS_LAB_BASE_IMAGE") or LOCAL_BASE
        network = "host" if settings.get("ECS_LAB_BUILD_NETWORK") == "host" else "bridge"
        with tempfile.TemporaryDirectory(prefix="ecs-lab-bundle-") as folder:
            bundle = Path(folder) / "autograder.zip"
            write_bundle(bundle, "fr")
            tag = image_tag(bundle, base).split(":", 1)[1]
            self.image = f"{self.stack.repository_uri}:{tag}"
            if self._pushed(tag):
                return
            if dry_run:
                self._say(f"L'image du correcteur {self.image} n'est pas dans le dépôt : elle serait construite et "
                          "poussée.", f"The grader's image {self.image} is not in the repository: it would be built "
                          "and pushed.")
                return
            client = self._docker()
            started = time.monotonic()
            try:
                local = build_image(client, bundle, base_image=base, network=network,
                                    pip_cache=CACHE_DIR / "pip-gradescope", say=lambda _line: self._say(
                                        f"Construction de l'image du correcteur ({IMAGE}:{tag}, une fois par version)…",
                                        f"Building the grader's image ({IMAGE}:{tag}, once per version)..."))
            except ImageError as error:
                raise LaunchError(Text(f"l'image du correcteur n'a pas pu être construite : {error}",
                                       f"the grader's image could not be built: {error}")) from None
            if time.monotonic() - started > 1:
                self._say(f"Image construite en {time.monotonic() - started:.0f} s.",
                          f"Image built in {time.monotonic() - started:.0f} s.")
        self._push(client, local, tag)

    def _pushed(self, tag: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.session.client("ecr").describe_images(repositoryName=self.stack.repository,
                                                       imageIds=[{"imageTag": tag}])
        except ClientError:
            return False
        return True

    def _docker(self) -> Any:
        from ecslab.errors import LabError
        from ecslab.registry import docker_client

        try:
            return docker_client()
        except LabError:
            raise LaunchError(Text(f"l'image du correcteur {self.image} n'est pas dans le dépôt et aucun moteur Docker "
                                   "ne répond ici pour la construire.",
                                   f"the grader's image {self.image} is not in the repository and no Docker engine "
                                   "answers here to build it.")) from None

    def _push(self, client: Any, local: str, tag: str) -> None:
        import io

        from ecslab.console import Console
        from ecslab.errors import LabError
        from ecslab.registry import push_image

        started = time.monotonic()
        try:
            push_image(self.session, client, local, self.stack.repository_uri, Console(self.lang, out=io.StringIO()),
                       tag=tag)
        except LabError as error:
            raise LaunchError(Text(f"l'image du correcteur n'a pas pu être poussée : {error}",
                                   f"the grader's image could not be pushed: {error}")) from None
        self._say(f"Image poussée dans {self.stack.repository_uri} en {time.monotonic() - started:.0f} s.",
                  f"Image pushed to {self.stack.repository_uri} in {time.monotonic() - started:.0f} s.")

    def estimate(self, submissions: int) -> costs.Estimate:
        region = self.session.region_name if self.session is not None else (self.settings.region or "")
        return costs.estimate(submissions, tasks=self.settings.tasks, cpu=self.settings.cpu,
                              memory_gb=self.settings.memory_mb / 1024, region=region)

    # --- The run ---------------------------------------------------------------------------------
    def run(self, jobs: list[Job], on_finished: Callable[[Finished], None], progress: Any = None) -> None:
        """Grade `jobs` on ECS, calling `on_finished` (in this thread) as each outcome lands."""
        run = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
        self._empty_queue()
        self._upload(run, jobs)
        definition = self._register()
        pending = {job.id: job for job in jobs}
        self._send(run, jobs)
        seen: set[str] = set()
        lost: dict[str, list[tuple[str, str]]] = {}  # id -> (task, stop reason) of the tasks that died holding it
        failed_starts, cpu = 0, []
        try:
            while pending:
                for outcome in self._new_outcomes(run, seen):
                    job = pending.pop(outcome.id, None)
                    if job is None:
                        continue
                    self._download(run, outcome, job)
                    cpu.append(outcome.cpu_s)
                    on_finished(Finished(job, outcome.exit_code, outcome.duration_s, signal_name=outcome.signal_name,
                                         report=outcome.report, attempt=outcome.attempt, host=outcome.task))
                failed_starts = self._follow_tasks(run, pending, lost, failed_starts)
                for submission, attempts in self._dead_letters(run, pending):
                    job = pending.pop(submission)
                    held = lost.get(submission) or [("?", "?")]
                    on_finished(Finished(job, None, 0.0, attempt=attempts, host=", ".join(t for t, _ in held),
                                         stopped_reason=" ; ".join(dict.fromkeys(r for _, r in held))))
                if failed_starts >= FAILED_STARTS_LIMIT:
                    reason = next((t.reason for t in reversed(list(self._tasks.values())) if t.reason), "?")
                    for submission, job in list(pending.items()):
                        on_finished(Finished(job, None, 0.0, attempt=0, stopped_reason=reason, host=""))
                    pending.clear()
                    break
                if pending:
                    self._resend_lost(run, pending)
                    self._keep_running(definition, len(pending))
                if progress is not None:
                    progress.set_postfix_str(self._task_counts(), refresh=True)
                if pending:
                    time.sleep(POLL_S)
        finally:
            interrupted = bool(pending)
            self._stop_all("ecs-lab grade: interrupted" if interrupted else "ecs-lab grade: the class is graded")
            if interrupted:
                self._empty_queue(force=True)
        self._say_cost(cpu)

    def _empty_queue(self, force: bool = False) -> None:
        """Before a run: the queue must hold no other run's work (a run still going is refused)."""
        from botocore.exceptions import ClientError

        sqs = self.session.client("sqs")
        attributes = sqs.get_queue_attributes(
            QueueUrl=self.stack.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        if not force and not sum(int(v) for v in attributes.values()):
            return
        if not force:
            running = self.session.client("ecs").list_tasks(cluster=self.stack.cluster, startedBy=protocol.STARTED_BY,
                                                            desiredStatus="RUNNING")["taskArns"]
            if running:
                raise LaunchError(Text(f"une autre notation tourne sur la pile {self.stack.name} ({len(running)} "
                                       "tâche(s)) : attendez qu'elle finisse ou arrêtez-la.",
                                       f"another grading is running on the stack {self.stack.name} ({len(running)} "
                                       "task(s)): wait for it to finish or stop it."))
        try:
            sqs.purge_queue(QueueUrl=self.stack.queue_url)
        except ClientError as error:  # PurgeQueueInProgress: one purge a minute; the stale messages are dropped by tasks
            if not force:
                raise LaunchError(Text(f"la file de la pile n'a pas pu être vidée ({error}) : réessayez dans une minute.",
                                       f"the stack's queue could not be emptied ({error}): try again in a minute.")) from None

    def _upload(self, run: str, jobs: list[Job]) -> None:
        s3 = self.session.client("s3")
        uploads = [(path, protocol.input_prefix(run, job.id) + path.relative_to(job.grading.submission).as_posix())
                   for job in jobs for path in sorted(Path(job.grading.submission).rglob("*")) if path.is_file()]
        with ThreadPoolExecutor(TRANSFER_THREADS) as pool:
            list(pool.map(lambda item: s3.upload_file(str(item[0]), self.stack.bucket, item[1]), uploads))

    def _register(self) -> str:
        stack, settings = self.stack, self.settings
        region = self.session.region_name
        answer = self.session.client("ecs").register_task_definition(
            family=stack.family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
            cpu=str(int(settings.cpu * 1024)), memory=str(settings.memory_mb),
            taskRoleArn=stack.task_role_arn, executionRoleArn=stack.execution_role_arn,
            runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            containerDefinitions=[{
                "name": protocol.CONTAINER, "image": self.image, "essential": True,
                "command": protocol.TASK_COMMAND, "memory": settings.memory_mb, "stopTimeout": 10,
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": stack.log_group, "awslogs-region": region, "awslogs-stream-prefix": "grader"}},
            }],
            tags=[{"key": "ecs-lab", "value": "grading"}])
        return answer["taskDefinition"]["taskDefinitionArn"]

    def _send(self, run: str, jobs: list[Job]) -> None:
        sqs = self.session.client("sqs")
        for start in range(0, len(jobs), 10):
            entries = [{"Id": str(n), "MessageBody": protocol.Message(run, job.id, job.grading.tier, job.grading.lang,
                                                                      job.timeout_s).to_json()}
                       for n, job in enumerate(jobs[start:start + 10])]
            failed = sqs.send_message_batch(QueueUrl=self.stack.queue_url, Entries=entries).get("Failed")
            if failed:
                raise RuntimeError(f"SQS refused {len(failed)} message(s): {failed[0].get('Message')}")

    def _resend_lost(self, run: str, pending: dict[str, Job]) -> None:
        """Work left but nothing in the queue, twice RESEND_CHECK_S apart: the messages were lost (a purge
        of an earlier run deletes for a minute what is sent meanwhile): send them again (a task skips a
        submission already graded)."""
        now = time.monotonic()
        if now - self._last_check < RESEND_CHECK_S:
            return
        self._last_check = now
        attributes = self.session.client("sqs").get_queue_attributes(
            QueueUrl=self.stack.queue_url, AttributeNames=["ApproximateNumberOfMessages",
                                                           "ApproximateNumberOfMessagesNotVisible",
                                                           "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        empty = not sum(int(v) for v in attributes.values())
        if empty and self._empty_before:
            self._send(run, list(pending.values()))
            empty = False
        self._empty_before = empty

    def _keep_running(self, definition: str, left: int) -> None:
        active = [t for t in self._tasks.values() if t.status != "STOPPED"]
        missing = min(self.settings.tasks, left) - len(active)
        ecs = self.session.client("ecs")
        while missing > 0:
            count = min(missing, 10)
            answer = ecs.run_task(
                cluster=self.stack.cluster, taskDefinition=definition, count=count, launchType="FARGATE",
                startedBy=protocol.STARTED_BY, networkConfiguration={"awsvpcConfiguration": {
                    "subnets": list(self.stack.subnets), "securityGroups": [self.stack.security_group],
                    "assignPublicIp": "ENABLED"}},
                overrides={"containerOverrides": [{"name": protocol.CONTAINER, "environment": [
                    {"name": protocol.QUEUE_ENV, "value": self.stack.queue_url},
                    {"name": protocol.BUCKET_ENV, "value": self.stack.bucket},
                    {"name": protocol.VISIBILITY_ENV, "value": str(self.settings.visibility_s)},
                    {"name": protocol.IDLE_ENV, "value": f"{self.settings.idle_s:g}"},
                    {"name": "AWS_DEFAULT_REGION", "value": self.session.region_name}]}]})
            for task in answer.get("tasks", []):
                self._tasks[task["taskArn"]] = _Task(task["taskArn"], created=time.monotonic())
            if answer.get("failures"):
                failure = answer["failures"][0]
                raise RuntimeError(f"ECS did not start the grading tasks: {failure.get('reason')} {failure.get('detail', '')}")
            missing -= count

    def _follow_tasks(self, run: str, pending: dict[str, Job], lost: dict[str, list[tuple[str, str]]],
                      failed_starts: int) -> int:
        """Update the tasks' states; release what a stopped task held. Returns the failed starts in a row."""
        self._describe_tasks()
        sqs, s3 = self.session.client("sqs"), self.session.client("s3")
        for task in [t for t in self._tasks.values() if t.status == "STOPPED" and not t.claims_read]:
            task.claims_read = True
            prefix = protocol.claims_prefix(run, protocol.task_id(task.arn))
            for item in s3.list_objects_v2(Bucket=self.stack.bucket, Prefix=prefix).get("Contents", []):
                task.claimed = True
                claim = json.loads(s3.get_object(Bucket=self.stack.bucket, Key=item["Key"])["Body"].read())
                if claim["id"] not in pending:
                    continue
                lost.setdefault(claim["id"], []).append((protocol.task_id(task.arn), task.reason or "?"))
                try:  # handed to another task now, rather than after the message's visibility timeout
                    sqs.change_message_visibility(QueueUrl=self.stack.queue_url, ReceiptHandle=claim["receipt"],
                                                  VisibilityTimeout=0)
                except Exception:  # noqa: BLE001 - already deleted, or taken again: nothing to release
                    pass
            if task.claimed or (task.exit_code == 0):
                failed_starts = 0
            else:
                failed_starts += 1
        return failed_starts

    def _new_outcomes(self, run: str, seen: set[str]) -> list[protocol.Outcome]:
        s3 = self.session.client("s3")
        outcomes = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.stack.bucket,
                                                                 Prefix=protocol.done_prefix(run)):
            for item in page.get("Contents", []):
                if item["Key"] in seen:
                    continue
                seen.add(item["Key"])
                body = s3.get_object(Bucket=self.stack.bucket, Key=item["Key"])["Body"].read()
                outcomes.append(protocol.Outcome.from_json(body.decode("utf-8")))
        return outcomes

    def _download(self, run: str, outcome: protocol.Outcome, job: Job) -> None:
        s3 = self.session.client("s3")
        folder = Path(job.grading.report_dir)
        prefix = protocol.result_prefix(run, outcome.id)
        for name in outcome.files:
            target = folder / name
            if ".." in Path(name).parts or Path(name).is_absolute():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(self.stack.bucket, prefix + name, str(target))

    def _dead_letters(self, run: str, pending: dict[str, Job]) -> list[tuple[str, int]]:
        sqs = self.session.client("sqs")
        found = []
        for message in sqs.receive_message(QueueUrl=self.stack.dead_letter_queue_url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0,
                                           AttributeNames=["ApproximateReceiveCount"]).get("Messages", []):
            try:
                body = protocol.Message.from_json(message["Body"])
            except (ValueError, KeyError, TypeError):
                body = None
            if body is not None and body.run == run and body.id in pending:
                found.append((body.id, 2))
            sqs.delete_message(QueueUrl=self.stack.dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return found

    def _stop_all(self, reason: str) -> None:
        ecs = self.session.client("ecs")
        for task in [t for t in self._tasks.values() if t.status != "STOPPED"]:
            try:
                ecs.stop_task(cluster=self.stack.cluster, task=task.arn, reason=reason)
            except Exception:  # noqa: BLE001 - stopped meanwhile
                pass
        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline and any(t.status != "STOPPED" for t in self._tasks.values()):
            self._describe_tasks()
            time.sleep(POLL_S)

    def _describe_tasks(self) -> None:
        """The state of the tasks not known to be stopped; a stopped one's exit code and stop reason."""
        arns = [t.arn for t in self._tasks.values() if t.status != "STOPPED"]
        ecs = self.session.client("ecs")
        for start in range(0, len(arns), 100):
            for described in ecs.describe_tasks(cluster=self.stack.cluster, tasks=arns[start:start + 100])["tasks"]:
                task = self._tasks[described["taskArn"]]
                task.status = described.get("lastStatus", task.status)
                if task.status != "STOPPED":
                    continue
                task.stopped = time.monotonic()
                container = next(iter(described.get("containers") or []), {})
                task.exit_code = container.get("exitCode")
                task.reason = " — ".join(r for r in (described.get("stoppedReason"), container.get("reason"),
                                                       f"exit code {task.exit_code}" if task.exit_code is not None else "")
                                         if r)

    def _task_counts(self) -> str:
        running = sum(t.status == "RUNNING" for t in self._tasks.values())
        waiting = sum(t.status not in ("RUNNING", "STOPPED") for t in self._tasks.values())
        failed = sum(t.status == "STOPPED" and t.exit_code not in (0,) for t in self._tasks.values())
        if self.lang == "en":
            return f"tasks: {running} running, {waiting} pending, {failed} failed"
        return f"tâches : {running} en cours, {waiting} en attente, {failed} en échec"

    def _say_cost(self, cpu: list[float]) -> None:
        if not self._tasks:
            return
        now = time.monotonic()
        billed = sum(max(costs.MINIMUM_BILLED_S, (t.stopped or now) - t.created) for t in self._tasks.values())
        per_second, _region = costs.price_per_second(self.session.region_name, cpu=self.settings.cpu,
                                                     memory_gb=self.settings.memory_mb / 1024)
        price = billed * per_second
        mean = sum(cpu) / len(cpu) if cpu else 0.0
        self._say(f"{len(self._tasks)} tâche(s), {billed:.0f} s facturées au total : environ {price:.4f} $ sur Fargate "
                  f"(mesuré : {mean:.1f} s de CPU par rendu).",
                  f"{len(self._tasks)} task(s), {billed:.0f} s billed in all: about ${price:.4f} on Fargate "
                  f"(measured: {mean:.1f} CPU-seconds per submission).")

    def _say(self, fr: str, en: str) -> None:
        self.say(en if self.lang == "en" else fr)


def _default_region(profile: str | None) -> str:
    import boto3

    from ecslab import facts

    try:
        region = boto3.Session(profile_name=profile).region_name if profile else boto3.Session().region_name
    except Exception:  # noqa: BLE001 - a missing profile is reported by the preflight
        region = None
    return region or facts.REGION
