#!/usr/bin/env bash
# The GPU machine's work, in stages, so that one device call can run the ones
# that fit its time:  bash scripts/gpu_check.sh STAGE...   (default: all)
#   build     the extension (CUDA, sm_90) and the C++ library, tools and GoogleTests
#   test      the GoogleTests and every pytest (CUDA tests run here, skip elsewhere)
#   conv      benchmarks/conv_fusion.py: whole models and the per-layer table
#   ab        the A/B benchmark's default matrix (python -m ifx_torch.bench)
#   latency   benchmarks/cpp_vs_python.py: the same optimized file from C++ and Python
#   sweep     benchmarks/zoo_sweep.py: torchvision / timm models through optimize
#   sanitize  the CUDA op tests under compute-sanitizer (memcheck, racecheck)
# Each stage logs to $RESULTS/STAGE.log (default ./out/results), next to its
# JSON / CSV files. Carry .deps (Debian's libgtest-dev .deb) for the
# GoogleTests. A stage that fails is reported; the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${RESULTS:-out/results}
mkdir -p "$RESULTS"
export TORCH_CUDA_ARCH_LIST=9.0 PYTHONUNBUFFERED=1 MAX_JOBS=${MAX_JOBS:-16} PYTHONPATH=python
export IFX_RUN=build/cmake/ifx_run IFX_CONSUMER=build/consumer/ifx_consumer

deb=$(ls .deps/libgtest-dev_*.deb 2>/dev/null | head -n 1)
if [ -n "$deb" ] && [ ! -f /usr/include/gtest/gtest.h ]; then
  dpkg -x "$deb" /tmp/gtest && export GTEST_ROOT=/tmp/gtest/usr
fi

stage_build() {
  python3 setup.py -q build_ext --inplace && make build-cpp build-consumer
}
stage_test() {
  # The conv op tests once more with the pointwise kernel taking every 1x1 stride-1 conv, so
  # its coverage does not hang on where the measured choice draws the line.
  (cd build/cmake && ctest --output-on-failure -j "$MAX_JOBS") && python3 -m pytest -q -p no:cacheprovider &&
    IFX_POINTWISE_KERNEL=always python3 -m pytest -q -p no:cacheprovider tests/python/test_layer_fusion.py \
      -k "conv2d_act_cuda"
}
stage_conv() {
  python3 benchmarks/conv_fusion.py --models --iters 60 --json "$RESULTS/conv_models.json" &&
    python3 benchmarks/conv_fusion.py --layers --json "$RESULTS/conv_layers.json"
}
stage_ab() { python3 -m ifx_torch.bench --out "$RESULTS/ab"; }
stage_latency() { python3 benchmarks/cpp_vs_python.py --ifx-run "$IFX_RUN" --json "$RESULTS/cpp_vs_python.json"; }
stage_sweep() { python3 benchmarks/zoo_sweep.py --out "$RESULTS/sweep" ${SWEEP_ARGS:-}; }
stage_sanitize() {  # every CUDA kernel of ours, on a few shapes each: the sanitizers are slow
  local subset="pointwise_on_single_pixel or large_depthwise or linear_act_cuda or (matches_float64 and float16)"
  compute-sanitizer --tool memcheck --error-exitcode 9 python3 -m pytest -q -p no:cacheprovider \
    tests/python/test_layer_fusion.py -k "$subset" &&
    IFX_POINTWISE_KERNEL=always compute-sanitizer --tool memcheck --error-exitcode 9 python3 -m pytest -q \
      -p no:cacheprovider tests/python/test_layer_fusion.py -k "pointwise_on_small_maps and not 64x64 and not 65x65" &&
    compute-sanitizer --tool memcheck --error-exitcode 9 python3 -m pytest -q -p no:cacheprovider \
      tests/python/test_ops.py -k "cuda" &&
    compute-sanitizer --tool racecheck --error-exitcode 9 python3 -m pytest -q -p no:cacheprovider \
      tests/python/test_layer_fusion.py -k "pointwise_on_single_pixel and float32" &&
    IFX_POINTWISE_KERNEL=always compute-sanitizer --tool racecheck --error-exitcode 9 python3 -m pytest -q \
      -p no:cacheprovider tests/python/test_layer_fusion.py -k "pointwise_on_small_maps and 300 and not 64x64 and not 65x65"
}

python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn',
torch.backends.cudnn.version(), torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" |
  tee "$RESULTS/env.txt"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(build test conv ab latency sweep sanitize)
failed=()
for stage in "${stages[@]}"; do
  echo "=== $stage ($(date +%T))"
  start=$SECONDS
  "stage_$stage" > >(tee "$RESULTS/$stage.log") 2>&1 || failed+=("$stage")
  echo "=== $stage took $((SECONDS - start)) s"
done
echo "=== failed stages: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
