#!/usr/bin/env bash
# One call on the GPU machine: build with CUDA for sm_90, run every test (GoogleTest
# too, when Debian's libgtest-dev .deb was carried in .deps/), then the benchmarks:
# activation micro-benchmark, demo, graph replay, conv fusion, the A/B matrix.
# Logs and JSON go to $OUT (default ./out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
export TORCH_CUDA_ARCH_LIST=9.0 PYTHONUNBUFFERED=1 MAX_JOBS=${MAX_JOBS:-16}

deb=$(ls .deps/libgtest-dev_*.deb 2>/dev/null | head -n 1)
if [ -n "$deb" ]; then
  dpkg -x "$deb" /tmp/gtest && export GTEST_ROOT=/tmp/gtest/usr
fi

{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
} 2>&1 | tee "$OUT/env.txt"

status=0
run() {  # run STEP LOG CMD...: keep going after a failure, report it at the end
  local step=$1 log=$2; shift 2
  echo "=== $step"
  "$@" 2>&1 | tee "$OUT/$log" || { echo "=== FAILED: $step"; status=1; }
}
run "make test" test.log make test
run "micro-benchmark" micro.txt env PYTHONPATH=python python3 benchmarks/activation_micro.py --json "$OUT/micro.json"
run "demo" demo.txt make demo
run "graph replay latency" latency.txt env PYTHONPATH=python python3 benchmarks/graph_replay_latency.py
run "conv fusion" conv_fusion.txt env PYTHONPATH=python python3 benchmarks/conv_fusion.py --json "$OUT/conv_fusion.json"
run "A/B benchmark" ab.txt env PYTHONPATH=python python3 -m ifx_torch.bench --out "$OUT/ab"
echo "=== gpu_check exit status $status"
exit $status
