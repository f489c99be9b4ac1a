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


def not_selected(lang: str) -> str:
    return Text("Non sélectionné (-k/-m).", "Not selected (-k/-m).")(lang)


def missing_submission(path: Path, lang: str) -> str:
    return Text(
        f"Le dossier à noter n'existe pas : {path} (option --submission).",
        f"The submission directory does not exist: {path} (option --submission).",
    )(lang)


def check_cpu_timeout(seconds, lang: str, calls: int | None = None, operation: str = "") -> str:
    """The check used its CPU time: say what the evidence shows, and no more.

    `calls`: how many AWS requests the student's code sent meanwhile (None: unknown). Many calls
    mean a loop that kept calling (a pagination whose end condition is never met, a retry that
    never gives up), not necessarily a loop that never ends; no call at all, a loop that computes.
    """
    limit_fr, limit_en = number(seconds, "fr"), number(seconds, "en")
    what = f" ({operation})" if operation else ""
    if calls:
        return Text(
            f"Délai dépassé : la vérification a consommé plus de {limit_fr} s de calcul et a été arrêtée ; "
            f"votre code avait envoyé {calls} requête(s) AWS{what}. Une boucle (pagination, nouvelle tentative) "
            "dont la condition de sortie n'est jamais atteinte ?",
            f"Time limit exceeded: the check used more than {limit_en} s of CPU time and was stopped; your code "
            f"had sent {calls} AWS request(s){what}. A loop (pagination, retry) whose exit condition is never met?",
        )(lang)
    return Text(
        f"Délai dépassé : la vérification a consommé plus de {limit_fr} s de calcul et a été arrêtée. "
        "Une boucle de votre code ne se termine-t-elle pas ?",
        f"Time limit exceeded: the check used more than {limit_en} s of CPU time and was stopped. "
        "Does a loop of your code never end?",
    )(lang)


def harness_error(detail: str, lang: str) -> str:
    return Text(
        f"Problème du correcteur, pas de votre travail (vérification non notée) : {detail}",
        f"A problem of the grader, not of your work (check not graded): {detail}",
    )(lang)


# Steps of LAB.md named, not numbered: their English name.
_STEP_NAMES = {"Nettoyage": "Clean-up"}
_MONTHS = {
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


def _steps(step: str) -> tuple[str, list[str]]:
    """A catalogue step ("11", "6-7", "Bonus 1, 3", "Nettoyage") as (prefix, numbers or names)."""
    text = str(step).strip()
    prefix = ""
    if text.startswith("Bonus"):
        prefix, text = "Bonus ", text[len("Bonus"):].strip()
    if "-" in text and all(part.strip().isdigit() for part in text.split("-", 1)):
        first, last = (int(part) for part in text.split("-", 1))
        items = [str(n) for n in range(first, last + 1)] if 0 < last - first < 10 else [str(first), str(last)]
    else:
        items = [part.strip() for part in text.split(",") if part.strip()] or [text]
    return prefix, items


def _joined(items: list[str], lang: str) -> str:
    word = " and " if lang == "en" else " et "
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + word + items[-1]


def step_label(step: str, lang: str) -> str:
    """The handout's step(s), in words: "étape 10", "étapes 6 et 7", "step 10", "steps 6 and 7",
    "étapes Bonus 1 et 3", "étape Nettoyage" / "the Clean-up step"."""
    prefix, items = _steps(step)
    if not prefix and len(items) == 1 and not items[0].isdigit():
        name = items[0]
        return f"the {_STEP_NAMES.get(name, name)} step" if lang == "en" else f"étape {name}"
    if lang == "en":
        return f"{'steps' if len(items) > 1 else 'step'} {prefix}{_joined(items, lang)}"
    return f"{'étapes' if len(items) > 1 else 'étape'} {prefix}{_joined(items, lang)}"


def reread_step(step: str, lang: str) -> str:
    """"Relisez l'étape 11 de LAB.md.", "Relisez les étapes 6 et 7 de LAB.md.", "Re-read steps 6 and 7 of LAB.md."."""
    label = step_label(step, lang)
    if lang == "en":
        return f"Re-read {label} of LAB.md."
    article = "les " if label.startswith("étapes") else "l'"
    return f"Relisez {article}{label} de LAB.md."


def date(iso: str, lang: str) -> str:
    """An ISO 8601 time as "27 nov. 2026 14:07 UTC" (French) or "27 Nov 2026 14:07 UTC" (English).

    A naive time is taken as UTC; an aware one is converted to UTC. Text that is not a date comes back as is.
    """
    import datetime as dt

    try:
        moment = dt.datetime.fromisoformat(str(iso).strip().replace("Z", "+00:00"))
    except ValueError:
        return str(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    month = _MONTHS["en" if lang == "en" else "fr"][moment.month - 1]
    return f"{moment.day} {month} {moment.year} {moment:%H:%M} UTC"


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
