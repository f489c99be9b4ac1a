"""Headless Chromium for the tests that look at a page in a real browser."""
from __future__ import annotations

import shutil

import pytest


def chromium(what: str) -> str:
    """The Chromium executable; installing it is the project's job (scripts/setup-browser.sh), never a silent skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(f"chromium is not installed: run `bash scripts/setup-browser.sh` (Debian package chromium); "
                    f"{what} needs it")
    return found
