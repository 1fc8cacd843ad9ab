#!/usr/bin/env bash
# Everything that needs a GPU, in one call of the device tool (see docs/dev/gpu.md):
#   run(command="bash benchmarks/gpu_session.sh", carry=[".whl"], timeout_s=540)
# The GPU machine lacks array-api-compat, array-api-extra, array-api-strict and autograd:
# their wheels travel in .whl (git-ignored; docs/dev/gpu.md says how to fetch them).
# Results land in $OUT: the CUDA tests' log, benchmarks/gpu.py's tables and gpu.json, and the
# GPU cells of the conformance grid (as many as fit in their time).
set -o pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src:$PWD PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # several processes share the GPU below
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
timeout 120 python3 -m pytest -q -rs -m cuda tests -p no:cacheprovider 2>&1 | tee "$OUT/cuda-tests.txt"
timeout 270 python3 benchmarks/gpu.py --out "$OUT" 2>&1 | tee "$OUT/gpu-bench.txt"
timeout 100 python3 -m pytest -q conformance -n 4 -p no:cacheprovider --maxfail=50 \
    -k "cupy or torch-cuda or jax-gpu" 2>&1 | tail -60 > "$OUT/conformance-gpu.txt"
echo "done"
