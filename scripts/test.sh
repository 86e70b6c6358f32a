#!/usr/bin/env bash
# The README's test command: set up from nothing, then run the whole suite on 2 processes (a file per
# process at a time, the longest files first: --no-loadscope-reorder keeps tests/conftest.py's
# LONGEST_FIRST order, which xdist would replace by tests per file; the expensive fixtures are built
# once and shared). Each
# test has a ceiling (pytest-timeout, pyproject.toml) and the whole run one more, so CI never waits forever.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -z "${VIRTUAL_ENV:-}" ] && [ -z "${CONDA_PREFIX:-}" ] && . .venv/bin/activate
exec timeout -k 30 1800 python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder "$@"
