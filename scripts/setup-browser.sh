#!/usr/bin/env bash
# setup-browser.sh: install Chromium, the browser tests/test_class_report.py opens the class
# report in (headless). Idempotent. Without it that test fails with a message naming this
# script: the page is checked in a real browser, not skipped.
set -euo pipefail
exec bash "$(dirname "$0")/ensure-package.sh" chromium chromium "the class report's browser test fails without it."
