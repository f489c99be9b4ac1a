"""The aws tier only reads: every AWS call of the tier crosses this recorder.

`ReadOnlyRecorder.attach(session)` installs botocore hooks on the tier's session, so every
client made from it afterwards (paginators and waiters included: they call the client) is
checked before its request is even built. A call that is not a read raises
`ReadOnlyViolation`, a BaseException, so that no `except Exception` in a check or a library
can swallow it; nothing is sent. Every call, allowed or refused, is logged (service,
operation, outcome) for the report.

What is a read: an allow-list of operation name prefixes (Describe, List, Get, Lookup,
BatchGet, Head) and of a few exact names, minus exact names that hand out credentials or
secrets even though they "get" something (ECR GetAuthorizationToken, STS GetSessionToken...),
restricted to the services the tier reads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Services the tier reads (botocore service names).
ALLOWED_SERVICES = frozenset({
    "sts", "cloudformation", "ecs", "ecr", "elbv2", "ec2", "iam", "s3", "logs", "cloudtrail",
})
READ_PREFIXES = ("Describe", "List", "Get", "Lookup", "BatchGet", "Head")
READ_OPERATIONS = frozenset({
    "FilterLogEvents",  # logs: a search, reads only
})
# Reads by their name, but they hand out credentials, tokens or secrets: never needed to grade.
DENIED_OPERATIONS = frozenset({
    "GetAuthorizationToken",  # ecr: a Docker login token
    "GetDownloadUrlForLayer",  # ecr: a presigned URL to the image layers
    "GetSessionToken", "GetFederationToken", "GetAccessKeyInfo",  # sts
    "GetPasswordData",  # ec2: Windows administrator password
    "GetLoginProfile", "GetCredentialReport", "GetAccountAuthorizationDetails",  # iam
    "GetSecretValue", "GetParameter", "GetParameters", "GetParametersByPath",  # secrets, SSM
    "GetObjectTorrent",
})


def is_read_operation(service: str, operation: str) -> bool:
    """True when `service`/`operation` (botocore names, e.g. "ecs", "DescribeServices") only reads."""
    if service not in ALLOWED_SERVICES or operation in DENIED_OPERATIONS:
        return False
    return operation in READ_OPERATIONS or operation.startswith(READ_PREFIXES)


class ReadOnlyViolation(BaseException):
    """A call of the aws tier that is not a read: refused before it is sent.

    A BaseException on purpose: a check's `except Exception` (or botocore's retry logic)
    must not turn a grader bug into a silent pass. The aws tier reports it as a harness error
    and the run exits with an error status.
    """

    grader_harness_error = True  # the plugin never counts it against the student

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(
            f"appel AWS refusé par le correcteur en lecture seule : {service}:{operation} "
            f"(read-only grader refused {service}:{operation}; nothing was sent)"
        )
        self.service = service
        self.operation = operation


@dataclass
class CallRecord:
    service: str
    operation: str
    allowed: bool


@dataclass
class ReadOnlyRecorder:
    """Checks and logs every call made through the sessions it is attached to."""

    calls: list[CallRecord] = field(default_factory=list)

    def attach(self, session: Any) -> None:
        """Install the hooks on a boto3 (or botocore) session, before any client is made from it."""
        events = session.events if hasattr(session, "events") else session.get_component("event_emitter")
        # Earliest hook: before the request is built (parameters not yet validated).
        events.register_first("before-parameter-build", self._before_parameter_build,
                              unique_id="grader-readonly-check")
        # Last hook before the request is sent: a second guard, in case a handler registered
        # later short-circuits or reorders the first one.
        events.register_last("before-call", self._before_call, unique_id="grader-readonly-guard")

    def _before_parameter_build(self, model: Any, **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        allowed = is_read_operation(service, operation)
        self.calls.append(CallRecord(service, operation, allowed))
        if not allowed:
            raise ReadOnlyViolation(service, operation)

    def _before_call(self, model: Any, **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        if not is_read_operation(service, operation):
            raise ReadOnlyViolation(service, operation)

    @property
    def refused(self) -> list[CallRecord]:
        return [c for c in self.calls if not c.allowed]

    def summary(self) -> list[dict[str, Any]]:
        """Calls grouped by service and operation, with their count (for the report)."""
        counts = Counter((c.service, c.operation, c.allowed) for c in self.calls)
        return [
            {"service": service, "operation": operation, "count": count, "allowed": allowed}
            for (service, operation, allowed), count in sorted(counts.items())
        ]
