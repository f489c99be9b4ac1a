"""The one exception type that the ``ecs-lab`` command turns into a message.

A ``LabError`` carries a message key of :mod:`ecslab.messages` and its
parameters, not a sentence: the console renders it in the student's language.
"""

from __future__ import annotations

from typing import Any


class LabError(Exception):
    """An expected failure: printed as one clear message, then a non-zero exit."""

    def __init__(self, key: str, /, exit_code: int = 1, **params: Any) -> None:
        self.key = key
        self.params = params
        self.exit_code = exit_code
        super().__init__(key)

    def __str__(self) -> str:
        from ecslab.messages import render

        return render(self.key, "en", **self.params)
