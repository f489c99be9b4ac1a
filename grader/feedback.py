"""Feedback a student can act on: what was expected, what was seen, in French or English.

Checks raise `CheckFailed` (through `expect`/`fail`); the plugin renders it in the run's
language and appends the handout step to re-read, taken from the catalogue.
"""

from __future__ import annotations

import reprlib
import sys
from dataclasses import dataclass, field
from typing import Any

from ecslab.messages import LANGUAGES  # noqa: F401 - re-exported: the lab's one list of languages

_LABELS = {
    "fr": {"expected": "attendu", "seen": "obtenu", "hint": "piste"},
    "en": {"expected": "expected", "seen": "seen", "hint": "hint"},
}

ELLIPSIS = "…"
MAX_STRING = 160


def shorten(text: str, limit: int = MAX_STRING) -> str:
    """`text` in at most about `limit` characters: its beginning and its end, cut between words, "…" between.

    Never cuts a word: the cut falls inside a token only when that part has no space at all
    (a long URL or ARN).
    """
    if len(text) <= limit:
        return text
    head_room, tail_room = (limit * 2) // 3, limit // 3
    head = text[:head_room]
    if text[head_room:head_room + 1] not in (" ", ""):  # cut inside a word: back to the space before it
        cut = head.rfind(" ")
        head = head[:cut] if cut > 0 else head
    tail = text[len(text) - tail_room:]
    if text[len(text) - tail_room - 1] != " ":  # the tail starts inside a word: from the next space
        cut = tail.find(" ")
        tail = tail[cut + 1:] if cut >= 0 else tail
    return f"{head.rstrip()} {ELLIPSIS} {tail.lstrip()}"


def tail(text: str, limit: int = 300) -> str:
    """The end of a program's output, from a line (or a word) boundary, "…" first when cut."""
    if len(text) <= limit:
        return text
    end = text[len(text) - limit:]
    for boundary in ("\n", " "):
        cut = end.find(boundary)
        if 0 <= cut < limit // 2:
            return ELLIPSIS + end[cut + 1:] if boundary == "\n" else ELLIPSIS + " " + end[cut + 1:]
    return ELLIPSIS + end


class _Repr(reprlib.Repr):
    """reprlib, with strings cut between words and the feedback's own values in the run's language."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang
        self.maxstring = MAX_STRING
        self.maxother = MAX_STRING
        self.maxlist = 8
        self.maxdict = 8
        self.maxlevel = 4
        self.fillvalue = ELLIPSIS

    def repr_str(self, value: str, level: int) -> str:
        if len(value) <= self.maxstring:
            return repr(value)
        return repr(shorten(value, self.maxstring))

    def repr1(self, value: Any, level: int) -> str:
        rendered = _localised(value, self.lang)
        if rendered is not None:
            return rendered
        return super().repr1(value, level)


def _localised(value: Any, lang: str) -> str | None:
    """A value that speaks both languages (Text, the student's exception), in `lang`; None otherwise."""
    if isinstance(value, Text):
        return value(lang)
    summary = getattr(type(value), "summary", None)
    if summary is not None and type(value).__name__ == "StudentError":
        return shorten(value.summary(lang), 2 * MAX_STRING)
    return None


def show(value: Any, lang: str = "fr") -> str:
    """A short, readable rendering of a value sent or returned by the student's code."""
    return _Repr(lang).repr(value)


@dataclass(frozen=True)
class Text:
    """A sentence in both languages."""

    fr: str
    en: str

    def __call__(self, lang: str) -> str:
        return self.en if lang == "en" else self.fr


class NotGraded(Exception):
    """Not a verdict on the student's work: the grader could not judge it (a limit of its own, said
    in both languages). Like any exception of a check that is not a CheckFailed, the check is then
    not graded, with this reason."""

    def __init__(self, reason: Text) -> None:
        super().__init__(reason.en)
        self.reason = reason


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
    rendered = _localised(value, lang)
    return rendered if rendered is not None else show(value, lang)


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
