"""The classifier's error type and its two languages.

Every message the user reads exists in French (default) and English; the lab's
language setting ``ECS_LAB_LANG`` (``fr`` or ``en``, as for ``ecs-lab`` and the
grader) chooses which one is printed.
"""
from __future__ import annotations

import os


def language() -> str:
    """``"en"`` when ``ECS_LAB_LANG`` asks for English, ``"fr"`` otherwise."""
    return "en" if os.environ.get("ECS_LAB_LANG", "fr").strip().lower().startswith("en") else "fr"


def tr(fr: str, en: str) -> str:
    """The text in the lab's language."""
    return en if language() == "en" else fr


class ClassifierError(Exception):
    """A failure the user can act on; ``str(err)`` is the message, in the lab's language."""

    def __init__(self, fr: str, en: str) -> None:
        super().__init__(tr(fr, en))
        self.fr, self.en = fr, en
