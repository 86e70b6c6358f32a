#!/usr/bin/env bash
# The README's test command: set up from nothing, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# the report's browser test uses Debian's headless Chromium; install it where we can (root or sudo),
# otherwise that one test is skipped with its reason
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    sudo_=""; [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo_="sudo -n"
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$sudo_" ]; }; then
        { $sudo_ apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends \
            chromium chromium-driver; } >/dev/null 2>&1 || echo "test: could not install chromium; the browser test will be skipped" >&2
    fi
fi
[ -z "${VIRTUAL_ENV:-}" ] && [ -z "${CONDA_PREFIX:-}" ] && . .venv/bin/activate
python -m pytest -q "$@"
