"""The result model: check outcomes → checkpoint grades → one report, whatever the format; then
what the student reads first in every report (the last section).

What is read first: every report (terminal, HTML, Markdown, JSON) opens with the same three things,
computed from the graded checkpoints: the first checkpoint of the handout that is not met (its
step and why), the points the score covers and what the other tiers would add, and, for a
-m/-k run, that the report is partial. A failure repeated by several checkpoints (a file that
does not import, the same function failing the same way) is told once, under the first.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from grader import i18n
from grader.catalogue import Catalogue, Checkpoint
from grader.feedback import Text
from grader.project import CHECKS_DIR
from grader.tiers.base import NAMES, TIERS

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
class NextStep:
    """What to do next: the first checkpoint, in the handout's order, that is not met."""

    checkpoint: CheckpointResult | None
    text: str  # the sentence, in the report's language


@dataclass
class Coverage:
    """What the score covers: the points verified here, and what other tiers would add."""

    text: str
    other_tiers: list[tuple[str, float, list[str]]]  # (tier, required points it adds, checkpoint ids)
    provided_text: str = ""  # the points that come from files the lab provides


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
        return next_step(self)

    @property
    def coverage(self) -> Coverage:
        return coverage(self)

    @property
    def partial_text(self) -> str:
        return partial_text(self) if self.partial else ""

    def to_dict(self) -> dict:
        data = _plain(self)
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
    one_message_per_cause(checkpoints, lang)
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


# --- What is read first ------------------------------------------------------------------------

_NOT_MET = ("failed", "partial")


def handout_rank(step: str) -> tuple[int, int]:
    """Where a step is in LAB.md: 2…12, then Bonus 1…4, then the final clean-up (« Nettoyage »)."""
    numbers = [int(n) for n in re.findall(r"\d+", step)]
    first = numbers[0] if numbers else 0
    if step.lower().startswith("bonus"):
        return 1, first
    if not numbers:  # "Nettoyage": the last section of the handout
        return 2, 0
    return 0, first


def in_handout_order(checkpoints: list[CheckpointResult]) -> list[CheckpointResult]:
    return sorted(checkpoints, key=lambda c: handout_rank(c.step))  # stable: the catalogue's order within a step


def next_step(report: GradeReport) -> NextStep:
    lang = report.lang
    for checkpoint in in_handout_order(report.checkpoints):
        if checkpoint.status in _NOT_MET and not checkpoint.step and checkpoint.feedback:
            # Not a step of the handout (nothing could be graded): its message says what to do.
            return NextStep(checkpoint, checkpoint.feedback[0])
        if checkpoint.status in _NOT_MET:
            where = i18n.step_label(checkpoint.step, lang)
            return NextStep(checkpoint, Text(
                f"Prochaine étape : {where} de LAB.md, « {checkpoint.title} » ({checkpoint.id}).",
                f"Next step: {where} of LAB.md, \u201c{checkpoint.title}\u201d ({checkpoint.id}).")(lang))
    others = _other_tiers(report)
    if others:
        options = Text(" puis ", " then ")(lang).join(f"--tier {tier}" for tier, _, _ in others)
        return NextStep(None, Text(
            f"Prochaine étape : tout ce que ce tier vérifie est réussi ; le reste se vérifie avec {options}.",
            f"Next step: everything this tier verifies is met; the rest is verified with {options}.")(lang))
    if any(c.status == "not_graded" for c in report.checkpoints):
        return NextStep(None, Text("Tout ce qui a été noté est réussi ; voyez plus bas les points non notés.",
                                   "Everything graded is met; see below what was not graded.")(lang))
    return NextStep(None, Text("Tout est réussi : rien à reprendre.", "Everything is met: nothing to redo.")(lang))


def _other_tiers(report: GradeReport, bonus: bool = False) -> list[tuple[str, float, list[str]]]:
    """(tier, points, checkpoint ids) that each tier not run would add, each checkpoint counted once."""
    waiting = [c for c in report.checkpoints if c.other_tier and c.bonus == bonus]
    added = []
    for tier in NAMES:
        if tier in report.tiers:
            continue
        mine = [c for c in waiting if tier in c.tiers]
        if mine:
            added.append((tier, round(sum(c.max_points for c in mine), 2), [c.id for c in mine]))
            waiting = [c for c in waiting if c not in mine]
    return added


def coverage(report: GradeReport) -> Coverage:
    lang = report.lang
    number = lambda value: i18n.number(value, lang, 2)  # noqa: E731
    where = Text(" et ", " and ")(lang).join(t.where(lang) for t in TIERS if t.name in report.tiers)
    text = Text(f"{number(report.score)} / {number(report.graded_max)} points vérifiables {where}",
                f"{number(report.score)} / {number(report.graded_max)} points verifiable {where}")(lang)
    others = _other_tiers(report)
    if others:
        more = [Text(f"{number(points)} de plus avec --tier {tier}" if i == 0 else
                     f"{number(points)} avec --tier {tier}",
                     f"{number(points)} more with --tier {tier}" if i == 0 else
                     f"{number(points)} with --tier {tier}")(lang)
                for i, (tier, points, _) in enumerate(others)]
        text += " — " + ", ".join(more)
    if report.graded_max != report.max_score:
        text += Text(f" (la note du lab est sur {number(report.max_score)})",
                     f" (the lab is graded out of {number(report.max_score)})")(lang)
    provided = [c for c in report.checkpoints if c.lab_provided and c.score > 0]
    provided_text = ""
    if provided:
        points = number(sum(c.score for c in provided))
        ids = ", ".join(c.id for c in provided)
        provided_text = Text(
            f"Dont {points} points pour des fichiers que le lab fournit (resources/, non modifiés : {ids}).",
            f"Of which {points} points for files the lab provides (resources/, unchanged: {ids}).")(lang)
    return Coverage(text=text, other_tiers=others, provided_text=provided_text)


def other_tiers_line(report: GradeReport) -> str:
    """One line for every checkpoint that only another tier verifies (instead of one row each)."""
    lang = report.lang
    parts = []
    for bonus in (False, True):
        for tier, points, ids in _other_tiers(report, bonus):
            label = "bonus, " if bonus else ""  # the same word in both languages
            parts.append(f"--tier {tier} ({label}{i18n.number(points, lang, 2)} points{i18n.colon(lang)}"
                         f"{', '.join(ids)})")
    if not parts:
        return ""
    return Text("Vérifiés par d'autres tiers, non notés ici : ", "Verified by other tiers, not graded here: ")(lang) \
        + Text(" ; ", "; ")(lang).join(parts) + "."


def partial_text(report: GradeReport) -> str:
    graded = [c.id for c in report.checkpoints if c.status != "not_graded"]
    return Text(
        f"Rapport partiel (-m/-k) : seuls {', '.join(graded) or 'aucun point'} ont été notés ; "
        "la note complète s'obtient sans -m ni -k.",
        f"Partial report (-m/-k): only {', '.join(graded) or 'nothing'} was graded; "
        "the full grade comes from a run without -m or -k.")(report.lang)


def one_message_per_cause(checkpoints: list[CheckpointResult], lang: str) -> None:
    """A failure already told under an earlier checkpoint (same key, same message) is told once.

    A later checkpoint whose every failure repeats an earlier one says so in one line and is
    marked ``caused_by``; one that also fails on its own keeps its own messages, plus that line.
    """
    first_seen: dict[tuple[str, str], CheckpointResult] = {}
    for checkpoint in in_handout_order(checkpoints):
        failed = [c for c in checkpoint.checks if c.outcome == "failed" and c.message]
        repeated = [c for c in failed if c.key and (c.key, c.message) in first_seen]
        if repeated:
            origin = first_seen[(repeated[0].key, repeated[0].message)]
            own = [m for m in checkpoint.feedback if m not in {c.message for c in repeated}]
            same = Text(f"Échoue pour la même raison que « {origin.title} » ({origin.id}), plus haut.",
                        f"Fails for the same reason as \u201c{origin.title}\u201d ({origin.id}), above.")(lang)
            checkpoint.feedback = [*own, same]
            if not own:
                checkpoint.caused_by = origin.id
        for check in failed:
            if check.key:
                first_seen.setdefault((check.key, check.message), checkpoint)
        checkpoint.feedback = _details_once(checkpoint.feedback, lang)
    by_id = {c.id: c for c in checkpoints}
    for checkpoint in checkpoints:  # what a checkpoint chains fails: fix that first
        broken = [by_id[d] for d in checkpoint.depends_on if by_id[d].status in _NOT_MET]
        if checkpoint.status in _NOT_MET and broken and not checkpoint.caused_by:
            first = in_handout_order(broken)[0]
            checkpoint.feedback.insert(0, Text(
                f"Échoue sans doute parce que « {first.title} » ({first.id}) échoue : corrigez-le d'abord.",
                f"Probably fails because \u201c{first.title}\u201d ({first.id}) fails: fix it first.")(lang))


def _details_once(messages: list[str], lang: str) -> list[str]:
    """Two failures of one checkpoint showing the same values (the same program output under two
    checks): the values once, under the first."""
    seen: set[str] = set()
    kept = []
    for message in messages:
        first, _, details = message.partition("\n")
        if details and details in seen:
            message = first + "\n" + Text("(mêmes valeurs que ci-dessus)", "(the same values as above)")(lang)
        seen.add(details)
        kept.append(message)
    return kept


def _plain(value: Any) -> Any:
    """dataclasses.asdict without its deep copy of every leaf (a report's are strings and numbers, which
    nothing changes): the same dict, in a tenth of the time."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value
