"""What the student's code sent to AWS, as the scorer's moto server received it, and the
scenarios a check plays on the server's side.

:class:`AwsRequests` wraps the moto server's WSGI application: every request is parsed
(service and operation, parameters as sent on the wire) and recorded with the virtual time
of the check's clock; a check's :class:`Scenario` can answer an operation itself (ECS
``failures``), change what reaches moto (smaller log pages), or act after moto answered
(stand in for the container). Only requests signed with the student's key count as the
student's: the scorer's own clients use another one.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

STUDENT_KEY = "AKIASTUDENTWORKER000"
MAX_RECORDED_PARAMS = 256 * 1024  # bytes of a request's body kept in the record (the lab's requests are small)
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")
MAX_BODY = 8 * 1024 * 1024


@dataclass
class ApiCall:
    service: str
    operation: str
    params: dict[str, Any]
    caller: str  # "student" or the access key of another caller (the scorer, a container)
    at: float  # the check's virtual time (seconds since the check started; real seconds on real clocks)
    status: int = 0


class Stop(Exception):
    """Raised by a scenario's callback: stop the student's code now, with this reason (a Text)."""

    def __init__(self, reason: Any) -> None:
        super().__init__(str(reason))
        self.reason = reason


@dataclass
class Scenario:
    """One check's script on the server's side, and its record of the student's requests."""

    clock: Any = None
    calls: list[ApiCall] = field(default_factory=list)
    stubs: dict[str, Callable[[dict], dict | None]] = field(default_factory=dict)
    adjusters: dict[str, Callable[[dict], dict | None]] = field(default_factory=dict)
    after: dict[str, list[Callable[[dict, dict], None]]] = field(default_factory=dict)
    on_stop: Callable[[Any], None] | None = None  # stops the student's code (set by the check's process)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- scripting -----------------------------------------------------------------------
    def stub(self, operation: str, respond: Callable[[dict], dict | None]) -> None:
        """Answer the student's `operation` (e.g. "DescribeTasks") without moto; None lets it through."""
        self.stubs[operation] = respond

    def adjust(self, operation: str, adjust: Callable[[dict], dict | None]) -> None:
        """Change what reaches moto for the student's `operation` (it is recorded as sent)."""
        self.adjusters[operation] = adjust

    def on_call(self, operation: str, callback: Callable[[dict, dict], None]) -> None:
        """`callback(params, response)` after each of the student's `operation` calls; it may raise Stop."""
        self.after.setdefault(operation, []).append(callback)

    # --- the record ------------------------------------------------------------------------
    def of(self, operation: str) -> list[ApiCall]:
        with self.lock:
            return [c for c in self.calls if c.operation == operation and c.caller == "student"]

    def last(self, operation: str) -> ApiCall | None:
        found = self.of(operation)
        return found[-1] if found else None

    def operations(self) -> list[str]:
        with self.lock:
            return [c.operation for c in self.calls if c.caller == "student"]

    def now(self) -> float:
        return self.clock.now if self.clock is not None else time.monotonic()


class AwsRequests:
    """WSGI middleware around moto: record, script, and let the rest through."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.scenario: Scenario | None = None

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        # On the virtual clock, time does not advance while a request is being served (until its
        # response is sent): its answer may be what the student's code is waiting for.
        return served(getattr(self.scenario, "clock", None), self._respond, environ, start_response)

    def _respond(self, environ: dict, start_response: Callable) -> Any:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            # moto's own controls (reset, state manager, seed, dashboard) belong to the scorer alone.
            return _json_response(start_response, 403, {"__type": "AccessDenied", "message": "moto-api is closed"})
        scenario = self.scenario
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(min(length, MAX_BODY)) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if scenario is None:
            return self.app(environ, start_response)
        call = _parse(environ, body)
        call.at = scenario.now()
        with scenario.lock:
            scenario.calls.append(call)
        if call.caller != "student":
            return self.app(environ, start_response)
        try:
            stub = scenario.stubs.get(call.operation)
            answer = stub(call.params) if stub else None
            if answer is not None:
                return _json_response(start_response, 200, answer)
            adjust = scenario.adjusters.get(call.operation)
            changed = adjust(call.params) if adjust else None
            if changed is not None:
                data = json.dumps(changed).encode()
                environ["wsgi.input"] = io.BytesIO(data)
                environ["CONTENT_LENGTH"] = str(len(data))
            callbacks = scenario.after.get(call.operation)
            if not callbacks:
                return self.app(environ, start_response)
            status, headers, payload = _run(self.app, environ)
            call.status = status
            if 200 <= status < 300:
                try:
                    response = json.loads(payload or b"{}")
                except ValueError:
                    response = {}
                for callback in callbacks:
                    callback(call.params, response)
            start_response(f"{status} {'OK' if status < 400 else 'Error'}", headers)
            return [payload]
        except Stop as stop:
            if scenario.on_stop is not None:
                scenario.on_stop(stop.reason)
            return _json_response(start_response, 400, {"__type": "GraderStopped", "message": str(stop)})


class _Served:
    """A response body that says when the server has sent it (WSGI calls `close`)."""

    def __init__(self, body: Any, done: Callable[[], None]) -> None:
        self.body, self.done = body, done

    def __iter__(self) -> Any:
        return iter(self.body)

    def close(self) -> None:
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            self.done()


def served(clock: Any, app: Callable, environ: dict, start_response: Callable) -> Any:
    """`app`'s response, counted in `clock`'s requests in flight until it is sent (clocks that count)."""
    serving = getattr(clock, "serving", None)
    if serving is None:
        return app(environ, start_response)
    counted = serving()
    counted.__enter__()
    try:
        body = app(environ, start_response)
    except BaseException:
        counted.__exit__(None, None, None)
        raise
    return _Served(body, lambda: counted.__exit__(None, None, None))


def _run(app: Any, environ: dict) -> tuple[int, list, bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
        captured["status"], captured["headers"] = int(status.split()[0]), headers
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        payload = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(payload))))
    return captured["status"], headers, payload


def _json_response(start_response: Callable, status: int, document: dict) -> list[bytes]:
    data = json.dumps(document, default=str).encode()
    start_response(f"{status} {'OK' if status < 400 else 'Bad Request'}",
                   [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))])
    return [data]


def _parse(environ: dict, body: bytes) -> ApiCall:
    """Service, operation and parameters of a request, as the wire carries them."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    match = _CREDENTIAL.search(authorization)
    key, service = (match.group(1), match.group(3)) if match else ("", "")
    caller = "student" if key == STUDENT_KEY else key or "anonymous"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    params: dict[str, Any] = {}
    if target:
        operation = target.rsplit(".", 1)[-1]
        try:
            loaded = json.loads(body or b"{}") if len(body) <= MAX_RECORDED_PARAMS else {"$bytes": len(body)}
            params = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            params = {}
    else:
        form = parse_qs(body.decode("utf-8", "replace")) if body else {}
        query = parse_qs(environ.get("QUERY_STRING", ""))
        action = (form.get("Action") or query.get("Action") or [""])[0]
        if action:
            operation = action
            params = {k: v[0] if len(v) == 1 else v for k, v in {**query, **form}.items() if k not in ("Action", "Version")}
        else:  # REST (S3): the method and the path
            operation = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
            params = {k: v[0] for k, v in query.items()}
    return ApiCall(service=service, operation=operation, params=params, caller=caller, at=0.0)
