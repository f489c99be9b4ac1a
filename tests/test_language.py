"""Feedback in one language: an English report says nothing in French, a French one nothing in English.

The template, the reference and every faulty submission of the corpus (tests/submissions/faults.py)
are graded offline in each language (once per session: the French runs are those of
tests/test_grading.py), then every user-facing string of each report.json (titles, reasons, feedback, check messages) and of report.md is scanned for words of
the other language. What the student's own code says (its string literals, its printed output),
Python's and AWS's messages (English) and the lab's names are not the report's language: they are
taken out before the scan.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from grading_support import ROOT
from submissions.faults import BROKEN, BUNDLES, FAULTY, LAB_RULES, OPS, S3_IO, materialise

ENTRIES = [*BROKEN, *FAULTY, *BUNDLES, *LAB_RULES]
STUDENT_FILES = (OPS, S3_IO)

# Words an English report must not contain (French), and the other way round. Accented letters
# are French too (the lab's names have none).
FRENCH = re.compile(r"\b(ligne|lignes|aucun|aucune|rien|appels?|étapes?|Relisez|attendu|obtenu|piste|"
                    r"Nettoyage|introuvable|n'est|pas|une|des|avec|sans|doit|dans|sortie|erreur|fichier|"
                    r"tâche|réussi|échoué|noté)\b|[éèàçêùâîôû]", re.IGNORECASE)
ENGLISH = re.compile(r"\b(line|expected|seen|none|nothing|calls?|steps?|Re-read|hint|must|should|not found|"
                     r"missing|raised|returned|without|passed|failed|graded|with the)\b")
# Python's and AWS's own sentences are English in every report: "SomeError: ...", "An error occurred (...)...".
FOREIGN_MESSAGES = re.compile(r"(\b[A-Z]\w*(Error|Exception|Exit)\b:?|An error occurred \(|botocore|cfn-lint|E\d{4})"
                              r"[^\n]*")


def _literals(directory: Path) -> list[str]:
    """The string literals of the submission's files (what its code prints or raises), longest first."""
    found: set[str] = set()
    for name in STUDENT_FILES:
        path = directory / name
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
            found |= set(re.findall(r'"([^"\n]{4,})"', text))
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found |= {part.strip() for part in node.value.splitlines() if len(part.strip()) >= 4}
    return sorted(found, key=len, reverse=True)


def _without_student_text(text: str, literals: list[str]) -> str:
    """`text` without what the student's code wrote: its literals, and the program output it quotes."""
    lines = []
    for line in text.splitlines():
        # printed lines of the student's program ("3/5 Lancement...", "Statut de la tâche : RUNNING")
        if re.match(r"^\s*(…?\d/\d |Statut|Tâche|Task definition|La tâche|Résultat|Classification|Erreur|\d+\. )",
                    line):
            continue
        for literal in literals:
            if literal in line:
                line = line.replace(literal, " ")
        lines.append(line)
    return "\n".join(lines)


def _strings(report: dict) -> list[str]:
    """Every user-facing string of a report.json."""
    found = [str(report.get(key) or "") for key in ("summary", "title")]
    found += [str(n) for n in report.get("notes") or [] if isinstance(n, str)]
    for checkpoint in report["checkpoints"]:
        found += [checkpoint.get("title") or "", checkpoint.get("reason") or "", *checkpoint.get("feedback", [])]
        found += [check.get("message") or "" for check in checkpoint.get("checks", [])]
    return found


def _leaks(text: str, lang: str, literals: list[str]) -> list[str]:
    text = _without_student_text(text, literals)
    text = FOREIGN_MESSAGES.sub(" ", text)
    text = re.sub(r"\S*[/:]\S*", " ", text)  # paths, URIs, ARNs, AWS names
    text = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"|«[^»\n]*»", " ", text) if lang == "fr" else text  # quoted values
    pattern = FRENCH if lang == "en" else ENGLISH
    return [line.strip() for line in text.splitlines() if pattern.search(line)]


def _graded(graded_once, name: str, lang: str):
    """The run of one submission in `lang`, shared with the other tests that grade it (grading_support)."""
    options = ("--lang", "en") if lang == "en" else ()
    key = f"{name}-en" if lang == "en" else name
    if name in ("template", "reference"):
        folder = ROOT / ("student_template" if name == "template" else "reference")
        return graded_once(key, folder, *options), folder
    entry = next(e for e in ENTRIES if e.name == name)
    graded = graded_once(key, lambda directory, _reports: materialise(entry, directory), *options)
    return graded, graded.report_dir.parent / "submission"


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_every_report_speaks_one_language(lang, graded_once):
    """The template, the reference and every faulty submission, each graded once per language
    (the French runs are those of tests/test_grading.py, shared)."""
    leaks: dict[str, list[str]] = {}
    for name in ["template", "reference", *(e.name for e in ENTRIES)]:
        graded, folder = _graded(graded_once, name, lang)
        report = graded.report
        assert report["lang"] == lang, name
        literals = _literals(folder)
        markdown = (graded.report_dir / "report.md").read_text(encoding="utf-8")
        texts = _strings(report) + [markdown]
        found = sorted({leak for text in texts for leak in _leaks(text, lang, literals)})
        if found:
            leaks[name] = found
    assert not leaks, json.dumps(leaks, ensure_ascii=False, indent=1)


# --- The sentences themselves (fast) --------------------------------------------------------------


def test_steps_dates_and_numbers_in_each_language():
    from grader import i18n

    assert i18n.reread_step("6-7", "fr") == "Relisez les étapes 6 et 7 de LAB.md."
    assert i18n.reread_step("6-7", "en") == "Re-read steps 6 and 7 of LAB.md."
    assert i18n.reread_step("Bonus 1, 3", "fr") == "Relisez les étapes Bonus 1 et 3 de LAB.md."
    assert i18n.reread_step("11", "fr") == "Relisez l'étape 11 de LAB.md."
    assert i18n.reread_step("Nettoyage", "en") == "Re-read the Clean-up step of LAB.md."
    assert [i18n.step_label(s, "fr") for s in ("10", "6-7", "Nettoyage")] == ["étape 10", "étapes 6 et 7",
                                                                             "étape Nettoyage"]
    assert [i18n.step_label(s, "en") for s in ("10", "6-7", "Nettoyage")] == ["step 10", "steps 6 and 7",
                                                                             "the Clean-up step"]
    assert i18n.date("2026-11-27T14:07:31+00:00", "fr") == "27 nov. 2026 14:07 UTC"
    assert i18n.date("2026-11-27T15:07:31+01:00", "en") == "27 Nov 2026 14:07 UTC"
    assert i18n.number(62.34, "fr", 2) == "62,34" and i18n.number(62.34, "en", 2) == "62.34"


def test_long_values_are_cut_between_words_with_an_ellipsis():
    from grader.feedback import show, shorten, tail

    message = ("InvalidParameterException: An error occurred (InvalidParameterException) when calling the RunTask "
               "operation: Override for container named classifier is not a container in the TaskDefinition. "
               "(image_classifier_operations.py, line 230)")
    short = shorten(message, 120)
    assert "…" in short and len(short) <= 125
    head, _, end = short.partition(" … ")
    words = set(message.split())
    assert all(w in words for w in head.split()) and all(w in words for w in end.split()), short
    assert show(message).count("…") == 1 and "..." not in show(message)
    output = "\n".join(f"Tâche enregistrée : arn:aws:ecs:eu-west-1:123456789012:task/{i}" for i in range(20))
    assert tail(output, 200).startswith("…Tâche enregistrée")


def test_one_location_in_the_reports_language():
    from grader.student import import_problem_text
    from grader.worker.process import ImportProblem
    from grader.worker.values import StudentError

    error = StudentError("SyntaxError", ("SyntaxError", "Exception"), "expected ':' (image_classifier_operations.py, "
                         "line 142)", {}, "image_classifier_operations.py", 142)
    text = import_problem_text(OPS, ImportProblem("raised", error=error))
    assert text.fr.count("142") == 1 and "ligne 142" in text.fr and "line" not in text.fr
    assert text.en.count("142") == 1 and "line 142" in text.en


def test_an_exception_is_the_message_even_when_the_call_was_then_stopped():
    from grader.student import Outcome, failure_text
    from grader.worker.values import StudentError

    error = StudentError("InvalidParameterException", ("InvalidParameterException", "ClientError", "Exception"),
                         "An error occurred (InvalidParameterException) when calling the RunTask operation: Override "
                         "for container named classifier is not a container in the TaskDefinition.")
    for status in ("stopped", "timeout"):
        text = failure_text(Outcome(status, error=error, detail="60"), "run_image_classification_task")
        assert "Override for container named classifier" in text.fr and "sans fin" not in text.fr
        assert "endless" not in text.en


def test_a_check_stopped_for_cpu_says_what_the_evidence_shows():
    from grader import i18n

    assert "avale" not in i18n.check_cpu_timeout(2, "fr") and "swallow" not in i18n.check_cpu_timeout(2, "en")
    many = i18n.check_cpu_timeout(2.5, "fr", calls=400, operation="GetLogEvents")
    assert "400 requête(s) AWS (GetLogEvents)" in many and "2,5 s" in many and "sans fin" not in many
