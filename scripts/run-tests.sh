#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a warm one: installs the project with its
# pinned test dependencies, the sandbox for the student's code (bubblewrap), the Docker
# engine and the local base image (the local tier runs in CI: no Docker there is a failure,
# not a skip), builds the test model, then runs the project's own tests (which grade the
# reference, the template, the faulty and the hostile submissions on every tier that can run
# here).
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e ".[test]"
bash scripts/setup-sandbox.sh
# The virtual clock's library (grader/worker/clock/timeshim.c) is compiled at first use.
bash scripts/ensure-package.sh cc gcc "the grader's virtual clock falls back to its Python-level clock meanwhile."
bash scripts/setup-browser.sh
eval "$(bash scripts/setup-docker.sh)"
export ECS_LAB_BASE_IMAGE ECS_LAB_BUILD_NETWORK TESTCONTAINERS_RYUK_DISABLED
python scripts/build_test_model.py
# --durations: where the suite's time goes, in CI's output (the suite must stay under about 20 minutes).
exec python -m pytest tests -n 2 --dist loadfile --no-loadscope-reorder -p no:cacheprovider --durations=25 "$@"
