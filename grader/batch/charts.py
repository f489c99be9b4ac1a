"""The class report's charts: inline SVG drawn by matplotlib, the same bytes for the same data.

matplotlib is imported when a chart is drawn (the grading path never imports it), with the
SVG backend through a Figure of its own: no pyplot, no display, no global figure state.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

# The colours of the single report's CSS (grader/templates/report.html.j2).
COLOURS = {"passed": "#1a7f37", "partial": "#9a6700", "failed": "#cf222e", "not_graded": "#afb8c1"}
INK, GRID = "#1f2328", "#d0d7de"


@dataclass(frozen=True)
class CheckpointBar:
    label: str  # e.g. "task_definition"
    counts: dict[str, int]  # status -> submissions
    verifiable: bool  # False: this tier cannot verify it (drawn grey, never as failures)


def _style(salt: str) -> dict:
    return {
        "svg.hashsalt": f"ecs-lab-{salt}",  # fixed ids; one salt per chart keeps ids unique in the page
        "svg.fonttype": "none",  # text stays text: the browser's own sans-serif, no embedded glyphs
        "font.family": "sans-serif",
        "font.size": 10,
        "text.parse_math": False,  # a "$" in a label is a dollar
        "axes.edgecolor": GRID,
        "axes.labelcolor": INK,
        "xtick.color": INK,
        "ytick.color": INK,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


def _svg(figure, salt: str) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(_style(salt)):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # no XML prolog nor doctype inside HTML
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.DOTALL)  # RDF with URLs, no use here
    # matplotlib numbers its ids per figure (figure_1, patch_1...): prefixed, two charts share none.
    text = re.sub(r'(\bid="|href="#|url\(#)', rf"\g<1>{salt}-", text)
    # Scalable in the page (the viewBox stays); the CSS gives the width.
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', text, count=1)


def _figure(salt: str, size: tuple[float, float]):
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_style(salt)):
        figure = Figure(figsize=size)
        axes = figure.add_subplot()
    return figure, axes


def _decimal(lang: str):
    from matplotlib.ticker import FuncFormatter

    comma = lang != "en"
    return FuncFormatter(lambda value, _pos: (f"{value:g}".replace(".", ",") if comma else f"{value:g}"))


def score_histogram(scores: Sequence[float], max_score: float, lang: str, labels: dict[str, str]) -> str:
    """Submissions per band of 10% of `max_score` (the last band includes full marks)."""
    import matplotlib

    salt = "histogram"
    with matplotlib.rc_context(_style(salt)):
        figure, axes = _figure(salt, (7.5, 3.0))
        top = max_score or 100.0
        edges = [top * i / 10 for i in range(11)]
        counts, _edges, _patches = axes.hist(list(scores), bins=edges, color="#0969da", edgecolor="white")
        axes.set_xlim(0, top)
        axes.set_xticks(edges)
        axes.xaxis.set_major_formatter(_decimal(lang))
        axes.yaxis.get_major_locator().set_params(integer=True)
        axes.set_ylim(0, max(1.0, float(max(counts, default=0))) * 1.15)
        axes.set_xlabel(labels["x"])
        axes.set_ylabel(labels["y"])
        axes.grid(axis="y", color=GRID, linewidth=0.6)
        axes.set_axisbelow(True)
        for count, left in zip(counts, edges):
            if count:
                axes.annotate(f"{int(count)}", (left + top / 20, count), ha="center", va="bottom",
                              fontsize=8, color=INK)
        return _svg(figure, salt)


def checkpoint_rates(bars: Sequence[CheckpointBar], lang: str, labels: dict[str, str]) -> str:
    """One horizontal bar per checkpoint: shares of passed / partial / failed / not graded."""
    import matplotlib

    salt = "checkpoints"
    statuses = ("passed", "partial", "failed", "not_graded")
    with matplotlib.rc_context(_style(salt)):
        figure, axes = _figure(salt, (7.5, 0.34 * max(len(bars), 1) + 1.1))
        rows = list(reversed(bars))  # handout order from the top
        positions = range(len(rows))
        left = [0.0] * len(rows)
        for status in statuses:
            widths = []
            for bar in rows:
                total = sum(bar.counts.values())
                share = bar.counts.get(status, 0) / total * 100 if total and bar.verifiable else 0.0
                widths.append(share)
            axes.barh(positions, widths, left=left, color=COLOURS[status], height=0.7, label=labels[status])
            left = [a + b for a, b in zip(left, widths)]
        for y, bar in zip(positions, rows):
            if not bar.verifiable:
                axes.barh([y], [100], color="white", edgecolor=COLOURS["not_graded"], hatch="///", height=0.7,
                          linewidth=0.6)
                axes.text(50, y, labels["unverifiable"], ha="center", va="center", fontsize=8, color=INK)
        axes.set_yticks(list(positions), [bar.label for bar in rows], fontsize=8)
        axes.set_xlim(0, 100)
        axes.xaxis.set_major_formatter(_decimal(lang))
        axes.set_xlabel(labels["x"])
        axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False, fontsize=8)
        return _svg(figure, salt)
