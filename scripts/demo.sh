#!/usr/bin/env bash
# The README's main job: set up from nothing, then run every stage on the embedded sample media.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -z "${VIRTUAL_ENV:-}" ] && [ -z "${CONDA_PREFIX:-}" ] && . .venv/bin/activate
vcbench demo "$@"
