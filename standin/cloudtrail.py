"""CloudTrail's event history for stand-ins of AWS (moto has no ``LookupEvents``).

:class:`EventHistory` keeps management events as CloudTrail records them (event name and
source, user, time, request parameters, response elements, error code) and answers
``LookupEvents`` from them (EventName/EventSource/Username attributes, time range, pages of
at most 50, newest first). Two ways to fill it:

- :class:`TrailRecorder`, a WSGI layer in front of a moto server (the sandbox): every write
  call as the server received it, signed with any key but the stand-in's own (its internal
  calls are AWS's own, which LookupEvents would not show as the user's);
- :meth:`EventHistory.record`, called by whoever knows a call was made (the tests record
  their "student" sessions' calls with a botocore hook).

What is recorded of a call: the JSON protocols' bodies as sent (ECS, ECR, CloudWatch Logs:
CloudTrail's ``requestParameters`` use the same camelCase names) and their JSON answers; the
query protocols' (ELBv2, CloudFormation, IAM) parameters with their first letter lowered.
Reads (Describe*, List*, Get*...) are not recorded: the lab's evidence is in its writes.
"""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Lookup", "Head", "Search", "Validate", "Estimate")
MAX_BODY = 1024 * 1024  # the lab's write calls are small; larger bodies are recorded without parameters
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")


def is_write(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


class EventHistory:
    def __init__(self) -> None:
        self.events: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def record(self, account_id: str, region: str, *, event_name: str, source: str, request: dict,
               response: dict | None, error_code: str | None = None, user: str = "student",
               when: datetime | None = None) -> None:
        when = when or datetime.now(UTC)
        detail = {
            "eventVersion": "1.09", "userIdentity": {"type": "IAMUser", "userName": user, "accountId": account_id},
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": source, "eventName": event_name,
            "awsRegion": region, "requestParameters": request or None,
            "responseElements": None if error_code else (response or None), "eventID": str(uuid.uuid4()),
            "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": account_id,
        }
        if error_code:
            detail["errorCode"] = error_code
        event = {"EventId": detail["eventID"], "EventName": event_name, "ReadOnly": "false",
                 "EventTime": when.timestamp(), "EventSource": source, "Username": user, "Resources": [],
                 "CloudTrailEvent": json.dumps(detail, default=str)}
        with self._lock:
            self.events.setdefault((account_id, region), []).append(event)

    def lookup(self, account_id: str, region: str, body: dict) -> dict:
        """A LookupEvents answer to the request `body`."""
        with self._lock:
            events = list(reversed(self.events.get((account_id, region), [])))  # newest first
        for attribute in body.get("LookupAttributes") or []:
            key, value = attribute["AttributeKey"], attribute["AttributeValue"]
            events = [e for e in events if str(e.get(key)) == value]
        if body.get("StartTime") is not None:
            events = [e for e in events if e["EventTime"] >= float(body["StartTime"])]
        if body.get("EndTime") is not None:
            events = [e for e in events if e["EventTime"] <= float(body["EndTime"])]
        start = int(body.get("NextToken") or 0)
        size = min(int(body.get("MaxResults") or 50), 50)
        page = {"Events": events[start:start + size]}
        if start + size < len(events):
            page["NextToken"] = str(start + size)
        return page

    # --- kept between runs (the sandbox's `down --keep`) ---------------------------------
    def dump(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"account": a, "region": r, "events": list(e)} for (a, r), e in self.events.items()]

    def load(self, dumped: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for entry in dumped:
                self.events.setdefault((entry["account"], entry["region"]), []).extend(entry["events"])


class TrailRecorder:
    """WSGI middleware: records the write calls a moto server receives into an EventHistory."""

    def __init__(self, app: Any, history: EventHistory, *, ignored_keys: Iterable[str] = (),
                 account_of: Callable[[str], str], user: str = "student") -> None:
        self.app = app
        self.history = history
        self.ignored_keys = set(ignored_keys)
        self.account_of = account_of  # access key -> account id
        self.user = user

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not match or match[1] in self.ignored_keys or match[3] in ("s3", "sts"):
            return self.app(environ, start_response)  # S3 object calls are data events; STS reads
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        operation, params, json_protocol = _operation(environ, body)
        if not operation or not is_write(operation):
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        chunks = list(self.app(environ, capture))
        answer = b"".join(chunks)
        status = captured.get("status", 500)
        response: dict | None = None
        error_code = None
        if json_protocol:
            try:
                response = json.loads(answer or b"{}")
            except ValueError:
                response = None
            if status >= 400:
                error_code = str((response or {}).get("__type", "") or status).rsplit("#", 1)[-1]
        elif status >= 400:
            found = re.search(rb"<Code>([^<]+)</Code>", answer)
            error_code = found[1].decode() if found else str(status)
        service = match[3]
        source = "elasticloadbalancing" if service == "elasticloadbalancing" else service
        self.history.record(self.account_of(match[1]), match[2], event_name=operation,
                            source=f"{source}.amazonaws.com", request=params, response=response,
                            error_code=error_code, user=self.user)
        return [answer]


def _operation(environ: dict, body: bytes) -> tuple[str | None, dict, bool]:
    """(operation, parameters as CloudTrail names them, JSON protocol?) of a request."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        try:
            params = json.loads(body or b"{}") if len(body) <= MAX_BODY else {}
        except ValueError:
            params = {}
        return target.rsplit(".", 1)[-1], params if isinstance(params, dict) else {}, True
    form = parse_qs(body.decode("utf-8", "replace")) if body and len(body) <= MAX_BODY else {}
    form.update(parse_qs(environ.get("QUERY_STRING", "")))
    action = (form.pop("Action", [None]) or [None])[0]
    form.pop("Version", None)
    params = {key[:1].lower() + key[1:]: values[0] if len(values) == 1 else values for key, values in form.items()}
    return action, params, False
