"""cfn-lint, with its verdicts cached by template content (linting takes about a second per
template, and most submissions deploy the project's own, unchanged templates)."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

from ecslab.facts import REGION
from grader.feedback import Text
from grader.project import CACHE_DIR as PROJECT_CACHE

CACHE_DIR = PROJECT_CACHE / "cfn-lint"


def cfn_lint_errors(path: Path) -> list[Text]:
    """cfn-lint's errors (rules E*) for the template at `path`, as readable lines in both languages.

    Raises UnsafeTemplate (grader.judges.templates) for a template the grader will not parse.
    """
    from grader.judges.templates import safe_text

    key = hashlib.sha256(safe_text(path).encode() + f"{version('cfn-lint')}:{REGION}:v2".encode()).hexdigest()
    cached = CACHE_DIR / f"{key}.json"
    if cached.is_file():
        return [_line(*error) for error in json.loads(cached.read_text(encoding="utf-8"))]
    from cfnlint.api import ManualArgs, lint_file

    errors = [[m.rule.id, m.linenumber, m.message]
              for m in lint_file(path, ManualArgs(regions=[REGION])) if m.rule.id.startswith("E")]
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(".tmp")
        temporary.write_text(json.dumps(errors), encoding="utf-8")
        temporary.replace(cached)
    except OSError:
        pass  # a read-only checkout still grades, only slower
    return [_line(*error) for error in errors]


def _line(rule: str, line: int, message: str) -> Text:
    """One cfn-lint error; its message is cfn-lint's own (English)."""
    return Text(f"{rule} ligne {line} : {message}", f"{rule} line {line}: {message}")
