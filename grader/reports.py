"""Render one GradeReport as HTML, Markdown, JSON, Gradescope results.json and a terminal table."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from grader import i18n
from grader.lms import gradescope
from grader.lms.gradescope import DEFAULT_POLICY, Policy
from grader.results import GradeReport

REPORT_FILES = {
    "html": "report.html",
    "markdown": "report.md",
    "json": "report.json",
    "gradescope": "results.json",
}

TEMPLATES = Path(__file__).with_name("templates")
# The templates are read once, when grading starts (preload), before any student's code runs.
_templates: dict[str, str] = {}
_env = Environment(
    loader=DictLoader(_templates),
    autoescape=select_autoescape(["html", "j2"], default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.globals.update(status_label=i18n.status, reread_step=i18n.reread_step, colon=i18n.colon)
_env.filters["points"] = lambda value: f"{value:g}"


def preload() -> None:
    """Read every template now: nothing the grader renders is read from disk later."""
    if not _templates:
        for path in TEMPLATES.glob("*.j2"):
            _templates[path.name] = path.read_text(encoding="utf-8")


def _markdown_env() -> Environment:
    return _env.overlay(autoescape=False)


def render_html(report: GradeReport) -> str:
    return _env.get_template("report.html.j2").render(r=report)


def render_markdown(report: GradeReport) -> str:
    return _markdown_env().get_template("report.md.j2").render(r=report)


def render_json(report: GradeReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"


def gradescope_results(report: GradeReport, policy: Policy = DEFAULT_POLICY) -> dict:
    """Gradescope's autograder results.json, under the instructor's policy (grader.lms.gradescope)."""
    return gradescope.results(report, policy)


def _summary_line(report: GradeReport) -> str:
    if report.lang == "en":
        return (f"Score {report.score:g}/{report.max_score:g} (graded here: {report.graded_max:g} points), "
                f"bonus {report.bonus_score:g}/{report.bonus_max:g}; tiers: {', '.join(report.tiers)}.")
    return (f"Score {report.score:g}/{report.max_score:g} (points notés ici : {report.graded_max:g}), "
            f"bonus {report.bonus_score:g}/{report.bonus_max:g} ; tiers : {', '.join(report.tiers)}.")


def write_reports(report: GradeReport, report_dir: Path,
                  gradescope_policy: Policy = DEFAULT_POLICY) -> dict[str, Path]:
    """Write the four reports, each atomically (a temporary file renamed over the old one)."""
    preload()
    report_dir.mkdir(parents=True, exist_ok=True)
    contents = {
        "html": render_html(report),
        "markdown": render_markdown(report),
        "json": render_json(report),
        "gradescope": json.dumps(gradescope_results(report, gradescope_policy), ensure_ascii=False, indent=2) + "\n",
    }
    paths = {}
    for kind, text in contents.items():
        path = report_dir / REPORT_FILES[kind]
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # never leave a half-written report behind
        paths[kind] = path
    return paths


def render_terminal_summary(report: GradeReport, paths: dict[str, Path]) -> str:
    return _markdown_env().get_template("summary.txt.j2").render(
        r=report, paths=paths, summary=_summary_line(report)
    )
