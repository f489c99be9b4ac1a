"""Render one GradeReport as HTML, Markdown, JSON, Gradescope results.json and a terminal table."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from jinja2 import DictLoader, Environment, FileSystemBytecodeCache, StrictUndefined, select_autoescape

from grader import i18n, report_html
from grader.feedback import Text
from grader.lms import gradescope
from grader.lms.gradescope import DEFAULT_POLICY, Policy
from grader.results import GradeReport, other_tiers_line

REPORT_FILES = {
    "html": "report.html",
    "markdown": "report.md",
    "json": "report.json",
    "gradescope": "results.json",
}

TEMPLATES = Path(__file__).with_name("templates")


class _CompiledTemplates(FileSystemBytecodeCache):
    """The templates compiled once, kept in the project's cache as Python keeps its bytecode (jinja's
    compiler took a tenth of a CPU-second a run); a read-only checkout compiles them every time.

    The folder is named after this module and report_html.py, which set how the templates compile.
    Each template is rendered by one environment only (report.md.j2 and summary.txt.j2 by the overlay
    without autoescape): the cache is keyed by name and source.
    """

    def dump_bytecode(self, bucket) -> None:  # noqa: ANN001 - jinja's Bucket
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _compiled_templates() -> _CompiledTemplates | None:
    from grader.project import CACHE_DIR

    settings = hashlib.sha256(Path(__file__).read_bytes() + Path(report_html.__file__).read_bytes()).hexdigest()[:16]
    folder = CACHE_DIR / "templates" / settings
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _CompiledTemplates(str(folder))


# The templates are read once, when grading starts (preload), before any student's code runs.
_templates: dict[str, str] = {}
_env = Environment(
    loader=DictLoader(_templates),
    bytecode_cache=_compiled_templates(),
    autoescape=select_autoescape(["html", "j2"], default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.globals.update(status_label=i18n.status, reread_step=i18n.reread_step, colon=i18n.colon,
                    step_label=i18n.step_label, date=i18n.date)
_env.filters["points"] = lambda value: f"{value:g}"
_env.globals.update(other_tiers_line=other_tiers_line)
report_html.register(_env)


def preload() -> None:
    """Read every template now: nothing the grader renders is read from disk later."""
    if not _templates:
        for path in TEMPLATES.glob("*.j2"):
            _templates[path.name] = path.read_text(encoding="utf-8")


def _markdown_env() -> Environment:
    return _env.overlay(autoescape=False)


def render_html(report: GradeReport) -> str:
    return _env.get_template("report.html.j2").render(r=report)


def _formats(lang: str) -> dict:
    """Numbers and dates in the report's language (decimal comma, « 27 nov. 2026 14:07 UTC »)."""
    return {"number": lambda value: i18n.number(value, lang, 2)}


def render_markdown(report: GradeReport) -> str:
    return _markdown_env().get_template("report.md.j2").render(r=report, **_formats(report.lang))


def render_json(report: GradeReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"


def gradescope_results(report: GradeReport, policy: Policy = DEFAULT_POLICY) -> dict:
    """Gradescope's autograder results.json, under the instructor's policy (grader.lms.gradescope)."""
    return gradescope.results(report, policy)


def _summary_line(report: GradeReport) -> str:
    """The score and what it covers: « Note : 13 / 65 points vérifiables hors ligne — 8 de plus… »."""
    lang = report.lang
    bonus = f"bonus {i18n.number(report.bonus_score, lang, 2)} / {i18n.number(report.graded_bonus_max, lang, 2)}"
    return Text(f"Note : {report.coverage.text} ; {bonus} vérifiables ici.",
                f"Score: {report.coverage.text}; {bonus} verifiable here.")(lang)


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
        r=report, paths=paths, summary=_summary_line(report),
        other_tiers_line=other_tiers_line(report), **_formats(report.lang),
    )
