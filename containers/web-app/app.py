"""Web application of the ECS lab (container `web-app`), standard library only.

Routes (all JSON):
  GET /health                 200 {"status": "healthy", "timestamp", "uptime"}  (ALB / Docker health check)
  GET /                       welcome message, hostname, runtime, ECS task metadata, request count, uptime
  GET /info                   more container and process details
  GET /load-test?iterations=N burns CPU for N iterations (1 <= N <= LOAD_TEST_MAX_ITERATIONS), reports the duration
  GET /error                  500 (simulated error)
  anything else               404 (405 for other methods)

Listens on 0.0.0.0:$PORT (default 3000). The ECS task metadata (endpoint v4) is read once at
start-up from $ECS_CONTAINER_METADATA_URI_V4 and $ECS_CONTAINER_METADATA_URI_V4/task.
SIGTERM (what `docker stop` and ECS send) or SIGINT: stop accepting, let requests in flight end
(at most SHUTDOWN_GRACE_SECONDS, default 1 s), exit 0.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

APP_NAME = "ecs-lab-web-app"
APP_VERSION = "1.0.0"
DEFAULT_PORT = 3000
DEFAULT_ITERATIONS = 1_000_000
LOAD_TEST_MAX_ITERATIONS = int(os.environ.get("LOAD_TEST_MAX_ITERATIONS", "20000000"))
METADATA_TIMEOUT_SECONDS = float(os.environ.get("ECS_METADATA_TIMEOUT", "2"))
METADATA_ATTEMPTS = 3
SHUTDOWN_GRACE_SECONDS = float(os.environ.get("SHUTDOWN_GRACE_SECONDS", "1"))
# Keep idle keep-alive connections longer than the ALB's idle timeout (60 s), so that the
# load balancer, not the target, closes them (otherwise the ALB may answer 502).
KEEP_ALIVE_TIMEOUT_SECONDS = 65
# Environment variables shown by /info (never the whole environment: it may hold secrets).
INFO_ENV_VARS = (
    "PORT", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
    "ECS_CONTAINER_METADATA_URI_V4", "ECS_AGENT_URI", "HOSTNAME",
)

STARTED_MONOTONIC = time.monotonic()
STARTED_AT = datetime.now(timezone.utc)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def uptime_seconds() -> float:
    return round(time.monotonic() - STARTED_MONOTONIC, 3)


# --------------------------------------------------------------------------------------------
# ECS task metadata endpoint v4
# --------------------------------------------------------------------------------------------
def _fetch_json(url: str) -> Any:
    last_error: Exception | None = None
    for attempt in range(METADATA_ATTEMPTS):
        try:
            with urllib.request.urlopen(url, timeout=METADATA_TIMEOUT_SECONDS) as response:
                return json.loads(response.read().decode("utf-8"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_error = exc
            if isinstance(exc, urllib.error.HTTPError) and exc.code < 500:
                break  # a 4xx will not get better
            if attempt + 1 < METADATA_ATTEMPTS:
                time.sleep(0.3)
    assert last_error is not None
    raise last_error


def read_ecs_metadata(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Read the task and container metadata once. Never raises: problems go to `error`."""
    environ = os.environ if environ is None else environ
    base = environ.get("ECS_CONTAINER_METADATA_URI_V4", "").strip().rstrip("/")
    if not base:
        return {
            "available": False,
            "error": (
                "Métadonnées ECS indisponibles : la variable ECS_CONTAINER_METADATA_URI_V4 "
                "n'est pas définie (l'application ne tourne pas dans une tâche ECS, "
                "par exemple en local avec docker run)."
            ),
        }
    metadata: dict[str, Any] = {"available": False, "endpoint": base}
    try:
        task = _fetch_json(f"{base}/task")
    except Exception as exc:  # noqa: BLE001 - any failure is reported, never fatal
        metadata["error"] = (
            f"Impossible de lire les métadonnées de la tâche ECS ({base}/task) : {exc}"
        )
        return metadata
    if not isinstance(task, dict):
        metadata["error"] = f"Réponse inattendue de {base}/task (objet JSON attendu)."
        return metadata
    metadata.update(
        available=True,
        taskArn=task.get("TaskARN"),
        family=task.get("Family"),
        revision=task.get("Revision"),
        cluster=task.get("Cluster"),
        availabilityZone=task.get("AvailabilityZone"),
        launchType=task.get("LaunchType"),
        desiredStatus=task.get("DesiredStatus"),
        knownStatus=task.get("KnownStatus"),
        limits=task.get("Limits"),
        pullStartedAt=task.get("PullStartedAt"),
        pullStoppedAt=task.get("PullStoppedAt"),
    )
    try:
        container = _fetch_json(base)
    except Exception as exc:  # noqa: BLE001
        metadata["containerError"] = f"Impossible de lire les métadonnées du conteneur ({base}) : {exc}"
    else:
        if isinstance(container, dict):
            metadata["container"] = {
                "name": container.get("Name"),
                "dockerId": container.get("DockerId"),
                "image": container.get("Image"),
                "imageId": container.get("ImageID"),
                "desiredStatus": container.get("DesiredStatus"),
                "knownStatus": container.get("KnownStatus"),
                "createdAt": container.get("CreatedAt"),
                "startedAt": container.get("StartedAt"),
                "limits": container.get("Limits"),
                "logDriver": container.get("LogDriver"),
                "networks": container.get("Networks"),
            }
    return metadata


# --------------------------------------------------------------------------------------------
# Application state and routes
# --------------------------------------------------------------------------------------------
class AppState:
    def __init__(self, ecs_metadata: dict[str, Any]) -> None:
        self.ecs_metadata = ecs_metadata
        self.hostname = socket.gethostname()
        self._lock = threading.Lock()
        self.request_count = 0
        self.active_requests = 0

    def begin_request(self) -> int:
        with self._lock:
            self.request_count += 1
            self.active_requests += 1
            return self.request_count

    def end_request(self) -> None:
        with self._lock:
            self.active_requests -= 1


class BadRequest(Exception):
    pass


def runtime_info() -> dict[str, Any]:
    return {
        "language": "Python",
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "platform": f"{platform.system()}-{platform.machine()}",
    }


def parse_iterations(query: str) -> int:
    values = parse_qs(query, keep_blank_values=True).get("iterations")
    if not values:
        return DEFAULT_ITERATIONS
    if len(values) > 1:
        raise BadRequest("Le paramètre 'iterations' ne doit apparaître qu'une fois.")
    raw = values[0].strip()
    try:
        iterations = int(raw)
    except ValueError:
        raise BadRequest(f"'iterations' doit être un entier, reçu : {raw[:40]!r}.") from None
    if not 1 <= iterations <= LOAD_TEST_MAX_ITERATIONS:
        raise BadRequest(
            f"'iterations' doit être compris entre 1 et {LOAD_TEST_MAX_ITERATIONS}, reçu : {iterations}."
        )
    return iterations


def burn_cpu(iterations: int) -> float:
    total = 0.0
    sqrt = math.sqrt
    for i in range(iterations):
        total += sqrt(i)
    return total


def memory_limit_bytes() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                value = f.read().strip()
        except OSError:
            continue
        if value.isdigit() and int(value) < 1 << 60:
            return int(value)
        return None
    return None


def info_payload(state: AppState) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    try:
        cpus_available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus_available = os.cpu_count()
    try:
        load_average = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load_average = None
    return {
        "application": {"name": APP_NAME, "version": APP_VERSION, "server": "http.server.ThreadingHTTPServer"},
        "hostname": state.hostname,
        "runtime": {**runtime_info(), "executable": sys.executable},
        "process": {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "uid": os.getuid(),
            "gid": os.getgid(),
            "user": _user_name(),
            "cwd": os.getcwd(),
            "threads": threading.active_count(),
            "startedAt": STARTED_AT.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "uptime": uptime_seconds(),
            "cpuTimeSeconds": {"user": round(usage.ru_utime, 3), "system": round(usage.ru_stime, 3)},
            "maxRssKiB": usage.ru_maxrss,
        },
        "system": {
            "kernel": platform.release(),
            "cpuCount": os.cpu_count(),
            "cpusAvailable": cpus_available,
            "loadAverage": load_average,
            "memoryLimitBytes": memory_limit_bytes(),
        },
        "environment": {name: os.environ[name] for name in INFO_ENV_VARS if name in os.environ},
        "ecs": state.ecs_metadata,
        "requestCount": state.request_count,
        "timestamp": utc_now(),
    }


def _user_name() -> str | None:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return None


class Handler(BaseHTTPRequestHandler):
    server_version = f"{APP_NAME}/{APP_VERSION}"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = KEEP_ALIVE_TIMEOUT_SECONDS
    state: AppState  # set by make_server

    # -- plumbing -----------------------------------------------------------------------------
    def _send_json(self, status: int, payload: dict[str, Any], head: bool = False,
                   extra_headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # One line per request on stdout (CloudWatch via awslogs); successful health checks are
        # not logged (the ALB and Docker probe every few seconds).
        sys.stdout.write(f"{utc_now()} {self.address_string()} {format % args}\n")
        sys.stdout.flush()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if urlsplit(self.path).path == "/health" and str(code) == "200":
            return
        super().log_request(code, size)

    def _dispatch(self, head: bool = False) -> None:
        number = self.state.begin_request()
        try:
            self._route(number, head)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - never a traceback to the client
            sys.stderr.write(f"{utc_now()} erreur interne sur {self.path!r}: {exc!r}\n")
            self._send_json(500, {"error": "Erreur interne du serveur.", "timestamp": utc_now()}, head)
        finally:
            self.state.end_request()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch(head=True)

    def _method_not_allowed(self) -> None:
        self.state.begin_request()
        try:
            self._send_json(405, {"error": f"Méthode {self.command} non autorisée : utilisez GET.",
                                  "path": urlsplit(self.path).path}, extra_headers={"Allow": "GET, HEAD"})
        finally:
            self.state.end_request()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _method_not_allowed  # noqa: N815

    # -- routes -------------------------------------------------------------------------------
    def _route(self, number: int, head: bool) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        state = self.state
        if path == "/health":
            self._send_json(200, {"status": "healthy", "timestamp": utc_now(), "uptime": uptime_seconds()}, head)
        elif path == "/":
            self._send_json(200, {
                "message": "Bienvenue sur l'application web du lab ECS ! (Welcome to the ECS lab web app!)",
                "hostname": state.hostname,
                "runtime": runtime_info(),
                "ecs": state.ecs_metadata,
                "requestCount": number,
                "uptime": uptime_seconds(),
                "timestamp": utc_now(),
            }, head)
        elif path == "/info":
            self._send_json(200, info_payload(state), head)
        elif path == "/load-test":
            try:
                iterations = parse_iterations(parts.query)
            except BadRequest as exc:
                self._send_json(400, {
                    "error": str(exc),
                    "usage": f"/load-test?iterations=N avec 1 <= N <= {LOAD_TEST_MAX_ITERATIONS}",
                }, head)
                return
            started = time.perf_counter()
            result = burn_cpu(iterations)
            duration_ms = (time.perf_counter() - started) * 1000
            self._send_json(200, {
                "message": f"Test de charge terminé : {iterations} itérations.",
                "iterations": iterations,
                "durationMs": round(duration_ms, 2),
                "result": result,
                "hostname": state.hostname,
                "timestamp": utc_now(),
            }, head)
        elif path == "/error":
            self._send_json(500, {
                "error": "Erreur simulée pour tester la gestion des erreurs (route /error).",
                "timestamp": utc_now(),
            }, head)
        else:
            self._send_json(404, {
                "error": f"Route introuvable : {parts.path}",
                "routes": ["/", "/health", "/info", "/load-test?iterations=N", "/error"],
            }, head)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(host: str, port: int, state: AppState) -> Server:
    handler = type("BoundHandler", (Handler,), {"state": state})
    return Server((host, port), handler)


def parse_port(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"PORT invalide : {raw!r} (entier entre 1 et 65535 attendu).") from None
    if not 1 <= port <= 65535:
        raise SystemExit(f"PORT invalide : {port} (entier entre 1 et 65535 attendu).")
    return port


def main() -> int:
    port = parse_port(os.environ.get("PORT"))
    host = os.environ.get("HOST", "0.0.0.0")
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        print(f"{utc_now()} signal {signal.Signals(signum).name} reçu : arrêt en cours", flush=True)
        stop.set()

    # Handlers first: as PID 1 in a container, a signal without a handler is ignored.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    ecs_metadata = read_ecs_metadata()
    state = AppState(ecs_metadata)
    try:
        server = make_server(host, port, state)
    except OSError as exc:
        print(f"Impossible d'écouter sur {host}:{port} : {exc.strerror or exc}", file=sys.stderr, flush=True)
        return 1
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    where = ecs_metadata.get("taskArn") or "hors ECS"
    print(f"{utc_now()} {APP_NAME} à l'écoute sur http://{host}:{port} (Python {platform.python_version()}, "
          f"tâche : {where})", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()       # stops the accept loop (within poll_interval)
    server.server_close()   # closes the listening socket: new connections are refused
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    while state.active_requests > 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    print(f"{utc_now()} arrêt propre ({state.request_count} requêtes servies)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
