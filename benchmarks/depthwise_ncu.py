"""One layer's depthwise kernel for Nsight Compute: efficientnet_b0's 144-channel 56x56 3x3 layer,
fp16 channels_last, batch 64, with silu, through the one-row NHWC form (forced, tuning off).

    IFX_CONV_TUNING=0 ncu -k regex:depthwise_nhwc_kernel -s 2 -c 1 --section SpeedOfLight \\
        --section Occupancy --section WarpStateStats --section MemoryWorkloadAnalysis \\
        --section LaunchStats python3 benchmarks/depthwise_ncu.py
"""
import os
import sys

os.environ.setdefault("IFX_CONV_TUNING", "0")  # read once, when the op library loads

import torch  # noqa: E402

import ifx_torch  # noqa: E402

if not torch.cuda.is_available():
    sys.exit("depthwise_ncu: needs a CUDA device")
torch.manual_seed(0)
x = torch.randn(64, 144, 56, 56, device="cuda", dtype=torch.half).contiguous(memory_format=torch.channels_last)
w = torch.randn(144, 1, 3, 3, device="cuda", dtype=torch.half)
b = torch.randn(144, device="cuda", dtype=torch.half)
ifx_torch._C.set_kernel_override("depthwise", "", "auto")
for _ in range(3):
    torch.ops.ifx.conv2d_act(x, w, b, [1, 1], [1, 1], [1, 1], 144, None, "silu")
torch.cuda.synchronize()
print("path", ifx_torch._C.last_kernel_path("conv2d_act"))
