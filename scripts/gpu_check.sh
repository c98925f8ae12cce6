#!/usr/bin/env bash
# The GPU machine's work, in stages, so that one device call can run the ones
# that fit its time:  bash scripts/gpu_check.sh STAGE...   (default: all)
#   build     the extension (CUDA, sm_90) and the C++ library, tools and GoogleTests
#   test      the GoogleTests and every pytest (CUDA tests run here, skip elsewhere)
#   test_gpu  the GoogleTests and only the pytest files with CUDA tests (and the export front end's)
#   pytest    pytest on $PYTEST_ARGS only (a re-check of a few files; $PYTEST_K selects by -k)
#   conv      benchmarks/conv_fusion.py (whole models) and conv_layers.py (per layer, dense and depthwise)
#   linear    benchmarks/linear_layers.py: ifx::linear_act's paths on the A/B models' classifiers, fp32;
#             then those models at batch 64 with the rules' linear paths, with IFX_LINEAR_PATH=implicit_gemm_split_k
#             and with IFX_LINEAR_TUNING=1
#   ab        the A/B benchmark's default matrix (python -m ifx_torch.bench), torch's default math
#   ab_notf32 the same models in fp32 with TF32 off
#   replay    benchmarks/replay_overhead.py: the replay runner against a bare CUDAGraph.replay()
#   latency   benchmarks/cpp_vs_python.py: the same optimized file from C++ and Python (.pt and .pt2)
#   sweep     benchmarks/zoo_sweep.py: torchvision / timm models through optimize
#   breakdown benchmarks/kernel_breakdown.py: where each model's GPU time goes, ifx_torch beside torch.compile
#   squeeze   benchmarks/squeeze_side_output.py: SE blocks with and without the depthwise conv's squeeze
#   se_bandwidth benchmarks/squeeze_excite_bandwidth.py: each SE kernel's GPU time against streaming floors
#   se_gate   the SE op tests (both gate forms), memcheck over the gate kernel's cases, both forms
#             timed per block (efficientnet_b0 fp16 and mobilenet_v3_large fp32, batch 64 and 8), and
#             those models at batch 64 with the rule's choice and with IFX_SE_GATE_KERNEL=never
#   sanitize  the CUDA op tests under compute-sanitizer memcheck; racecheck on scripts/sanitize_ops.py
# With DEADLINE=SECONDS, a stage still running that long after the start is
# stopped (and reported failed) so that the logs come back whole.
# Each stage logs to $RESULTS/STAGE.log (default ./out/results), next to its
# JSON / CSV files. Carry .deps (Debian's libgtest-dev .deb) for the
# GoogleTests and .whl (the nvidia-cutlass and nvidia-cudnn-frontend wheels, which the GPU machine's
# image lacks) for the build. A stage that fails is reported; the others
# still run. Extra arguments for a stage's script: SWEEP_ARGS, AB_ARGS,
# REPLAY_ARGS, LATENCY_ARGS, BREAKDOWN_ARGS (PYTEST_ARGS names pytest's files).
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${RESULTS:-out/results}
mkdir -p "$RESULTS"
export TORCH_CUDA_ARCH_LIST=9.0a PYTHONUNBUFFERED=1 MAX_JOBS=${MAX_JOBS:-16} PYTHONPATH=python
export IFX_RUN=build/cmake/ifx_run IFX_CONSUMER=build/consumer/ifx_consumer

if ls .whl/*.whl >/dev/null 2>&1; then  # no package registry there: wheels travel with the tree
  [ -d /tmp/site ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl &&
    export PYTHONPATH=python:/tmp/site
fi

deb=$(ls .deps/libgtest-dev_*.deb 2>/dev/null | head -n 1)
if [ -n "$deb" ] && [ ! -f /usr/include/gtest/gtest.h ]; then
  dpkg -x "$deb" /tmp/gtest && export GTEST_ROOT=/tmp/gtest/usr
fi

stage_build() {  # the extension and the C++ library side by side: they share no objects
  python3 setup.py -q build_ext --inplace > "$RESULTS/build-python.log" 2>&1 &
  local python_build=$!
  make build-cpp build-consumer > "$RESULTS/build-cpp.log" 2>&1
  local cpp_status=$?
  wait $python_build
  local python_status=$?
  tail -n 30 "$RESULTS/build-python.log" "$RESULTS/build-cpp.log"
  [ $python_status -eq 0 ] && [ $cpp_status -eq 0 ]
}
stage_test() {  # the op tests force every kernel path that covers a call (tests/python/kernel_paths.py)
  (cd build/cmake && ctest --output-on-failure -j "$MAX_JOBS") && python3 -m pytest -q -p no:cacheprovider
}
stage_test_gpu() {  # the GoogleTests and the test files that hold CUDA tests, plus the export front end
  # (it meets the GPU machine's older torch); the rest is CPU-only and runs in CI
  local files=($(grep -l "torch.cuda.is_available" tests/python/test_*.py) tests/python/test_export_*.py)
  (cd build/cmake && ctest --output-on-failure -j "$MAX_JOBS") && python3 -m pytest -q -p no:cacheprovider "${files[@]}"
}
# PYTEST_ARGS: files (split on spaces); PYTEST_K: one -k expression, which may hold spaces.
stage_pytest() { python3 -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-tests/python} ${PYTEST_K:+-k "$PYTEST_K"}; }
stage_conv() {
  python3 benchmarks/conv_fusion.py --iters 60 --json "$RESULTS/conv_models.json" &&
    python3 benchmarks/conv_layers.py --kind dense --json "$RESULTS/conv_layers.json" &&
    python3 benchmarks/conv_layers.py --kind depthwise --batch 1 8 64 --json "$RESULTS/depthwise_layers.json"
}
stage_linear() {  # torch's default matmul math (TF32 off) over the row counts, then TF32 on at two;
  # then the models whose classifiers it times, at batch 64, as the rules run them and with every
  # linear layer the split-K path covers forced onto it
  python3 benchmarks/linear_layers.py --json "$RESULTS/linear_layers.json" &&
    python3 benchmarks/linear_layers.py --tf32 --rows 64 256 --json "$RESULTS/linear_layers_tf32.json" || return
  local models=(torchvision:mobilenet_v3_large torchvision:resnet50 torchvision:efficientnet_b0)
  python3 benchmarks/kernel_breakdown.py --models "${models[@]}" --configs fp32 --batch 64 \
    --json "$RESULTS/linear_breakdown_rules.json" &&
    IFX_LINEAR_PATH=implicit_gemm_split_k python3 benchmarks/kernel_breakdown.py --models "${models[@]}" \
      --configs fp32 --batch 64 --json "$RESULTS/linear_breakdown_split_k.json" &&
    IFX_LINEAR_TUNING=1 python3 benchmarks/kernel_breakdown.py --models "${models[@]}" \
      --configs fp32 --batch 64 --json "$RESULTS/linear_breakdown_tuned.json"
}
stage_ab() { python3 -m ifx_torch.bench --out "$RESULTS/ab" ${AB_ARGS:-}; }  # torch's default math (TF32 on) and fp16-cl
stage_ab_notf32() { python3 -m ifx_torch.bench --configs fp32-notf32 --out "$RESULTS/ab-notf32"; }
stage_replay() { python3 benchmarks/replay_overhead.py --json "$RESULTS/replay.json" ${REPLAY_ARGS:-}; }
stage_latency() {
  python3 benchmarks/cpp_vs_python.py --ifx-run "$IFX_RUN" --frontends torchscript export --json "$RESULTS/cpp_vs_python.json" \
    ${LATENCY_ARGS:-}
}
stage_sweep() { python3 benchmarks/zoo_sweep.py --out "$RESULTS/sweep" ${SWEEP_ARGS:-}; }
stage_breakdown() {
  python3 benchmarks/kernel_breakdown.py --variants ifx_torch+graphs compile-reduce-overhead \
    --json "$RESULTS/breakdown.json" ${BREAKDOWN_ARGS:-}
}
stage_squeeze() { python3 benchmarks/squeeze_side_output.py --kernels --json "$RESULTS/squeeze_side_output.json"; }
stage_se_bandwidth() { python3 benchmarks/squeeze_excite_bandwidth.py --json "$RESULTS/squeeze_excite_bandwidth.json"; }
stage_se_gate() {  # what gate_kernel_pays (csrc/ops/kernel_choice.cpp) is set from, and its effect
  local tests=(tests/python/test_squeeze_excite.py tests/python/test_depthwise_squeeze.py)
  python3 -m pytest -q -p no:cacheprovider "${tests[@]}" -k cuda &&
    compute-sanitizer --error-exitcode 9 --tool memcheck python3 -m pytest -q -p no:cacheprovider "${tests[@]}" \
      -k "cuda and always and (float16 or float32 or depthwise_squeeze_gate_kernel)" || return
  local model dtype batch
  for model in efficientnet_b0:fp16 mobilenet_v3_large:fp32; do
    for batch in 64 8; do
      python3 benchmarks/squeeze_excite_bandwidth.py --model "torchvision:${model%%:*}" --dtype "${model#*:}" \
        --batch $batch --json "$RESULTS/se_gate_${model%%:*}_${model#*:}_b$batch.json" || return
    done
  done
  # the whole models with the rule's choice, then with the gates in the excite kernel everywhere
  local rule
  for rule in auto never; do
    IFX_SE_GATE_KERNEL=$rule python3 benchmarks/kernel_breakdown.py --models torchvision:efficientnet_b0 \
      --configs fp16-cl --batch 64 --json "$RESULTS/se_gate_breakdown_efficientnet_b0_$rule.json" &&
      IFX_SE_GATE_KERNEL=$rule python3 benchmarks/kernel_breakdown.py --models torchvision:mobilenet_v3_large \
        --configs fp32 --batch 64 --json "$RESULTS/se_gate_breakdown_mobilenet_v3_large_$rule.json" || return
  done
}
stage_sanitize() {  # every CUDA kernel of ours, on a few shapes each: the sanitizers are slow
  local fusion="(matches_float64 and (float16 or float32)) or pointwise_on_single_pixel or linear_act_cuda or linear_split_k or hopper_gemm"
  local sanitize=(compute-sanitizer --error-exitcode 9)
  "${sanitize[@]}" --tool memcheck python3 -m pytest -q -p no:cacheprovider tests/python/test_layer_fusion.py -k "$fusion" &&
    "${sanitize[@]}" --tool memcheck python3 -m pytest -q -p no:cacheprovider tests/python/test_squeeze_excite.py \
      tests/python/test_depthwise_squeeze.py tests/python/test_ops.py -k cuda &&
    "${sanitize[@]}" --tool memcheck python3 -m pytest -q -p no:cacheprovider tests/python/test_max_pool.py -k nhwc_kernel &&
    IFX_CONV_TUNING=0 "${sanitize[@]}" --tool racecheck python3 scripts/sanitize_ops.py
}

if [ "${1:-}" = "--stage" ]; then "stage_$2"; exit; fi

python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn',
torch.backends.cudnn.version(), torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" |
  tee "$RESULTS/env.txt"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(build test conv linear ab ab_notf32 replay latency sweep sanitize)
failed=()
for stage in "${stages[@]}"; do
  echo "=== $stage ($(date +%T))"
  start=$SECONDS
  left=$(( ${DEADLINE:-86400} - SECONDS ))
  if [ $left -le 0 ]; then echo "no time left"; failed+=("$stage"); continue; fi
  timeout $left bash scripts/gpu_check.sh --stage "$stage" > >(tee "$RESULTS/$stage.log") 2>&1 || failed+=("$stage")
  echo "=== $stage took $((SECONDS - start)) s"
done
echo "=== failed stages: ${failed[*]:-none}"
# When OUT names a folder, every log and result goes there as one archive.
[ -n "${OUT:-}" ] && tar czf "$OUT/results.tgz" -C "$(dirname "$RESULTS")" "$(basename "$RESULTS")"
[ ${#failed[@]} -eq 0 ]
