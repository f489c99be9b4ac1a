"""Faulty submissions for the LOCAL tier (real containers, local ECS), built like the offline
corpus of faults.py: the reference plus small documented patches, written out with
`faults.materialise`.

`loses` maps each checkpoint the local tier must take points from to the score it must keep
(0.0 = everything lost); every other locally graded checkpoint keeps full marks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.catalogue import load_catalogue

from .faults import OPS, OPS_CLASS, S3_IO, Replace, ReplaceDef, materialise  # noqa: F401 - materialise is re-exported

LOCAL_CHECKPOINTS = frozenset(load_catalogue().ids("local"))


@dataclass(frozen=True)
class LocalSubmission:
    name: str
    why: str
    patches: tuple[Replace | ReplaceDef, ...]
    loses: dict[str, float] = field(default_factory=dict)  # checkpoint -> fraction of its points it keeps
    resources: bool = False  # (materialise's interface)

    def __post_init__(self) -> None:
        unknown = set(self.loses) - LOCAL_CHECKPOINTS
        if unknown:
            raise ValueError(f"{self.name}: not locally graded checkpoints: {sorted(unknown)}")


LOCAL_FAULTY: tuple[LocalSubmission, ...] = (
    LocalSubmission(
        "local_upload_writes_nothing",
        "s3_io.upload_result parses the URI and returns without writing the object (no exception): "
        "the classifier's S3 mode exits 0 and no result is in S3.",
        (ReplaceDef(S3_IO, "upload_result", '''
            def upload_result(s3_client, uri: str, result: dict) -> None:
                """Écrit ``result`` en JSON (type application/json) à l'emplacement ``uri``."""
                parse_s3_uri(uri)  # FAULT: the object is never written
            '''),),
        # bonus_task_exit_0 keeps full marks: the container really exits 0.
        loses={"bonus_s3_upload": 0.0, "bonus_result_in_s3": 0.0},
    ),
    LocalSubmission(
        "local_monitor_without_timeout",
        "monitor_task polls until STOPPED but never gives up: a task that hangs keeps it waiting forever "
        "(the check's time limit stops it; later calls of monitor_task fail at once).",
        (ReplaceDef(OPS, f"{OPS_CLASS}.monitor_task", '''
            def monitor_task(self, cluster_name, task_arn, poll_interval=30.0, timeout=900.0):
                last_status = None
                while True:  # FAULT: no deadline
                    task = self.ecs.describe_tasks(cluster=cluster_name, tasks=[task_arn])["tasks"][0]
                    if task["lastStatus"] != last_status:
                        last_status = task["lastStatus"]
                        print(f"Statut de la tâche : {last_status}")
                    if last_status == "STOPPED":
                        return self._check_stopped_task(task)
                    time.sleep(poll_interval)
            '''),),
        # Only the hanging-task check (weight 1 of 10) needs the deadline; it runs last in its module.
        loses={"task_monitoring": 0.9},
    ),
)


def by_name(name: str) -> LocalSubmission:
    return next(s for s in LOCAL_FAULTY if s.name == name)
