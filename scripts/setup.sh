#!/usr/bin/env bash
# Set up vcbench from nothing: a virtual environment (or the one already active), torch
# (kept if present; CPU build when no GPU), the package with its onnxruntime flavour, and
# insightface without its opencv-python requirement (mediapipe's opencv-contrib-python is
# the one OpenCV; two distributions would overwrite each other's cv2 folder), and Debian's headless
# Chromium + chromedriver for the webrtc engine and the report's browser test (where apt can
# install them: root or passwordless sudo; otherwise those say how to get them, or skip).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${VIRTUAL_ENV:-}" ] && [ -z "${CONDA_PREFIX:-}" ]; then
    if [ ! -x .venv/bin/python ]; then
        "${PYTHON:-python3}" -m venv .venv
    fi
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    sudo_=""; [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo_="sudo -n"
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$sudo_" ]; }; then
        { $sudo_ apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends \
            chromium chromium-driver; } >/dev/null 2>&1 \
            || echo "setup: could not install chromium; the webrtc engine and the browser tests will say so" >&2
    fi
fi
pip_q() { python -m pip install -q --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" || true; }

gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then gpu=1; fi

if ! python -c "import torch" >/dev/null 2>&1; then
    if [ "$gpu" = 1 ]; then
        pip_q torch
    else
        # the CPU build; set VCBENCH_TORCH_INDEX=https://download.pytorch.org/whl/cpu where PyPI would
        # otherwise hand out the multi-GB CUDA build
        pip_q "torch==2.13.0" ${VCBENCH_TORCH_INDEX:+--index-url "$VCBENCH_TORCH_INDEX"}
    fi
fi
extra=cpu
[ "$gpu" = 1 ] && extra=gpu
python -m pip show -q vcbench >/dev/null 2>&1 && [ "${VCBENCH_REINSTALL:-0}" = 0 ] && [ -z "${CI:-}" ] \
    && python -c "import vcbench, onnxruntime, insightface, xdist, pytest_timeout, efficientnet_pytorch" >/dev/null 2>&1 \
    || { pip_q -e ".[$extra,test,webrtc]"; pip_q --no-deps "insightface>=2.1"; }
python -c "import torch, cv2, onnxruntime, insightface, vcbench" \
    || { echo "setup: imports failed after installation" >&2; exit 1; }
