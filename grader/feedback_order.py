"""What the student reads first: the next step, one message per cause, what the score covers.

Every report (terminal, HTML, Markdown, JSON) opens with the same three things, computed
here from the graded checkpoints: the first checkpoint of the handout that is not met (its
step and why), the points the score covers and what the other tiers would add, and, for a
-m/-k run, that the report is partial. A failure repeated by several checkpoints (a file that
does not import, the same function failing the same way) is told once, under the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grader import i18n
from grader.feedback import Text
from grader.tiers.base import NAMES, TIERS

if TYPE_CHECKING:
    from grader.results import CheckpointResult, GradeReport

_NOT_MET = ("failed", "partial")


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
