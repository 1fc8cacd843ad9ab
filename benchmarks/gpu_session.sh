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
# The GPU image's library versions differ from CI's (jax 0.11, torch 2.11, numpy 2.5 there):
# its warnings are reported in each summary instead of failing the tests (pyproject: error).
WARN=(-W default)
timeout 120 python3 -m pytest -q -rs -m cuda tests "${WARN[@]}" -p no:cacheprovider --continue-on-collection-errors 2>&1 | tee "$OUT/cuda-tests.txt"
timeout 270 python3 benchmarks/gpu.py --out "$OUT" 2>&1 | tee "$OUT/gpu-bench.txt"
# every cell's outcome is written as it finishes (-v): a run cut by its timeout keeps them
timeout 110 python3 -m pytest -v "${WARN[@]}" -p no:cacheprovider --continue-on-collection-errors conformance -n 8 --maxfail=50 \
    -k "cupy or torch-cuda or jax-gpu" > "$OUT/conformance-gpu.txt" 2>&1
grep -c " PASSED" "$OUT/conformance-gpu.txt"; grep " FAILED\|^FAILED" "$OUT/conformance-gpu.txt" | head -20
echo "done"
