"""The catalogue of checkpoints (catalogue.yaml), loaded and validated once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from grader.feedback import Text

TIERS = ("offline", "local", "aws")
CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")
CHECKS_DIR = Path(__file__).resolve().parent.parent / "checks"


@dataclass(frozen=True)
class Checkpoint:
    id: str
    part: str
    step: str
    points: float
    title: Text
    bonus: bool
    checks: dict[str, tuple[str, ...]]  # tier -> check modules, relative to checks/

    @property
    def tiers(self) -> tuple[str, ...]:
        return tuple(t for t in TIERS if self.checks.get(t))


@dataclass(frozen=True)
class Catalogue:
    parts: dict[str, Text]
    checkpoints: tuple[Checkpoint, ...]

    def by_module(self) -> dict[str, tuple[str, Checkpoint]]:
        """Check module (relative to checks/) -> (tier, checkpoint)."""
        return {
            module: (tier, checkpoint)
            for checkpoint in self.checkpoints
            for tier, modules in checkpoint.checks.items()
            for module in modules
        }

    def get(self, checkpoint_id: str) -> Checkpoint:
        return next(c for c in self.checkpoints if c.id == checkpoint_id)

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.checkpoints if not c.bonus)

    @property
    def bonus_points(self) -> float:
        return sum(c.points for c in self.checkpoints if c.bonus)


class CatalogueError(ValueError):
    pass


@cache
def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    parts = {key: Text(**value) for key, value in data["parts"].items()}
    checkpoints = []
    seen_ids: set[str] = set()
    seen_modules: set[str] = set()
    for raw in data["checkpoints"]:
        checkpoint = Checkpoint(
            id=raw["id"],
            part=raw["part"],
            step=str(raw["step"]),
            points=float(raw["points"]),
            title=Text(**raw["title"]),
            bonus=bool(raw.get("bonus", False)),
            checks={tier: tuple(mods) for tier, mods in raw["checks"].items()},
        )
        if checkpoint.id in seen_ids or not checkpoint.id.isidentifier():
            raise CatalogueError(f"checkpoint id {checkpoint.id!r} is duplicated or not an identifier")
        if checkpoint.part not in parts:
            raise CatalogueError(f"{checkpoint.id}: unknown part {checkpoint.part!r}")
        for tier, modules in checkpoint.checks.items():
            if tier not in TIERS:
                raise CatalogueError(f"{checkpoint.id}: unknown tier {tier!r}")
            for module in modules:
                if not module.startswith(f"{tier}/"):
                    raise CatalogueError(f"{checkpoint.id}: {module} is not under checks/{tier}/")
                if module in seen_modules:
                    raise CatalogueError(f"{module} proves two checkpoints; one module, one checkpoint")
                seen_modules.add(module)
        if not checkpoint.tiers:
            raise CatalogueError(f"{checkpoint.id}: no check proves it")
        seen_ids.add(checkpoint.id)
        checkpoints.append(checkpoint)
    # Consistency with the files under checks/ and the 100-point total are asserted by
    # tests/test_catalogue.py, so that a half-written tier shows up in CI, not at a student's.
    return Catalogue(parts=parts, checkpoints=tuple(checkpoints))
