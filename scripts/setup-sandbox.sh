#!/usr/bin/env bash
# setup-sandbox.sh: install bubblewrap, the sandbox the grader runs the student's code in
# (grader/worker/sandbox.py). Idempotent. Without it (or where it cannot make namespaces)
# the grader still grades, in plain processes with limits, and every report says so.
set -euo pipefail
exec bash "$(dirname "$0")/ensure-package.sh" bwrap bubblewrap "grading goes on without the sandbox meanwhile."
