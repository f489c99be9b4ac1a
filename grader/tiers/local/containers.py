"""Running the classifier image directly (``docker run``) on the local ECS's network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grader.evidence.awslogs import found_result

CONTAINER_TIME_LIMIT_S = 90


@dataclass
class ContainerRun:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def output(self) -> str:
        return f"{self.stdout}\n{self.stderr}".strip()

    def result_document(self) -> dict | None:
        """The last line of stdout that is a JSON object with predictions."""
        return found_result(self.stdout.splitlines())


def run_container(ecs: Any, image: str, command: list[str], *, environment: dict[str, str] | None = None,
                  volumes: dict | None = None, time_limit_s: float = CONTAINER_TIME_LIMIT_S) -> ContainerRun:
    """``docker run`` on the local ECS's network (labelled: removed at the end in any case)."""
    docker = ecs.resources.client
    container = docker.containers.create(**ecs.container_kwargs(image=image, command=command,
                                                                environment=environment or {},
                                                                volumes=volumes or {}, detach=True))
    ecs.resources.track(container)
    try:
        container.start()
        try:
            status = container.wait(timeout=time_limit_s)
            timed_out = False
        except Exception:  # noqa: BLE001 - requests' ReadTimeout / ConnectionError
            container.kill()
            status, timed_out = {"StatusCode": None}, True
        stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        return ContainerRun(status.get("StatusCode"), stdout, stderr, timed_out)
    finally:
        ecs.resources.remove_container(container.id)
