"""Where the commands print: one object holding the language and the streams."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from ecslab.messages import render


@dataclass
class Console:
    """Prints catalogue messages (:mod:`ecslab.messages`) in one language."""

    lang: str = "fr"
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def text(self, key: str, /, **params: Any) -> str:
        return render(key, self.lang, **params)

    def say(self, key: str, /, **params: Any) -> None:
        print(self.text(key, **params), file=self.out, flush=True)

    def raw(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def fail(self, key: str, /, **params: Any) -> None:
        prefix = self.text("error_prefix")
        print(f"{prefix} {self.text(key, **params)}", file=self.err, flush=True)
