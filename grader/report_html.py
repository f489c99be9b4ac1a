"""What the HTML report needs beyond the model: feedback split into its message and its values.

A feedback message is pre-rendered text (grader.feedback.CheckFailed.render): a sentence, then
lines that start with a label, « attendu : … », « obtenu : … », « piste : … » (English: "expected:",
"seen:", "hint:"); a value may go on over several lines (a program's output). `feedback_parts`
splits one message so that the template can show the values in monospace and mark, in what was
seen, the part that differs from what was expected (the common prefix and suffix are left plain,
whole words kept whole).

`register(env)` adds the filter to the reports' Jinja environment (grader/reports.py calls it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from grader import i18n
from grader.feedback import _LABELS

# A seen value longer than this (or of several lines), with nothing but punctuation in common with
# the expected one, is not marked at all.
WHOLE_MARK_MAX = 60


@dataclass
class Value:
    """One labelled line (and its continuation lines): `kind` is expected, seen or hint."""

    kind: str
    label: str
    text: str
    before: str = ""  # `text` split around the part that differs (seen, expected): before + diff + after
    diff: str = ""
    after: str = ""

    @property
    def marked(self) -> bool:
        return bool(self.diff)


@dataclass
class Feedback:
    message: str
    values: list[Value] = field(default_factory=list)

    @property
    def expected(self) -> Value | None:
        return next((v for v in self.values if v.kind == "expected"), None)

    @property
    def seen(self) -> Value | None:
        return next((v for v in self.values if v.kind == "seen"), None)


def _label_pattern(lang: str) -> re.Pattern[str]:
    labels = _LABELS.get(lang, _LABELS["fr"])
    names = "|".join(re.escape(v) for v in labels.values())
    return re.compile(rf"^({names})[ \u00a0]?:[ \u00a0]?")


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _inside_word(text: str, index: int) -> bool:
    return 0 < index < len(text) and _word(text[index - 1]) and _word(text[index])


def differing_span(expected: str, seen: str) -> tuple[int, int, int, int]:
    """(start, end) in `expected` and (start, end) in `seen` of the part between the common prefix
    and suffix, widened to whole words (1024 → 1000 marks 1000, not 00)."""
    limit = min(len(expected), len(seen))
    prefix = 0
    while prefix < limit and expected[prefix] == seen[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and expected[-1 - suffix] == seen[-1 - suffix]:
        suffix += 1
    while prefix > 0 and (_inside_word(expected, prefix) or _inside_word(seen, prefix)):
        prefix -= 1
    while suffix > 0 and (_inside_word(expected, len(expected) - suffix) or _inside_word(seen, len(seen) - suffix)):
        suffix -= 1
    return prefix, len(expected) - suffix, prefix, len(seen) - suffix


def _mark(expected: Value, seen: Value) -> None:
    if expected.text == seen.text:
        return
    e_start, e_end, s_start, s_end = differing_span(expected.text, seen.text)
    common = expected.text[:e_start] + expected.text[e_end:]
    if not any(_word(c) for c in common) and (len(seen.text) > WHOLE_MARK_MAX or "\n" in seen.text):
        return  # nothing in common but quotes: the label says it differs, a long yellow block would shout
    for value, start, end in ((seen, s_start, s_end), (expected, e_start, e_end)):
        part = value.text[start:end]
        if part.strip():  # an insertion or a deletion leaves one side with nothing to mark
            value.before, value.diff, value.after = value.text[:start], part, value.text[end:]


def feedback_parts(message: str, lang: str = "fr") -> Feedback:
    """Split a rendered feedback message into its sentence and its labelled values."""
    pattern = _label_pattern(lang)
    kinds = {label: kind for kind, label in _LABELS.get(lang, _LABELS["fr"]).items()}
    sentence: list[str] = []
    values: list[Value] = []
    for line in str(message).split("\n"):
        match = pattern.match(line)
        if match:
            values.append(Value(kinds[match.group(1)], match.group(1), line[match.end():]))
        elif values:
            values[-1].text += "\n" + line
        else:
            sentence.append(line)
    feedback = Feedback("\n".join(sentence).strip("\n"), values)
    if feedback.expected and feedback.seen:
        _mark(feedback.expected, feedback.seen)
    return feedback


def register(env) -> None:
    """Add what report.html.j2 uses to a Jinja environment (grader/reports.py's)."""
    env.filters["feedback_parts"] = feedback_parts
    env.globals["step_label"] = i18n.step_label  # « étape 10 », « étapes Bonus 1 et 3 »
