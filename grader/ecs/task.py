"""A grading task: what the grader's image runs on ECS (``python -I -m grader.ecs.task``).

Takes one submission at a time from the queue until it stays empty for a few seconds, and for each:
claims it (runs/<run>/claims/<task>/<id>.json, with the message's receipt, so that the launcher can
hand it to another task at once if this one dies), downloads its staged files, grades them with the
runner every launcher uses (a child with a time limit: the same grade as a local batch), puts the
reports, then its outcome (done/<id>.json, last), then deletes the message. While it grades, a
heartbeat keeps the message hidden; a task that dies stops renewing it, and the message comes back.

The task role's credentials are read once, then removed from the environment: the grading (the
scorer, the worker and the student's code) never sees them. Settings: grader.ecs.protocol's *_ENV.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from grader.ecs import protocol

RECEIVE_WAIT_S = 2  # long polling: an empty queue costs one request every 2 s


def main() -> int:
    queue_url, bucket = os.environ.get(protocol.QUEUE_ENV), os.environ.get(protocol.BUCKET_ENV)
    if not queue_url or not bucket:
        print(f"grader.ecs.task: {protocol.QUEUE_ENV} and {protocol.BUCKET_ENV} are required", file=sys.stderr)
        return 2
    visibility = int(float(os.environ.get(protocol.VISIBILITY_ENV) or 60))
    idle_s = float(os.environ.get(protocol.IDLE_ENV) or 6)
    import boto3

    session = boto3.Session()
    s3, sqs = session.client("s3"), session.client("sqs")
    task = protocol.task_id(_task_arn())
    _forget_credentials()
    from grader.runner import warm_up

    print(f"task {task}: warm in {warm_up():.1f} s", flush=True)  # every grading then starts from a warm fork
    print(f"task {task}: taking submissions from {queue_url}", flush=True)
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < idle_s:
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, VisibilityTimeout=visibility,
                                       WaitTimeSeconds=RECEIVE_WAIT_S,
                                       AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        if not received:
            continue
        _grade_one(s3, sqs, queue_url, bucket, task, received[0], visibility)
        idle_since = time.monotonic()
    print(f"task {task}: the queue is empty, done", flush=True)
    return 0


def _grade_one(s3, sqs, queue_url: str, bucket: str, task: str, message: dict, visibility: int) -> None:  # noqa: ANN001
    from grader.api import Grading
    from grader.runner import grade_in_child

    receipt = message["ReceiptHandle"]
    try:
        job = protocol.Message.from_json(message["Body"])
    except (ValueError, KeyError, TypeError):
        print(f"task {task}: unreadable message dropped: {message['Body'][:200]!r}", flush=True)
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
        return
    attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
    if _exists(s3, bucket, protocol.done_key(job.run, job.id)):  # graded by a task that died before deleting
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
        return
    s3.put_object(Bucket=bucket, Key=protocol.claim_key(job.run, task, job.id),
                  Body=json.dumps({"id": job.id, "receipt": receipt, "attempt": attempt, "at": time.time()}).encode())
    print(f"task {task}: grading {job.id} (attempt {attempt})", flush=True)
    heartbeat = _start_heartbeat(sqs, queue_url, receipt, visibility)
    folder = Path(tempfile.mkdtemp(prefix=f"grading-{job.id}-"))
    try:
        submission, reports = folder / "submission", folder / "reports"
        if not _download(s3, bucket, protocol.input_prefix(job.run, job.id), submission):
            print(f"task {task}: {job.id} has no files in the bucket (another run's message?): dropped", flush=True)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
            return
        reports.mkdir()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        finished = grade_in_child(Grading(submission, tier=job.tier, lang=job.lang, report_dir=reports,
                                          options=("-q",)),
                                  timeout_s=job.timeout_s, log=reports / "grading.log")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        files = sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*") if p.is_file())
        for name in files:
            s3.upload_file(str(reports / name), bucket, protocol.result_prefix(job.run, job.id) + name)
        outcome = protocol.Outcome(
            id=job.id, exit_code=finished.exit_code, duration_s=round(finished.duration_s, 3),
            signal_name=finished.signal_name, report=finished.report, attempt=attempt, task=task,
            cpu_s=round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 3), files=files,
            finished_at=time.time())
        s3.put_object(Bucket=bucket, Key=protocol.done_key(job.run, job.id), Body=outcome.to_json().encode())
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
        print(f"task {task}: {job.id} graded in {finished.duration_s:.1f} s", flush=True)
    finally:
        heartbeat.kill()
        heartbeat.join()
        shutil.rmtree(folder, ignore_errors=True)


def _start_heartbeat(sqs, queue_url: str, receipt: str, visibility: int) -> multiprocessing.Process:  # noqa: ANN001
    """Renews the message's hiding every third of it while the grading runs. A process, not a thread:
    the grading is forked from this process, which must then hold no other thread (grader.runner)."""
    process = multiprocessing.get_context("fork").Process(target=_renew, args=(sqs, queue_url, receipt, visibility),
                                                          name="heartbeat", daemon=True)
    process.start()
    return process


def _renew(sqs, queue_url: str, receipt: str, visibility: int) -> None:  # noqa: ANN001
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        time.sleep(max(1.0, visibility / 3))
        try:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=visibility)
        except Exception as error:  # noqa: BLE001 - a missed renewal: the next one may pass
            print(f"heartbeat: {error}", flush=True)


def _download(s3, bucket: str, prefix: str, folder: Path) -> bool:  # noqa: ANN001
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])]
    for key in keys:
        relative = Path(key[len(prefix):])
        if relative.is_absolute() or ".." in relative.parts:
            continue
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    return bool(keys)


def _exists(s3, bucket: str, key: str) -> bool:  # noqa: ANN001
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def _task_arn() -> str:
    """This task's ARN, from the task metadata endpoint (ECS sets its address); else the host's name."""
    uri = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
    if uri:
        try:
            with urllib.request.urlopen(f"{uri}/task", timeout=5) as answer:  # noqa: S310 - ECS's own endpoint
                return json.loads(answer.read())["TaskARN"]
        except (OSError, ValueError, KeyError):
            pass
    return os.uname().nodename


def _forget_credentials() -> None:
    """The task role's credentials stay in this process's clients only."""
    for name in [n for n in os.environ if n.startswith("AWS_") and n not in ("AWS_REGION", "AWS_DEFAULT_REGION")]:
        del os.environ[name]


if __name__ == "__main__":
    sys.exit(main())
