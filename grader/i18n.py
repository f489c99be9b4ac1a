"""The engine's own sentences (the checks carry theirs), in French and English."""

from __future__ import annotations

from pathlib import Path

from grader.feedback import Text

STATUS = {
    "passed": Text("réussi", "passed"),
    "partial": Text("partiel", "partial"),
    "failed": Text("échoué", "failed"),
    "not_graded": Text("non noté", "not graded"),
}


def colon(lang: str) -> str:
    """French typography puts a space before a colon; English does not."""
    return ": " if lang == "en" else " : "


def number(value, lang: str, digits: int = 1) -> str:
    """At most `digits` decimals, trailing zeros dropped; a decimal comma in French; "–" for None."""
    if value is None:
        return "–"
    text = f"{round(float(value), digits):.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text if lang == "en" else text.replace(".", ",")


def status(name: str, lang: str) -> str:
    return STATUS[name](lang)


def tier_not_selected(tier: str, lang: str) -> str:
    return Text(
        f"Tier {tier} non sélectionné (relancez avec --tier {tier} ou --tier all).",
        f"Tier {tier} not selected (run again with --tier {tier} or --tier all).",
    )(lang)


def not_selected(lang: str) -> str:
    return Text("Non sélectionné (-k/-m).", "Not selected (-k/-m).")(lang)


def missing_submission(path: Path, lang: str) -> str:
    return Text(
        f"Le dossier à noter n'existe pas : {path} (option --submission).",
        f"The submission directory does not exist: {path} (option --submission).",
    )(lang)


def check_timeout(seconds, lang: str) -> str:
    return Text(
        f"Délai dépassé : la vérification a été arrêtée après {seconds} s. Votre code boucle-t-il "
        "sans fin, ou attend-il sans limite de temps ?",
        f"Time limit exceeded: the check was stopped after {seconds} s. Does your code loop "
        "forever, or wait without a time limit?",
    )(lang)


def check_cpu_timeout(seconds, lang: str) -> str:
    return Text(
        f"Délai dépassé : la vérification a consommé plus de {seconds:g} s de calcul et a été "
        "arrêtée. Votre code contient-il une boucle sans fin (qui avale même les exceptions) ?",
        f"Time limit exceeded: the check used more than {seconds:g} s of CPU time and was stopped. "
        "Does your code loop forever (even swallowing exceptions)?",
    )(lang)


def unexpected_error(detail: str, lang: str) -> str:
    return Text(f"Erreur inattendue pendant la vérification : {detail}",
                f"Unexpected error during the check: {detail}")(lang)


def harness_error(detail: str, lang: str) -> str:
    return Text(
        f"Problème du correcteur, pas de votre travail (vérification non notée) : {detail}",
        f"A problem of the grader, not of your work (check not graded): {detail}",
    )(lang)


def reread_step(step: str, lang: str) -> str:
    return Text(f"Relisez l'étape {step} de LAB.md.", f"Re-read step {step} of LAB.md.")(lang)


def option_needs_equals(option: str, lang: str) -> str:
    return Text(
        f"Écrivez {option}=CHEMIN (avec « = ») : sinon pytest prend ce chemin pour la racine du projet.",
        f"Write {option}=PATH (with \"=\"): otherwise pytest takes that path for the project's root.",
    )(lang)


def grader_timeout(seconds, lang: str) -> str:
    return Text(
        f"Le correcteur lui-même n'a pas terminé cette vérification en {seconds} s : elle n'est pas notée.",
        f"The grader itself did not finish this check in {seconds} s: it is not graded.",
    )(lang)


def report_dir_in_submission(path: Path, lang: str) -> str:
    return Text(
        f"Le dossier des rapports ({path}) est dans le dossier noté : choisissez un --report-dir hors du rendu "
        "(le code noté ne doit pas pouvoir écrire ses propres rapports).",
        f"The report folder ({path}) is inside the graded folder: choose a --report-dir outside the submission "
        "(the graded code must not be able to write its own reports).",
    )(lang)


def flag(what: str, lang: str) -> str:
    return Text(
        f"Le code rendu tente d'atteindre le correcteur ou la solution : {what}",
        f"The submitted code tries to reach the grader or the solution: {what}",
    )(lang)
