"""The ``awslogs`` log driver: each line a container prints becomes one CloudWatch Logs event.

The stream is ``<awslogs-stream-prefix>/<container name>/<task id>`` in ``awslogs-group``
(Fargate requires the prefix). As on Fargate, a missing group is an error when the task
starts, unless ``awslogs-create-group`` is ``true``.

A reader thread follows the container's output (``docker logs --follow --timestamps``)
and a sender thread ships it in batches every ``FLUSH_INTERVAL_S``; :meth:`LogShipper.close`
waits until everything printed before the container stopped is in CloudWatch Logs.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.5
MAX_BATCH = 1000
MAX_EVENT_BYTES = 256 * 1024 - 26  # CloudWatch's event size limit (message + 26 bytes)
TAIL_LINES = 200


class LogConfigurationError(Exception):
    """The task cannot start with this log configuration; ``str()`` is the stopped reason."""


@dataclass(frozen=True)
class AwsLogsOptions:
    group: str
    region: str | None
    prefix: str | None
    create_group: bool

    @classmethod
    def of(cls, container_definition: dict) -> "AwsLogsOptions | None":
        config = container_definition.get("logConfiguration") or {}
        if config.get("logDriver") != "awslogs":
            return None
        options = config.get("options") or {}
        return cls(group=options.get("awslogs-group", ""), region=options.get("awslogs-region"),
                   prefix=options.get("awslogs-stream-prefix"),
                   create_group=str(options.get("awslogs-create-group", "")).lower() == "true")

    def stream(self, container_name: str, task_id: str, container_id: str) -> str:
        if self.prefix:
            return f"{self.prefix}/{container_name}/{task_id}"
        return container_id  # the EC2 launch type's default; Fargate requires a prefix


def prepare_stream(logs_client: Any, options: AwsLogsOptions, stream: str) -> None:
    """Check (or create) the group and create the stream, as the driver does at start-up."""
    if not options.group:
        raise LogConfigurationError("ResourceInitializationError: failed to validate logger args: "
                                    "awslogs-group is required")
    exists = any(g["logGroupName"] == options.group for g in
                 logs_client.describe_log_groups(logGroupNamePrefix=options.group).get("logGroups", []))
    if not exists:
        if not options.create_group:
            raise LogConfigurationError(
                "ResourceInitializationError: failed to validate logger args: create stream has been "
                "retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: "
                f"The specified log group does not exist ({options.group}). : exit status 1")
        logs_client.create_log_group(logGroupName=options.group)
    try:
        logs_client.create_log_stream(logGroupName=options.group, logStreamName=stream)
    except logs_client.exceptions.ResourceAlreadyExistsException:
        pass


def _now_ms() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1000)


def _parse_timestamp(text: str) -> int:
    """Docker's RFC 3339 nano timestamp -> epoch milliseconds."""
    try:
        seconds, _, fraction = text.rstrip("Z").partition(".")
        base = datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        return int(base.timestamp() * 1000) + int((fraction + "000")[:3])
    except ValueError:
        return _now_ms()


class LogShipper:
    """Ships one container's output to one CloudWatch Logs stream."""

    def __init__(self, container: Any, logs_client: Any, group: str, stream: str) -> None:
        self.container = container
        self.logs = logs_client
        self.group = group
        self.stream = stream
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)  # last lines, for diagnostics
        self.shipped = 0
        self.errors: list[str] = []
        self._pending: list[dict] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"awslogs-read-{stream}", daemon=True)
        self._sender = threading.Thread(target=self._send_loop, name=f"awslogs-send-{stream}", daemon=True)

    def start(self) -> "LogShipper":
        self._reader.start()
        self._sender.start()
        return self

    def _read(self) -> None:
        partial = ""
        try:
            for frame in self.container.logs(stream=True, follow=True, timestamps=True, stdout=True, stderr=True):
                text = frame.decode("utf-8", errors="replace")
                stamp, _, message = text.partition(" ")
                if message.endswith("\n"):
                    self._add(_parse_timestamp(stamp), partial + message[:-1])
                    partial = ""
                else:  # docker splits long lines into partial messages
                    partial += message
            if partial:
                self._add(_now_ms(), partial)
        except Exception as exc:  # noqa: BLE001 - the container may be removed under us
            self.errors.append(f"read: {exc}")
        finally:
            self._done.set()

    def _add(self, timestamp: int, message: str) -> None:
        message = message.rstrip("\r")
        encoded = message.encode("utf-8")
        if len(encoded) > MAX_EVENT_BYTES:
            message = encoded[:MAX_EVENT_BYTES].decode("utf-8", errors="ignore")
        self.tail.append(message)
        with self._lock:
            self._pending.append({"timestamp": timestamp, "message": message or " "})

    def _send_loop(self) -> None:
        while not self._done.wait(FLUSH_INTERVAL_S):
            self._flush()
        self._flush()

    def _flush(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        events.sort(key=lambda e: e["timestamp"])  # stdout and stderr may interleave
        for first in range(0, len(events), MAX_BATCH):
            batch = events[first:first + MAX_BATCH]
            try:
                self.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)
                self.shipped += len(batch)
            except Exception as exc:  # noqa: BLE001 - a lost batch is reported, never fatal
                self.errors.append(f"put_log_events: {exc}")
                log.warning("awslogs: cannot ship %d events to %s: %s", len(batch), self.stream, exc)

    def close(self, timeout: float = 10.0) -> None:
        """Wait until the output of the (stopped) container is shipped."""
        self._reader.join(timeout)
        self._done.set()
        self._sender.join(timeout)
