"""What a tier is: its name, what it says of itself, its time limits, its world and its accounts.

Every tier is one :class:`Tier` of :data:`TIERS` (in the handout's order), and has the same rooms
(grader/tiers/<name>/): ``world.py`` (its :class:`World`: the resources of a whole run, a context
manager whose ``reset()`` gives each check a fresh :class:`Account`), ``fixtures.py`` (``world``,
``account`` and what the tier adds), and its own helpers. Every list of tiers in the grader (the
catalogue's, the options', the batch's time limits, the report's wording) comes from here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from grader.feedback import Text


@dataclass(frozen=True)
class Tier:
    name: str
    where: Text  # how the report says where its points were verified ("hors ligne")
    check_timeout_s: int  # one check's safety net (pytest-timeout): beyond it, the grader's own failure
    submission_timeout_s: float  # one submission's limit in `ecs-lab grade` (--timeout replaces it)
    runs_student_code: bool  # offline and local run the student's Python; aws only reads the account


OFFLINE = Tier("offline", Text("hors ligne", "offline"), check_timeout_s=120, submission_timeout_s=180,
               runs_student_code=True)
LOCAL = Tier("local", Text("en local (Docker)", "locally (Docker)"), check_timeout_s=900, submission_timeout_s=1800,
             runs_student_code=True)
AWS = Tier("aws", Text("sur AWS", "on AWS"), check_timeout_s=300, submission_timeout_s=900, runs_student_code=False)

TIERS: tuple[Tier, ...] = (OFFLINE, LOCAL, AWS)
NAMES: tuple[str, ...] = tuple(t.name for t in TIERS)
ALL = "all"  # every tier, in one run


def tier(name: str) -> Tier:
    return next(t for t in TIERS if t.name == name)


def submission_timeout_s(name: str) -> float:
    """A submission's time limit in a batch on `name` (a tier, or "all": the sum)."""
    return sum(t.submission_timeout_s for t in TIERS) if name == ALL else tier(name).submission_timeout_s


class World(ABC):
    """A tier's resources for one grading run (a context manager); each check gets a fresh account."""

    @abstractmethod
    def __enter__(self) -> "World": ...

    @abstractmethod
    def __exit__(self, *exc: Any) -> None: ...

    @abstractmethod
    def reset(self) -> "Account":
        """One check's fresh view of the world."""

    @abstractmethod
    def client(self, service: str) -> Any:
        """The scorer's own client of `service` (never taken for the student's calls)."""


@dataclass
class Account:
    """One check's view of its tier's world: the record of the student's requests (and the scenario
    the check plays on the scorer's servers), the virtual clock where there is one."""

    world: World
    requests: Any = None  # grader.evidence.aws_requests.Scenario, where the student's code runs
    clock: Any = None  # grader.evidence.clock.VirtualClock, on the offline tier

    def client(self, service: str) -> Any:
        return self.world.client(service)
