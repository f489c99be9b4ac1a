"""What a run on Fargate costs, printed before it starts (and the projection of the benchmark).

Fargate bills each task per second from the start of its image's pull to its end, one minute at
least, for the task's vCPU and memory. A task grades its share of the class one submission after
another, after a start-up (provisioning, the image's pull, the interpreter's start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Fargate, Linux/x86, on demand: USD per vCPU-hour and per GB-hour (https://aws.amazon.com/fargate/pricing/,
# read 2026-12). A region not listed is priced as us-east-1 and the estimate says so.
PRICES = {
    "us-east-1": (0.04048, 0.004445), "us-east-2": (0.04048, 0.004445), "us-west-2": (0.04048, 0.004445),
    "eu-west-1": (0.04048, 0.004445), "eu-central-1": (0.04656, 0.00511), "eu-west-3": (0.04656, 0.00511),
    "ca-central-1": (0.04456, 0.004865),
}
DEFAULT_PRICE_REGION = "us-east-1"
MINIMUM_BILLED_S = 60
# Measured in a task of 1 vCPU (`python benchmarks/bench_ecs_grading.py`, BENCHMARKS.md, "A class graded
# on ECS"): CPU-seconds of one offline grading (the scorer, the worker and the student's code), and its
# wall time.
CPU_S_PER_SUBMISSION = 3.3
WALL_FLOOR_S = 3.4
# Measured start-up of a Fargate task of a ~400 MB image (provisioning and pull): 40-60 s.
FARGATE_STARTUP_S = 60.0


@dataclass(frozen=True)
class Estimate:
    submissions: int
    tasks: int
    cpu: float  # vCPU per task
    memory_gb: float
    per_submission_s: float
    startup_s: float
    wall_s: float
    cost_usd: float
    price_region: str  # the region whose prices were used

    def describe(self, lang: str, region: str) -> str:
        minutes = self.wall_s / 60
        note_fr = "" if self.price_region == region else f" (prix de {self.price_region} : {region} n'est pas connue)"
        note_en = "" if self.price_region == region else f" ({self.price_region}'s prices: {region} is not known)"
        if lang == "en":
            return (f"Estimate: {self.submissions} submission(s) on {self.tasks} Fargate task(s) of {self.cpu:g} vCPU "
                    f"and {self.memory_gb:g} GB: about {minutes:.1f} min, about ${self.cost_usd:.3f}{note_en}.")
        return (f"Estimation : {self.submissions} rendu(s) sur {self.tasks} tâche(s) Fargate de {self.cpu:g} vCPU et "
                f"{self.memory_gb:g} Go : environ {minutes:.1f} min, environ {self.cost_usd:.3f} ${note_fr}.")


def estimate(submissions: int, *, tasks: int, cpu: float, memory_gb: float, region: str,
             cpu_s_per_submission: float = CPU_S_PER_SUBMISSION, wall_floor_s: float = WALL_FLOOR_S,
             startup_s: float = FARGATE_STARTUP_S) -> Estimate:
    """The wall time and the price of grading `submissions` with `tasks` tasks of `cpu` vCPU each."""
    tasks = max(1, min(tasks, submissions or 1))
    per_submission = max(cpu_s_per_submission / cpu, wall_floor_s)
    share = math.ceil(submissions / tasks) if submissions else 0
    wall = startup_s + share * per_submission
    per_second, price_region = price_per_second(region, cpu=cpu, memory_gb=memory_gb)
    cost = tasks * max(MINIMUM_BILLED_S, wall) * per_second
    return Estimate(submissions, tasks, cpu, memory_gb, per_submission, startup_s, wall, cost, price_region)


def price_per_second(region: str, *, cpu: float, memory_gb: float) -> tuple[float, str]:
    """USD per second of one task of `cpu` vCPU and `memory_gb` GB in `region`; and the region priced."""
    price_region = region if region in PRICES else DEFAULT_PRICE_REGION
    vcpu_hour, gb_hour = PRICES[price_region]
    return (cpu * vcpu_hour + memory_gb * gb_hour) / 3600, price_region
