"""The result model: check outcomes → checkpoint grades → one report, whatever the format."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import ast
import functools

from grader import feedback_order
from grader.feedback_order import Coverage, NextStep
from grader.catalogue import Catalogue, Checkpoint
from grader.project import CHECKS_DIR

PASSED, PARTIAL, FAILED, NOT_GRADED = "passed", "partial", "failed", "not_graded"


@dataclass
class CheckResult:
    """One pytest check of one checkpoint."""

    nodeid: str
    name: str
    tier: str
    outcome: str  # passed | failed | skipped
    weight: float = 1.0
    message: str = ""  # feedback (failed) or reason (skipped), already in the run's language
    duration_s: float = 0.0
    key: str = ""  # failed: what kind of failure, the same for every submission (grader.feedback)


@dataclass
class CheckpointResult:
    id: str
    part: str
    part_title: str
    step: str
    title: str
    bonus: bool
    max_points: float
    score: float
    status: str
    feedback: list[str] = field(default_factory=list)
    reason: str = ""  # why it is not graded
    checks: list[CheckResult] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)  # the tiers that can verify it
    other_tier: bool = False  # not graded only because the tiers that verify it did not run
    caused_by: str = ""  # an earlier checkpoint whose failure (the same one) this one repeats
    lab_provided: bool = False  # graded on files the lab provides, which the submission does not change
    depends_on: list[str] = field(default_factory=list)  # checkpoints whose work it chains (catalogue)


@dataclass
class GradeReport:
    submission: str
    tiers: list[str]
    lang: str
    started_at: str
    duration_s: float
    checkpoints: list[CheckpointResult]
    notes: list[str] = field(default_factory=list)  # the grader's own problems and evidence
    flags: list[str] = field(default_factory=list)  # what the submission tried against the grader
    protections: list[str] = field(default_factory=list)  # how the student's code was isolated
    partial: bool = False  # a -m/-k selection: only some checkpoints were graded

    @property
    def required(self) -> list[CheckpointResult]:
        return [c for c in self.checkpoints if not c.bonus]

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.required), 2)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_points for c in self.required), 2)

    @property
    def graded_max(self) -> float:
        return round(sum(c.max_points for c in self.required if c.status != NOT_GRADED), 2)

    @property
    def bonus_score(self) -> float:
        return round(sum(c.score for c in self.checkpoints if c.bonus), 2)

    @property
    def bonus_max(self) -> float:
        return round(sum(c.max_points for c in self.checkpoints if c.bonus), 2)

    def by_part(self) -> list[tuple[str, list[CheckpointResult]]]:
        parts: dict[str, list[CheckpointResult]] = {}
        for checkpoint in self.checkpoints:
            parts.setdefault(checkpoint.part_title, []).append(checkpoint)
        return list(parts.items())

    @property
    def graded_bonus_max(self) -> float:
        return round(sum(c.max_points for c in self.checkpoints if c.bonus and c.status != NOT_GRADED), 2)

    @property
    def other_tier_checkpoints(self) -> list[CheckpointResult]:
        return [c for c in self.checkpoints if c.other_tier]

    @property
    def next_step(self) -> NextStep:
        return feedback_order.next_step(self)

    @property
    def coverage(self) -> Coverage:
        return feedback_order.coverage(self)

    @property
    def partial_text(self) -> str:
        return feedback_order.partial_text(self) if self.partial else ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(
            score=self.score,
            max_score=self.max_score,
            graded_max=self.graded_max,
            bonus_score=self.bonus_score,
            bonus_max=self.bonus_max,
            next_step={"checkpoint": self.next_step.checkpoint.id if self.next_step.checkpoint else None,
                       "text": self.next_step.text},
            coverage={"text": self.coverage.text, "other_tiers": self.coverage.other_tiers,
                      "provided_text": self.coverage.provided_text},
            partial_text=self.partial_text,
        )
        return data


def grade_checkpoint(
    checkpoint: Checkpoint,
    checks: list[CheckResult],
    *,
    part_title: str,
    lang: str,
    tiers_run: list[str],
    tier_reasons: dict[str, str],
    selection: bool = False,
) -> CheckpointResult:
    """Points in proportion to the weight of the passed checks among those that ran."""
    result = CheckpointResult(
        id=checkpoint.id,
        part=checkpoint.part,
        part_title=part_title,
        step=checkpoint.step,
        title=checkpoint.title(lang),
        bonus=checkpoint.bonus,
        max_points=checkpoint.points,
        score=0.0,
        status=NOT_GRADED,
        checks=sorted(checks, key=_definition_order),
        tiers=list(checkpoint.tiers),
        depends_on=list(checkpoint.depends_on),
    )
    ran = [c for c in checks if c.outcome != "skipped"]
    if not ran:
        result.reason = _not_graded_reason(checkpoint, checks, lang, tiers_run, tier_reasons, selection)
        result.other_tier = not set(checkpoint.tiers) & set(tiers_run)
        return result
    total = sum(c.weight for c in ran)
    passed = sum(c.weight for c in ran if c.outcome == "passed")
    result.score = round(checkpoint.points * passed / total, 2) if total else 0.0
    result.status = PASSED if passed == total else (PARTIAL if passed else FAILED)
    for check in result.checks:
        if check.outcome == "failed" and check.message and check.message not in result.feedback:
            result.feedback.append(check.message)
    return result


def _definition_order(check: CheckResult) -> tuple:
    """Checks in the order their module defines them (its author puts the root of the matter
    first: "returns the stopped task" before "polls at the interval"), then by parameter."""
    path, _, name = check.nodeid.partition("::")
    function, _, parameter = name.partition("[")
    return path, _function_lines(path).get(function, 1 << 30), function, parameter


@functools.lru_cache(maxsize=None)
def _function_lines(path: str) -> dict[str, int]:
    try:
        tree = ast.parse((CHECKS_DIR.parent / path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return {}
    return {node.name: node.lineno for node in tree.body if isinstance(node, ast.FunctionDef)}


def _not_graded_reason(
    checkpoint: Checkpoint,
    checks: list[CheckResult],
    lang: str,
    tiers_run: list[str],
    tier_reasons: dict[str, str],
    selection: bool = False,
) -> str:
    for tier in checkpoint.tiers:  # a tier that ran but could not work here (no Docker...)
        if tier in tiers_run and tier in tier_reasons:
            return tier_reasons[tier]
    ran_tiers = [c.tier for c in checks if c.tier in tiers_run]
    reasons = sorted({c.message for c in checks if c.message and c.tier in tiers_run})
    if ran_tiers and reasons:  # skipped for their own reasons (--stage...)
        return " / ".join(reasons)
    if selection and set(checkpoint.tiers) & set(tiers_run):
        from grader import i18n

        return i18n.not_selected(lang)
    tiers = ", ".join(checkpoint.tiers)
    options = (" or " if lang == "en" else " ou ").join(f"--tier {t}" for t in checkpoint.tiers)
    if lang == "en":
        return f"Verified by the {tiers} tier(s), not run here: run again with {options} (or --tier all)."
    return f"Vérifié par le(s) tier(s) {tiers}, non exécuté(s) ici : relancez avec {options} (ou --tier all)."


def build_report(
    catalogue: Catalogue,
    check_results: list[CheckResult],
    module_of: dict[str, str],
    *,
    submission: str,
    tiers: list[str],
    lang: str,
    started_at: str,
    duration_s: float,
    tier_reasons: dict[str, str] | None = None,
    notes: list[str] | None = None,
    flags: list[str] | None = None,
    protections: list[str] | None = None,
    selection: bool = False,
    lab_provided: set[str] | None = None,
) -> GradeReport:
    """Group check results by checkpoint (through their module) and grade each.

    ``lab_provided``: the checkpoints graded on files the lab provides and the submission
    does not ship (the report says that their points come from those files)."""
    by_checkpoint: dict[str, list[CheckResult]] = {c.id: [] for c in catalogue.checkpoints}
    modules = catalogue.by_module()
    for check in check_results:
        module = module_of[check.nodeid]
        _tier, checkpoint = modules[module]
        by_checkpoint[checkpoint.id].append(check)
    checkpoints = [
        grade_checkpoint(
            checkpoint,
            by_checkpoint[checkpoint.id],
            part_title=catalogue.parts[checkpoint.part](lang),
            lang=lang,
            tiers_run=tiers,
            tier_reasons=tier_reasons or {},
            selection=selection,
        )
        for checkpoint in catalogue.checkpoints
    ]
    for checkpoint in checkpoints:
        checkpoint.lab_provided = checkpoint.id in (lab_provided or set())
    feedback_order.one_message_per_cause(checkpoints, lang)
    return GradeReport(
        submission=submission,
        tiers=tiers,
        lang=lang,
        started_at=started_at,
        duration_s=round(duration_s, 2),
        checkpoints=checkpoints,
        notes=notes or [],
        flags=flags or [],
        protections=protections or [],
        partial=selection,
    )
