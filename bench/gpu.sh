#!/usr/bin/env bash
# The GPU check, ready for a lent GPU machine (under 8 minutes): CUDA smoke test of the official
# network (CPU-equal logits in fp32 and bf16, a training step, a checkpoint round trip) and its
# forward/training throughput, fp32 vs bf16 + channels_last_3d, the zoo's forwards, and one watch
# window's latency (p50/p95). Needs only a python3 with torch+CUDA
# (the GPU machines' image has it); vcbench runs from this checkout. Figures: bench/results/gpu.json
# (and $OUT/gpu.json where $OUT is set). Never part of CI or the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi -L || true
timeout 420 python3 -m bench.gpu --seconds "${GPU_BENCH_SECONDS:-20}" "$@"
