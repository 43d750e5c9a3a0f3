#!/usr/bin/env bash
# One prepared GPU check (device machine: torch+CUDA, jax, triton; no TF): install convbench
# without touching the machine's torch, run the gpu-marked tests, a real `convbench run
# --device cuda` of ResNet-50's layers at fp16, and the timer-agreement benchmark.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || export PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/nvidia_smi.txt"
timeout ${T_TESTS:-120} python3 -m pytest -m "gpu and not slow" -q -x tests 2>&1 | tail -15 | tee "$OUT/gpu_tests.txt"
timeout ${T_RUN:-150} python3 -m convbench.cli run --device cuda --backend torch --network resnet50 --batch 32 \
  --dtype fp16 --layout nhwc --max-time 0.3 --min-time 0.05 --out "$OUT/results" --format table 2>&1 | tee "$OUT/run.txt" | tail -40
timeout ${T_AGREE:-120} python3 benchmarks/timer_agreement.py --device cuda --dtype fp16 --batch 32 2>&1 | tee "$OUT/agreement.txt"
