"""`ecs-lab sandbox down --keep`: moto's state and CloudTrail's history, kept for the next `up`.

moto keeps everything in its backends (plain Python objects): the backends of the lab's services
are pickled together (one pickle, so that references between services, a stack's resources to
the ECR repository or the load balancer, stay shared), with threading locks pickled as new locks.
At `up`, they replace the fresh backends. Tasks that were running when the sandbox stopped are
STOPPED ("the sandbox stopped") and each active service starts its tasks again, as ECS replaces
tasks that stopped.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SERVICES = ("cloudformation", "ec2", "ecr", "ecs", "elbv2", "iam", "logs", "s3", "sts", "events")
STATE_FILE = "moto.pickle"
TRAIL_FILE = "cloudtrail.json"
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
STOPPED_REASON = "Task stopped: the sandbox stopped (ecs-lab sandbox down --keep)"


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK_TYPES):
            return (threading.RLock if "RLock" in type(obj).__name__ else threading.Lock, ())
        return NotImplemented


def save(folder: Path, history: Any, port: int) -> None:
    from moto.backends import get_backend

    folder.mkdir(parents=True, exist_ok=True)
    backends = {}
    for service in SERVICES:
        try:
            backend_dict = get_backend(service)
        except Exception:  # noqa: BLE001 - a service this moto lacks
            continue
        backends[service] = {account: dict(regions.items()) for account, regions in backend_dict.items()}
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(backends)
    (folder / STATE_FILE).write_bytes(buffer.getvalue())
    (folder / TRAIL_FILE).write_text(json.dumps(history.dump()))
    (folder / "port").write_text(str(port))  # the ECR URIs saved name localhost:<port+1>


def restore(folder: Path, history: Any) -> bool:
    """Put the saved state back (False when there is none)."""
    from moto.backends import get_backend

    state = folder / STATE_FILE
    if not state.is_file():
        return False
    backends = pickle.loads(state.read_bytes())
    for service, accounts in backends.items():
        backend_dict = get_backend(service)
        for account, regions in accounts.items():
            for region, backend in regions.items():
                dict.__setitem__(backend_dict[account], region, backend)
    trail = folder / TRAIL_FILE
    if trail.is_file():
        history.load(json.loads(trail.read_text()))
    return True


def restart_services(ecs: Any) -> int:
    """After a restore: running tasks have stopped; active services start theirs again."""
    from moto.ecs.models import ecs_backends

    services = 0
    for account_backends in ecs_backends.values():
        for backend in account_backends.values():
            for tasks in backend.tasks.values():
                for task in tasks.values():
                    if task.last_status != "STOPPED":
                        task.last_status = task.desired_status = "STOPPED"
                        task.stopped_reason = STOPPED_REASON
                        for container in task.containers:
                            container.last_status = "STOPPED"
            for service in backend.services.values():
                if service.status == "ACTIVE" and service.launch_type == "FARGATE" and service.task_definition:
                    service.running_count = service.pending_count = 0
                    ecs.track_service(service)
                    services += 1
    return services

