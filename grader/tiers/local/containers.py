"""Running a classifier image directly (``docker run``) on the local ECS's network.

The image may be the student's own build (classifier_image_local): hostile code. Every
container gets the task's limits (2 GiB of memory, 1 CPU, 256 processes), no capabilities,
no privilege gain, a bounded log (what the grader reads back), a wall-clock limit, and is
removed at the end. Its network is the local ECS's (it must reach the tier's photo server);
what is there (the tier's moto server) the student's code reaches already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecslab.facts import CLASSIFIER_CPU, CLASSIFIER_MEMORY
from grader.evidence.awslogs import found_result

CONTAINER_TIME_LIMIT_S = 90
# The lab's classifier task (step 11): 1 vCPU, 2 GiB.
LIMITS = {
    "mem_limit": f"{CLASSIFIER_MEMORY}m", "memswap_limit": f"{CLASSIFIER_MEMORY}m",
    "nano_cpus": int(CLASSIFIER_CPU) * 1_000_000_000 // 1024, "pids_limit": 256,
    "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"],
    "log_config": {"type": "json-file", "config": {"max-size": "4m", "max-file": "1"}},
}
OUTPUT_LIMIT = 1_000_000  # characters kept of each stream (the end: the result document is last)


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
                                                                volumes=volumes or {}, detach=True, **LIMITS))
    ecs.resources.track(container)
    try:
        container.start()
        try:
            status = container.wait(timeout=time_limit_s)
            timed_out = False
        except Exception:  # noqa: BLE001 - requests' ReadTimeout / ConnectionError
            container.kill()
            status, timed_out = {"StatusCode": None}, True
        stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")[-OUTPUT_LIMIT:]
        stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")[-OUTPUT_LIMIT:]
        return ContainerRun(status.get("StatusCode"), stdout, stderr, timed_out)
    finally:
        ecs.resources.remove_container(container.id)
