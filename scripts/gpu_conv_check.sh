#!/usr/bin/env bash
# One short call on the GPU machine for the conv fusion: build the extension with
# CUDA for sm_90, run the CUDA op and model tests, then the whole-model and the
# per-layer benchmarks. Logs and JSON go to $OUT (default ./out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
export TORCH_CUDA_ARCH_LIST=9.0 PYTHONUNBUFFERED=1 MAX_JOBS=${MAX_JOBS:-16} PYTHONPATH=python

status=0
run() {  # run STEP LOG CMD...: keep going after a failure, report it at the end
  local step=$1 log=$2; shift 2
  echo "=== $step"
  "$@" 2>&1 | tee "$OUT/$log" || { echo "=== FAILED: $step"; status=1; }
}
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name())" | tee "$OUT/env.txt"
run "build" build.log python3 setup.py build_ext --inplace
run "CUDA tests" test.log python3 -m pytest -q -x tests/python/test_layer_fusion.py tests/python/test_ops.py tests/python/test_optimize_api.py
run "whole models" models.txt python3 benchmarks/conv_fusion.py --models --iters 60 --json "$OUT/models.json"
run "per layer" layers.txt python3 benchmarks/conv_fusion.py --layers --json "$OUT/layers.json"
echo "=== gpu_conv_check exit status $status"
exit $status
