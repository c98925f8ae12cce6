"""benchmarks/kernel_breakdown.py's grouping of profiled kernels (pure functions; the profiling
itself needs a GPU and runs in scripts/gpu_check.sh's breakdown stage)."""
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("kernel_breakdown", os.path.join(ROOT, "benchmarks", "kernel_breakdown.py"))
kernel_breakdown = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kernel_breakdown)


@pytest.mark.parametrize("name, kind", [
    ("void ifx::kernels::(anonymous namespace)::depthwise_nhwc_kernel<__half, 3, 1>(__half const*, __half const*)",
     "ifx::kernels::depthwise_nhwc_kernel"),
    ("void cutlass::Kernel<cutlass::conv::kernel::ImplicitGemmConvolutionWithFusedEpilogue<...>>(Params)",
     "cutlass implicit GEMM"),
    ("sm90_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nhwckrsc_nhwc_tilesize128x64x64_warpgroupsize1x1x1",
     "sm90_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nhwckrsc_nhwc_tilesize128x64x64_warpgroupsize1x1x1"),
    ("triton_poi_fused_add_hardswish_3", "triton_poi_fused_add_hardswish_3"),
])
def test_kernel_kind_drops_templates_and_parameters(name, kind):
    assert kernel_breakdown.kernel_kind(name) == kind


def test_groups_sum_durations_per_kind_and_busy_time_counts_overlap_once():
    events = [("void k<1>(int)", 0.0, 10.0), ("void k<2>(float)", 20.0, 25.0), ("other", 5.0, 30.0)]
    groups, busy = kernel_breakdown.group_kernels(events)
    assert groups == [("other", 1, 25.0), ("k", 2, 15.0)]
    assert busy == 30.0
