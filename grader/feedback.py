"""Feedback a student can act on: what was expected, what was seen, in French or English.

Checks raise `CheckFailed` (through `expect`/`fail`); the plugin renders it in the run's
language and appends the handout step to re-read, taken from the catalogue.
"""

from __future__ import annotations

import reprlib
import sys
from dataclasses import dataclass, field
from typing import Any

LANGUAGES = ("fr", "en")

_short = reprlib.Repr()
_short.maxstring = 160
_short.maxother = 160
_short.maxlist = 8
_short.maxdict = 8
_short.maxlevel = 4

_LABELS = {
    "fr": {"expected": "attendu", "seen": "obtenu", "hint": "piste"},
    "en": {"expected": "expected", "seen": "seen", "hint": "hint"},
}


def show(value: Any) -> str:
    """A short, readable rendering of a value sent or returned by the student's code."""
    return _short.repr(value)


@dataclass(frozen=True)
class Text:
    """A sentence in both languages."""

    fr: str
    en: str

    def __call__(self, lang: str) -> str:
        return self.en if lang == "en" else self.fr


@dataclass
class CheckFailed(AssertionError):
    """A check's verdict on the student's work, with bilingual feedback."""

    message: Text
    expected: Any = None
    seen: Any = None
    hint: Text | None = None
    has_expected: bool = field(default=False, repr=False)
    has_seen: bool = field(default=False, repr=False)
    # What kind of failure this is, the same for every submission (the class report groups by
    # it): the place in the checks that raised it, unless the caller names it.
    key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        AssertionError.__init__(self, self.render("en"))

    def render(self, lang: str) -> str:
        labels = _LABELS.get(lang, _LABELS["fr"])
        colon = ": " if lang == "en" else " : "
        lines = [self.message(lang)]
        if self.has_expected:
            lines.append(f"{labels['expected']}{colon}{_as_text(self.expected, lang)}")
        if self.has_seen:
            lines.append(f"{labels['seen']}{colon}{_as_text(self.seen, lang)}")
        if self.hint is not None:
            lines.append(f"{labels['hint']}{colon}{self.hint(lang)}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pytest shows this in its own output
        return self.render("en")


def _as_text(value: Any, lang: str) -> str:
    return value(lang) if isinstance(value, Text) else show(value)


_MISSING = object()


def fail(fr: str, en: str, *, expected: Any = _MISSING, seen: Any = _MISSING,
         hint: Text | None = None, key: str | None = None) -> None:
    """Fail the current check with feedback in both languages."""
    raise CheckFailed(
        Text(fr, en),
        expected=None if expected is _MISSING else expected,
        seen=None if seen is _MISSING else seen,
        hint=hint,
        has_expected=expected is not _MISSING,
        has_seen=seen is not _MISSING,
        key=key or _call_site(),
    )


def expect(condition: Any, fr: str, en: str, *, expected: Any = _MISSING, seen: Any = _MISSING,
           hint: Text | None = None, key: str | None = None) -> None:
    """Fail the current check unless `condition` holds."""
    if not condition:
        fail(fr, en, expected=expected, seen=seen, hint=hint, key=key or _call_site())


def _call_site() -> str:
    """`module.function:line` of the first caller outside this module: one key per message."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    if frame is None:
        return "unknown"
    module = frame.f_globals.get("__name__", "?").rsplit(".", 1)[-1]
    return f"{module}.{frame.f_code.co_name}:{frame.f_lineno}"
