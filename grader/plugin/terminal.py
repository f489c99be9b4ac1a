"""What the terminal shows: the grade's table (grader/templates/summary.txt.j2), a last line that counts
checks instead of pytest's outcomes, the --fail-under gate, where a partial report went. French, or
English with --lang en."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

from grader import i18n
from grader.feedback import Text
from grader.plugin.state import PARTIAL_DIR, GradingState, grading_key


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash[grading_key]
    _show_collection_errors(terminalreporter, state)
    if state.report is None:
        return
    from grader.reports import render_terminal_summary

    terminalreporter.write(render_terminal_summary(state.report, state.report_paths))
    if state.selection:
        terminalreporter.write_line(_partial_line(config, state))


def _show_collection_errors(reporter, state: GradingState) -> None:
    """A check module that cannot be imported stops the run before any grade: the grader's fault, never
    the submission's (the checks do not import it). Tracebacks are hidden for the feedback's sake
    (collection.py), so this one is shown here, with what to do."""
    failed = [report for report in reporter.stats.get("error", ())
              if isinstance(report, pytest.CollectReport) and report.failed]
    if not failed or not state.active:
        return
    reporter.write_sep("=", Text("Le correcteur n'a pas pu charger ses vérifications",
                                 "The grader could not load its checks")(state.lang), red=True)
    for report in failed:
        reporter.write_line(f"{report.nodeid}:", bold=True)
        reporter.write_line(str(report.longreprtext).rstrip())
    reporter.write_line(Text(
        "Aucune note n'a été calculée : c'est une erreur du correcteur, pas de votre rendu. Réinstallez-le "
        "(python -m pip install -e \".[grader]\") ; si elle reste, signalez-la avec ces lignes.",
        "No grade was computed: this is the grader's error, not your submission's. Reinstall it "
        "(python -m pip install -e \".[grader]\"); if it persists, report it with these lines.")(state.lang),
        bold=True)


def _shown(path: Path, config: pytest.Config) -> str:
    """A path as the user would type it where pytest started."""
    try:
        return path.relative_to(Path(config.invocation_params.dir).resolve()).as_posix()
    except ValueError:
        return str(path)


def _selection_text(config: pytest.Config) -> str:
    parts = [f"{flag} {shlex.quote(value)}" for flag, value in
             (("-m", config.option.markexpr), ("-k", config.option.keyword)) if value]
    return " ".join(parts)


def _partial_line(config: pytest.Config, state: GradingState) -> str:
    selection = _selection_text(config)
    partial = _shown(state.report_dir / PARTIAL_DIR / "report.html", config)
    full = state.report_dir / "report.html"
    if full.is_file():
        return Text(
            f"Rapport partiel ({selection}) : {partial} ; le rapport complet {_shown(full, config)} "
            "n'est pas remplacé.",
            f"Partial report ({selection}): {partial}; the full report {_shown(full, config)} is not replaced.",
        )(state.lang)
    return Text(
        f"Rapport partiel ({selection}) : {partial} ; pas encore de rapport complet (lancez pytest sans -m ni -k "
        f"pour l'écrire dans {_shown(state.report_dir, config)}).",
        f"Partial report ({selection}): {partial}; no full report yet (run pytest without -m or -k to write "
        f"it in {_shown(state.report_dir, config)}).",
    )(state.lang)


def replace_stats_line(reporter, state: GradingState, gate: float | None) -> None:
    """pytest's last line ("34 failed, 8 passed, 60 deselected, 11 errors in 3.31s") reads like a crash:
    a failed check is the student's grade. It becomes one line about the checks, then the --fail-under
    gate and its exit status. The project's own tests run in the same session keep pytest's line."""
    original = reporter.summary_stats
    others = any(getattr(report, "when", None) and report.nodeid not in state.results
                 for key, reports in reporter.stats.items() if key not in ("deselected", "warnings")
                 for report in reports)

    def summary_stats() -> None:
        if others:
            original()
        lang = state.lang
        if reporter.verbosity >= -1:
            line = _checks_line(state, reporter.config)
            outcomes = [r["outcome"] for r in state.results.values()]
            markup = {"green": True} if outcomes and set(outcomes) == {"passed"} else {"yellow": True}
            if reporter.verbosity >= 0:
                reporter.write_sep("=", line, **markup)
            else:
                reporter.write_line(line, **markup)
        if gate is not None and state.report is not None:
            reporter.write_line(_gate_line(state, gate, lang), bold=True)

    reporter.summary_stats = summary_stats


def _plural(count: int, word: str, lang: str) -> str:
    return f"{count} {word}" + ("s" if count > 1 or (lang == "en" and count == 0 and word == "check") else "")


def _checks_line(state: GradingState, config: pytest.Config) -> str:
    lang = state.lang
    outcomes = [r["outcome"] for r in state.results.values()]
    passed, failed = outcomes.count("passed"), outcomes.count("failed")
    not_graded = len(outcomes) - passed - failed
    seconds = i18n.number(time.monotonic() - state.started, lang, 1)
    if not outcomes and state.selection:
        return Text(f"Aucune vérification ne correspond à {_selection_text(config)} : rien n'est noté.",
                    f"No check matches {_selection_text(config)}: nothing is graded.")(lang)
    if lang == "en":
        return (f"{_plural(len(outcomes), 'check', lang)} in {seconds} s: {passed} passed, {failed} failed, "
                f"{not_graded} not graded (details and grade above)")
    return (f"{_plural(len(outcomes), 'vérification', lang)} en {seconds} s : {_plural(passed, 'réussie', lang)}, "
            f"{_plural(failed, 'échouée', lang)}, {not_graded} non notée{'s' if not_graded > 1 else ''} "
            "(le détail et la note sont ci-dessus)")


def _gate_line(state: GradingState, threshold: float, lang: str) -> str:
    report = state.report
    score = f"{i18n.number(report.score, lang, 2)}/{i18n.number(report.max_score, lang, 2)}"
    limit = i18n.number(threshold, lang, 2)
    below = report.score < threshold
    bonus = Text(" (sans le bonus)", " (bonus not included)")(lang) if report.bonus_score else ""
    why = f" ({state.run_failure})" if state.run_failure else ""  # exit 3: a tier could not run (CI)
    return Text(
        f"--fail-under={limit} : note {score}{bonus}, "
        + ("inférieure au seuil" if below else "au moins égale au seuil")
        + f" : code de sortie {state.exit_status}{why}.",
        f"--fail-under={limit}: score {score}{bonus}, "
        + ("below the threshold" if below else "at or above the threshold")
        + f": exit status {state.exit_status}{why}.",
    )(lang)
