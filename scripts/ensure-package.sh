#!/usr/bin/env bash
# ensure-package.sh COMMAND PACKAGE WHY: install the Debian PACKAGE that provides COMMAND when it
# is missing (root: apt-get, updating the lists only when needed); otherwise say WHY it matters.
# Idempotent; prints the version found. Used by setup-sandbox.sh and setup-browser.sh.
set -euo pipefail
command=$1 package=$2 why=$3

if ! command -v "$command" >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "$command is missing: install it (Debian: sudo apt-get install $package); $why" >&2
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$package" >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq "$package" >/dev/null; }
fi
echo "$package: $("$command" --version 2>/dev/null | tail -n 1)" >&2
