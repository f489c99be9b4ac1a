"""Gradescope's autograder ``results.json``, from one GradeReport, under the instructor's policy.

A tier verifies only some checkpoints (offline: 65 of the 100 points). The policy says what the
others do to the grade Gradescope shows:

- ``ungraded``: ``exclude`` (default) leaves them out of the maximum: their tests have
  ``max_score`` 0 and say why, and the grade is out of the points verifiable here (65 offline);
  ``zero`` counts them in the maximum, as 0, with the reason (out of 100).
- ``bonus``: ``count`` (default) adds the bonus points on top of the grade; ``ignore`` shows
  the bonus checkpoints without counting them.

Bonus tests always have ``max_score`` 0 (extra credit in Gradescope): the tests' ``max_score``
add up to the assignment's total, the one the instructor sets in Gradescope (:meth:`Policy.total`).
The top-level ``score`` (which Gradescope takes over the tests' sum) is :meth:`Policy.score`.

Specification: https://gradescope-autograders.readthedocs.io/en/latest/specs/ (our schema:
grader/schemas/gradescope-results.schema.json).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from grader import i18n
from grader.catalogue import Catalogue, load_catalogue
from grader.feedback import Text
from grader.results import FAILED, NOT_GRADED, PASSED, CheckpointResult, CheckResult, GradeReport, grade_checkpoint

UNGRADED_POLICIES = ("exclude", "zero")
BONUS_POLICIES = ("count", "ignore")
EXCLUDE, ZERO = UNGRADED_POLICIES
COUNT, IGNORE = BONUS_POLICIES


@dataclass(frozen=True)
class Policy:
    """How checkpoints this tier cannot verify, and the bonus, count in Gradescope's grade."""

    ungraded: str = EXCLUDE
    bonus: str = COUNT

    def __post_init__(self) -> None:
        if self.ungraded not in UNGRADED_POLICIES:
            raise ValueError(f"ungraded policy {self.ungraded!r} is not one of {UNGRADED_POLICIES}")
        if self.bonus not in BONUS_POLICIES:
            raise ValueError(f"bonus policy {self.bonus!r} is not one of {BONUS_POLICIES}")

    def total(self, report: GradeReport) -> float:
        """What the grade is out of: the assignment's total points to set in Gradescope."""
        return report.graded_max if self.ungraded == EXCLUDE else report.max_score

    def score(self, report: GradeReport) -> float:
        """The grade: required points earned, plus the bonus when it counts."""
        return round(report.score + (report.bonus_score if self.bonus == COUNT else 0), 2)

    def test_max_score(self, checkpoint: CheckpointResult) -> float:
        if checkpoint.bonus or (checkpoint.status == NOT_GRADED and self.ungraded == EXCLUDE):
            return 0
        return checkpoint.max_points

    def test_score(self, checkpoint: CheckpointResult) -> float:
        return 0 if checkpoint.bonus and self.bonus == IGNORE else checkpoint.score

    def to_dict(self) -> dict:
        return {"ungraded": self.ungraded, "bonus": self.bonus}


DEFAULT_POLICY = Policy()


def results(report: GradeReport, policy: Policy = DEFAULT_POLICY) -> dict:
    """Gradescope's results.json for `report` (a dict ready for json.dumps)."""
    lang = report.lang
    numbers = _numbers(report)
    tests = []
    for checkpoint in report.checkpoints:
        test = {
            "name": f"{checkpoint.title} ({checkpoint.id})",
            "number": numbers[checkpoint.id],
            "tags": [checkpoint.part],
            "score": policy.test_score(checkpoint),
            "max_score": policy.test_max_score(checkpoint),
            "output": _test_output(checkpoint, policy, lang),
            "output_format": "md",
            "visibility": "visible",
        }
        if checkpoint.status != NOT_GRADED:  # a checkpoint not graded is neither passed nor failed
            test["status"] = "passed" if checkpoint.status == PASSED else "failed"
        tests.append(test)
    return {
        "score": policy.score(report),
        "max_score": policy.total(report),
        "execution_time": round(report.duration_s),
        "output": summary(report, policy),
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {
            "policy": policy.to_dict(),
            "tiers": list(report.tiers),
            "required_score": report.score,
            "required_max": report.max_score,
            "graded_max": report.graded_max,
            "bonus_score": report.bonus_score,
            "bonus_max": report.bonus_max,
            "protections": list(report.protections),
        },
        "tests": tests,
    }


def _numbers(report: GradeReport) -> dict[str, str]:
    """"part.position": the part's rank in the catalogue, the checkpoint's rank in its part."""
    parts = list(load_catalogue().parts)
    seen: dict[str, int] = {}
    numbers = {}
    for checkpoint in report.checkpoints:
        seen[checkpoint.part] = seen.get(checkpoint.part, 0) + 1
        part = parts.index(checkpoint.part) + 1 if checkpoint.part in parts else len(parts) + 1
        numbers[checkpoint.id] = f"{part}.{seen[checkpoint.part]}"
    return numbers


# --- What the student reads -------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def md(text: str) -> str:
    """Plain text made safe for Markdown (feedback quotes code and values)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _lines(text: str) -> str:
    """A multi-line text inside one list item: escaped, with hard line breaks."""
    return "  \n  ".join(md(line) for line in text.splitlines() or [""])


def _points(value: float) -> str:
    return f"{value:g}"


def _test_output(checkpoint: CheckpointResult, policy: Policy, lang: str) -> str:
    colon = i18n.colon(lang)
    status = i18n.status(checkpoint.status, lang)
    points = _points(checkpoint.max_points)
    if checkpoint.status == NOT_GRADED:
        lines = [f"**{status.capitalize()}**{colon}{md(checkpoint.reason)}", ""]
        if checkpoint.bonus:
            lines.append(Text("Bonus non vérifiable ici : il n'ajoute rien à la note.",
                              "A bonus not verifiable here: it adds nothing to the grade.")(lang))
        elif policy.ungraded == EXCLUDE:
            lines.append(Text(
                f"Exclu du total : ces {points} points ne comptent pas dans la note sur Gradescope "
                "(ni gagnés, ni perdus).",
                f"Left out of the total: these {points} points do not count in the Gradescope grade "
                "(neither earned nor lost).")(lang))
        else:
            lines.append(Text(
                f"Compté 0 sur {points} : l'enseignant a choisi de compter dans le total les points "
                "qui ne peuvent pas être vérifiés ici.",
                f"Counted as 0 out of {points}: the instructor chose to count in the total the points "
                "that cannot be verified here.")(lang))
        return "\n".join(lines)
    earned = _points(checkpoint.score)
    lines = [f"**{status.capitalize()}**{colon}{earned} / {points}"]
    if checkpoint.bonus:
        lines[0] += " (bonus)"
        if policy.bonus == IGNORE:
            lines += ["", Text("Bonus affiché mais non compté dans la note (choix de l'enseignant).",
                               "A bonus shown but not counted in the grade (the instructor's choice).")(lang)]
        else:
            lines += ["", Text("Points de bonus, ajoutés au-delà du total.",
                               "Bonus points, added on top of the total.")(lang)]
    if checkpoint.feedback:
        lines.append("")
        lines += [f"- {_lines(f)}" for f in checkpoint.feedback]
        if checkpoint.step and not checkpoint.caused_by:  # a repeated cause: the earlier test says what to re-read
            lines += ["", i18n.reread_step(checkpoint.step, lang)]
    return "\n".join(lines)


def summary(report: GradeReport, policy: Policy = DEFAULT_POLICY) -> str:
    """The top-level output: the grade, what was verified here and what not, how it adds up."""
    en = report.lang == "en"
    colon = i18n.colon(report.lang)
    tiers = ", ".join(report.tiers)
    total, score = _points(policy.total(report)), _points(policy.score(report))
    graded = [c for c in report.required if c.status != NOT_GRADED]
    ungraded = [c for c in report.required if c.status == NOT_GRADED]
    bonus_graded = [c for c in report.checkpoints if c.bonus and c.status != NOT_GRADED]
    bonus_max_here = sum(c.max_points for c in bonus_graded)
    missing = _points(report.max_score - report.graded_max)

    if policy.ungraded == EXCLUDE:
        out_of = (f"out of the {total} points graded here" if en
                  else f"noté sur {total} points vérifiables ici")
    else:
        out_of = (f"out of {total} (graded here: {_points(report.graded_max)} points)" if en
                  else f"sur {total} (points vérifiables ici : {_points(report.graded_max)})")
    lines = [f"## {'Grade' if en else 'Note'}{colon}{score} / {total}", "",
             f"**{md(report.next_step.text)}**", "",
             f"Tier{colon}{md(tiers)} — {out_of}.", ""]
    if en:
        lines.append(f"- **Verified here** ({len(graded)} checkpoints): {_points(report.score)} / "
                     f"{_points(report.graded_max)} points earned; bonus: {_points(report.bonus_score)} / "
                     f"{_points(bonus_max_here)}.")
    else:
        lines.append(f"- **Vérifié ici** ({len(graded)} points de contrôle) : {_points(report.score)} / "
                     f"{_points(report.graded_max)} points obtenus ; bonus : {_points(report.bonus_score)} / "
                     f"{_points(bonus_max_here)}.")
    if ungraded:
        ids = ", ".join(f"`{c.id}`" for c in ungraded)
        if policy.ungraded == EXCLUDE:
            how = ("left out of the total (neither earned nor lost)" if en
                   else "exclus du total (ni gagnés, ni perdus)")
        else:
            how = "counted as 0 in the total" if en else "comptés 0 dans le total"
        if en:
            lines.append(f"- **Not verifiable here** ({len(ungraded)} checkpoints, {missing} points: {ids}): "
                         f"{how}. Each one says why and which tier verifies it.")
        else:
            lines.append(f"- **Non vérifiable ici** ({len(ungraded)} points de contrôle, {missing} points : "
                         f"{ids}) : {how}. Chacun dit pourquoi et quel tier le vérifie.")
    lines.append(_computation(report, policy))
    if report.flags:
        lines += ["", f"**{'Flagged for the instructor' if en else 'Signalé à l’enseignant'}**", ""]
        lines += [f"- {_lines(flag)}" for flag in report.flags]
    if report.protections:  # where this grade was computed, and how far the code could reach
        lines += ["", f"**{'How your code was run' if en else 'Comment votre code a été exécuté'}**", ""]
        lines += [f"- {_lines(line)}" for line in report.protections]
    return "\n".join(lines) + "\n"


def _computation(report: GradeReport, policy: Policy) -> str:
    en = report.lang == "en"
    score, total = _points(policy.score(report)), _points(policy.total(report))
    required, bonus = _points(report.score), _points(report.bonus_score)
    if policy.bonus == COUNT:
        if en:
            return (f"- **Total**: {required} (required checkpoints) + {bonus} (bonus, on top) = "
                    f"{score}, out of {total}.")
        return (f"- **Calcul** : {required} (points de contrôle obligatoires) + {bonus} (bonus, en plus) = "
                f"{score}, sur {total}.")
    if en:
        return (f"- **Total**: {required} (required checkpoints) = {score}, out of {total}; the bonus "
                f"({bonus} points) is shown but not counted.")
    return (f"- **Calcul** : {required} (points de contrôle obligatoires) = {score}, sur {total} ; le bonus "
            f"({bonus} points) est affiché mais non compté.")


# --- Reports read back, and results when nothing could be graded --------------------------------


def load_report(data: dict) -> GradeReport:
    """A GradeReport from its report.json (GradeReport.to_dict); computed totals are recomputed."""
    fields = {k: v for k, v in data.items()
              if k in GradeReport.__dataclass_fields__ and k != "checkpoints"}
    checkpoints = []
    for raw in data["checkpoints"]:
        raw = dict(raw)
        raw["checks"] = [CheckResult(**check) for check in raw.get("checks", [])]
        checkpoints.append(CheckpointResult(**{k: v for k, v in raw.items()
                                               if k in CheckpointResult.__dataclass_fields__}))
    return GradeReport(**fields, checkpoints=checkpoints)


def nothing_graded(message: str, lang: str, *, tiers: tuple[str, ...] = ("offline",), duration_s: float = 0.0,
                   submission: str = "", catalogue: Catalogue | None = None) -> GradeReport:
    """A report for a submission that could not be graded: every checkpoint of `tiers` failed with
    `message` (score 0 out of the usual total), the others not graded with the usual reason."""
    catalogue = catalogue or load_catalogue()
    checkpoints = []
    for checkpoint in catalogue.checkpoints:
        result = grade_checkpoint(checkpoint, [], part_title=catalogue.parts[checkpoint.part](lang), lang=lang,
                                  tiers_run=list(tiers), tier_reasons={})
        if set(checkpoint.tiers) & set(tiers):
            result.status, result.reason, result.feedback, result.step = FAILED, "", [message], ""
        checkpoints.append(result)
    return GradeReport(submission=submission, tiers=list(tiers), lang=lang, started_at="",
                       duration_s=duration_s, checkpoints=checkpoints)


def failure_results(message: str, lang: str, policy: Policy = DEFAULT_POLICY, **kwargs) -> dict:
    """results.json with score 0 and `message` first in the summary (see nothing_graded)."""
    report = nothing_graded(message, lang, **kwargs)
    data = results(report, policy)  # the message is its next step, said first
    data["extra_data"]["graded"] = False
    return data
