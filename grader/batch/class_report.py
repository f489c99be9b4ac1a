"""The class report: one self-contained HTML page for the instructor (``OUT/class-report.html``).

Read from what the batch wrote: ``batch.json``'s rows, each graded row's ``report.json`` (for
the checkpoints' statuses and the feedback, grouped by its `key`: one kind of failure, the
same for every submission) and its staged files (for the similarity section). The page
links to each submission's ``report.html`` (relative links: OUT can be moved or zipped).
A report that is missing or unreadable is said so, the row still counts through its points.

This module computes; the template (templates/class-report.html.j2) only lays out.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from grader import i18n
from grader.project import DEFAULT_SUBMISSION
from grader.batch import charts, similarity
from grader.batch.model import GRADED, Batch, Row, status_label
from grader.batch.model import STATUSES as ROW_STATUSES
from grader.catalogue import Catalogue, Checkpoint, load_catalogue
from grader.feedback import Text
from grader.results import FAILED, NOT_GRADED, PARTIAL, PASSED

CLASS_REPORT = "class-report.html"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE = DEFAULT_SUBMISSION  # student_template/: its text is everyone's, not similarity
STATUSES = (PASSED, PARTIAL, FAILED, NOT_GRADED)
GROUPS_SHOWN = 6  # kinds of failure shown per checkpoint (the most frequent; the rest are counted)

SKIPPED = {
    "too_big": Text("fichier trop volumineux pour être comparé", "file too large to compare"),
    "not_utf8": Text("fichier illisible (pas en UTF-8)", "unreadable file (not UTF-8)"),
    "unreadable": Text("fichier illisible", "unreadable file"),
}


@dataclass(frozen=True)
class Link:
    text: str
    href: str | None  # relative to OUT, percent-encoded; None: the file is not there


@dataclass
class FeedbackGroup:
    key: str
    count: int  # submissions that failed this way
    message: str  # the most frequent wording
    submissions: list[Link]


@dataclass
class CheckpointStats:
    id: str
    title: str
    part_title: str
    step: str
    bonus: bool
    max_points: float
    verifiable: bool  # the batch's tier has checks for it
    counts: dict[str, int]
    graded: int  # submissions where it was graded
    rate: float | None  # passed / graded, in %
    mean_points: float | None
    reason: str = ""  # why it is not graded (the most frequent reason given)
    groups: list[FeedbackGroup] = field(default_factory=list)
    more_groups: int = 0


@dataclass
class SubmissionLine:
    id: str
    status: str
    status_label: str
    reason: str
    score: float | None
    max_score: float | None
    graded_max: float | None
    bonus: float | None
    bonus_max: float | None
    report: Link | None
    report_problem: str = ""  # its report.json could not be read
    files: list[str] = field(default_factory=list)  # the files graded, relative to what was handed in


def write_class_report(out: Path, batch: Batch, similar: similarity.Similarity | None = None) -> Path:
    """Write OUT/class-report.html atomically (temporary file, then rename); return its path.
    `similar`: the similarity of the batch's files when already computed (ecs-lab grade does it
    while grading)."""
    out = Path(out)
    html = render_class_report(out, batch, similar)
    path = out / CLASS_REPORT
    tmp = path.with_name(f".{CLASS_REPORT}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path


def render_class_report(out: Path, batch: Batch, similar: similarity.Similarity | None = None) -> str:
    lang = "en" if batch.lang == "en" else "fr"
    catalogue = load_catalogue()
    rows = sorted(batch.rows, key=lambda r: r.id)
    graded = [r for r in rows if r.status == GRADED]
    reports, problems = {}, {}
    for row in graded:
        reports[row.id], problems[row.id] = _read_report(out, row, lang)
    stats = [_checkpoint_stats(c, catalogue, batch.tier, graded, reports, out, lang) for c in catalogue.checkpoints]
    scores = [r.score for r in graded if r.score is not None]
    max_score = _most_common([r.max_score for r in graded if r.max_score is not None]) or catalogue.max_points
    lines = [_line(out, row, problems.get(row.id, ""), lang) for row in rows]
    if similar is None:
        similar = similarity.find_similar({r.id: out / r.staged for r in graded if r.staged}, TEMPLATE)
    else:  # computed on every submission with files: keep the pairs of graded ones
        ids = {r.id for r in graded}
        similar = replace(
            similar, pairs=[p for p in similar.pairs if p.first in ids and p.second in ids],
            skipped=[s for s in similar.skipped if s[0] in ids])
    env = _environment(lang)
    return env.get_template("class-report.html.j2").render(
        lang=lang,
        en=lang == "en",
        batch=batch,
        generated=_date(batch.generated_at, lang),
        total=len(rows),
        graded=len(graded),
        not_graded=[line for line in lines if line.status != GRADED],
        mean=statistics.fmean(scores) if scores else None,
        median=statistics.median(scores) if scores else None,
        max_score=max_score,
        graded_max=_most_common([r.graded_max for r in graded if r.graded_max is not None]),
        histogram=Markup(_histogram(scores, max_score, lang)) if scores else None,
        rates=Markup(_rates_chart(stats, lang)) if graded else None,
        checkpoints=stats,
        parts=_by_part(stats),
        lines=lines,
        unread=[line for line in lines if line.report_problem],
        similar=similar,
        similar_links={r.id: _report_link(out, r) for r in graded},
        skipped=[(row_id, name, SKIPPED[why](lang)) for row_id, name, why in similar.skipped],
        template_found=TEMPLATE.is_dir(),
    )


# --- Reading what the batch wrote -----------------------------------------------------------


def _read_report(out: Path, row: Row, lang: str) -> tuple[dict | None, str]:
    """The row's report.json as a dict, or None and why (in the page's language)."""
    path = out / row.report_dir / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("checkpoints"), list):
            return data, ""
        return None, Text("rapport report.json illisible", "report.json unreadable")(lang)
    except FileNotFoundError:
        return None, Text("rapport report.json absent", "report.json missing")(lang)
    except (OSError, ValueError, UnicodeDecodeError):
        return None, Text("rapport report.json illisible", "report.json unreadable")(lang)


def _checkpoint_of(report: dict | None, row: Row, checkpoint: Checkpoint) -> tuple[str, float | None, dict | None]:
    """(status, points, the report's checkpoint) of one row; from its points if no report."""
    if report is not None:
        for item in report["checkpoints"]:
            if isinstance(item, dict) and item.get("id") == checkpoint.id:
                status = item.get("status") if item.get("status") in STATUSES else NOT_GRADED
                score = item.get("score")
                return status, (float(score) if isinstance(score, int | float) and status != NOT_GRADED else None), item
    points = row.checkpoints.get(checkpoint.id)
    if points is None:
        return NOT_GRADED, None, None
    status = PASSED if points >= checkpoint.points else (FAILED if points <= 0 else PARTIAL)
    return status, float(points), None


def _checkpoint_stats(checkpoint: Checkpoint, catalogue: Catalogue, tier: str, graded: list[Row],
                      reports: dict[str, dict | None], out: Path, lang: str) -> CheckpointStats:
    counts = Counter()
    points, reasons = [], Counter()
    groups: dict[str, list[tuple[str, str]]] = {}  # key -> [(row id, message)]
    for row in graded:
        status, score, item = _checkpoint_of(reports[row.id], row, checkpoint)
        counts[status] += 1
        if score is not None:
            points.append(score)
        if item is None:
            continue
        if status == NOT_GRADED and isinstance(item.get("reason"), str) and item["reason"]:
            reasons[item["reason"]] += 1
        seen = set()
        for check in item.get("checks") or []:
            if not isinstance(check, dict) or check.get("outcome") != "failed":
                continue
            message = str(check.get("message") or "")
            key = str(check.get("key") or "") or f"message:{message}"  # reports written before keys
            if key not in seen:  # a submission counts once per kind of failure
                seen.add(key)
                groups.setdefault(key, []).append((row.id, message))
    graded_count = sum(n for status, n in counts.items() if status != NOT_GRADED)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    links = {row.id: _report_link(out, row, checkpoint.id) for row in graded}
    return CheckpointStats(
        id=checkpoint.id,
        title=checkpoint.title(lang),
        part_title=catalogue.parts[checkpoint.part](lang),
        step=checkpoint.step,
        bonus=checkpoint.bonus,
        max_points=checkpoint.points,
        verifiable=tier == "all" or tier in checkpoint.tiers,
        counts={status: counts.get(status, 0) for status in STATUSES},
        graded=graded_count,
        rate=100 * counts.get(PASSED, 0) / graded_count if graded_count else None,
        mean_points=statistics.fmean(points) if points else None,
        reason=reasons.most_common(1)[0][0] if reasons else "",
        groups=[
            FeedbackGroup(
                key=key,
                count=len(members),
                message=_representative([m for _id, m in members]),
                submissions=[links[row_id] for row_id, _m in sorted(members)],
            )
            for key, members in ordered[:GROUPS_SHOWN]
        ],
        more_groups=max(0, len(ordered) - GROUPS_SHOWN),
    )


def _representative(messages: list[str]) -> str:
    """The most frequent wording (ties: the shortest, then the first in order)."""
    counts = Counter(messages)
    return min(counts, key=lambda m: (-counts[m], len(m), m))


def _report_link(out: Path, row: Row, anchor: str = "") -> Link:
    if not row.report_dir or not (out / row.report_dir / "report.html").is_file():
        return Link(row.id, None)
    href = quote(f"{row.report_dir}/report.html")
    return Link(row.id, f"{href}#{quote(anchor)}" if anchor else href)


def _line(out: Path, row: Row, problem: str, lang: str) -> SubmissionLine:
    return SubmissionLine(
        id=row.id,
        status=row.status,
        status_label=status_label(row.status, lang) if row.status in ROW_STATUSES else row.status,
        reason=row.reason,
        score=row.score,
        max_score=row.max_score,
        graded_max=row.graded_max,
        bonus=row.bonus,
        bonus_max=row.bonus_max,
        files=list(row.files),
        report=_report_link(out, row) if row.status == GRADED else None,
        report_problem=problem,
    )


def _by_part(stats: list[CheckpointStats]) -> list[tuple[str, list[CheckpointStats]]]:
    parts: dict[str, list[CheckpointStats]] = {}
    for item in stats:
        parts.setdefault(item.part_title, []).append(item)
    return list(parts.items())


def _most_common(values: list):
    return Counter(values).most_common(1)[0][0] if values else None


def _date(value: str, lang: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    zone = " UTC" if moment.utcoffset() == dt.timedelta(0) else ""
    return moment.strftime("%Y-%m-%d %H:%M" if lang == "en" else "%d/%m/%Y %H:%M") + zone


# --- Charts and rendering ---------------------------------------------------------------------


def _histogram(scores: list[float], max_score: float, lang: str) -> str:
    return charts.score_histogram(scores, max_score, lang, {
        "x": Text(f"Note (sur {i18n.number(max_score, lang)})", f"Score (out of {i18n.number(max_score, lang)})")(lang),
        "y": Text("Rendus", "Submissions")(lang),
    })


def _rates_chart(stats: list[CheckpointStats], lang: str) -> str:
    labels = {status: i18n.status(status, lang) for status in STATUSES}
    labels.update(x=Text("Part des rendus notés (%)", "Share of graded submissions (%)")(lang),
                  unverifiable=Text("non vérifiable par ce tier", "not verifiable by this tier")(lang))
    bars = [charts.CheckpointBar(s.id, s.counts, s.verifiable and s.graded > 0) for s in stats]
    return charts.checkpoint_rates(bars, lang, labels)


def _percent(value, lang: str) -> str:
    if value is None:
        return "–"
    return f"{i18n.number(value, lang, 0)}%" if lang == "en" else f"{i18n.number(value, lang, 0)}\u00a0%"


def _environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = lambda value, digits=1: i18n.number(value, lang, digits)
    env.filters["pct"] = lambda value: _percent(value, lang)
    env.globals.update(colon=i18n.colon(lang), status_name=lambda s: i18n.status(s, lang))
    return env

