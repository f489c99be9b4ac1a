"""The catalogue of checkpoints (catalogue.yaml), loaded and validated once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from grader.feedback import Text
from grader.project import CHECKS_DIR  # noqa: F401 - where the checks of a checkpoint are (Checkpoint.module)
from grader.tiers.base import NAMES as TIERS

CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")


@dataclass(frozen=True)
class Checkpoint:
    id: str
    part: str
    step: str
    points: float
    title: Text
    bonus: bool
    tiers: tuple[str, ...]  # the tiers that verify it, in TIERS order
    uses: tuple[str, ...]  # the submission's files it grades (module names, or "resources")
    depends_on: tuple[str, ...] = ()  # checkpoints whose work it chains (main_runs: the whole part 2)

    def module(self, tier: str) -> str:
        """Its checks on `tier`: checks/<tier>/test_<id>.py (relative to checks/)."""
        return f"{tier}/test_{self.id}.py"

    def step_label(self, lang: str) -> str:
        """Its handout step in words, in `lang` ("étapes 6 et 7", "the Clean-up step"): grader.i18n.step_label."""
        from grader.i18n import step_label

        return step_label(self.step, lang)

    @property
    def checks(self) -> dict[str, str]:
        return {tier: self.module(tier) for tier in self.tiers}


@dataclass(frozen=True)
class Catalogue:
    parts: dict[str, Text]
    checkpoints: tuple[Checkpoint, ...]

    def by_module(self) -> dict[str, tuple[str, Checkpoint]]:
        """Check module (relative to checks/) -> (tier, checkpoint)."""
        return {checkpoint.module(tier): (tier, checkpoint)
                for checkpoint in self.checkpoints for tier in checkpoint.tiers}

    def ids(self, tier: str | None = None, *, bonus: bool | None = None) -> list[str]:
        """Checkpoint ids in handout order, of one tier and/or only (not) bonus ones."""
        return [c.id for c in self.checkpoints
                if (tier is None or tier in c.tiers) and (bonus is None or c.bonus == bonus)]

    def using(self, *files: str) -> set[str]:
        """Ids of the checkpoints that grade any of these files of the submission."""
        return {c.id for c in self.checkpoints if set(c.uses) & set(files)}

    def get(self, checkpoint_id: str) -> Checkpoint:
        return next(c for c in self.checkpoints if c.id == checkpoint_id)

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.checkpoints if not c.bonus)

    @property
    def bonus_points(self) -> float:
        return sum(c.points for c in self.checkpoints if c.bonus)

    def points_on(self, tier: str, *, bonus: bool = False) -> float:
        """The required (or bonus) points `tier` verifies: what a perfect solution earns there."""
        return sum(c.points for c in self.checkpoints if tier in c.tiers and c.bonus == bonus)


class CatalogueError(ValueError):
    pass


@cache
def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    parts = {key: Text(**value) for key, value in data["parts"].items()}
    checkpoints = []
    seen_ids: set[str] = set()
    for raw in data["checkpoints"]:
        tiers = tuple(raw.get("tiers") or ())
        unknown = [t for t in tiers if t not in TIERS]
        if unknown:
            raise CatalogueError(f"{raw.get('id')}: unknown tier(s) {unknown}")
        checkpoint = Checkpoint(
            id=raw["id"],
            part=raw["part"],
            step=str(raw["step"]),
            points=float(raw["points"]),
            title=Text(**raw["title"]),
            bonus=bool(raw.get("bonus", False)),
            tiers=tuple(t for t in TIERS if t in tiers),
            uses=tuple(raw.get("uses") or ()),
            depends_on=tuple(raw.get("depends_on") or ()),
        )
        if checkpoint.id in seen_ids or not checkpoint.id.isidentifier():
            raise CatalogueError(f"checkpoint id {checkpoint.id!r} is duplicated or not an identifier")
        if checkpoint.part not in parts:
            raise CatalogueError(f"{checkpoint.id}: unknown part {checkpoint.part!r}")
        if not checkpoint.tiers:
            raise CatalogueError(f"{checkpoint.id}: no tier verifies it")
        seen_ids.add(checkpoint.id)
        checkpoints.append(checkpoint)
    for checkpoint in checkpoints:
        unknown = [d for d in checkpoint.depends_on if d not in seen_ids]
        if unknown:
            raise CatalogueError(f"{checkpoint.id}: depends on unknown checkpoint(s) {unknown}")
    # Consistency with the files under checks/ and the 100-point total are asserted by
    # tests/test_catalogue.py, so that a half-written tier shows up in CI, not at a student's.
    return Catalogue(parts=parts, checkpoints=tuple(checkpoints))
