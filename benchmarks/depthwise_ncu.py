"""One depthwise layer's kernel for Nsight Compute, through the one-row NHWC form (forced, tuning off).
Default: efficientnet_b0's 144-channel 56x56 3x3 layer, fp16 channels_last, batch 64, with silu.

    IFX_CONV_TUNING=0 ncu -k regex:depthwise_nhwc_kernel -s 2 -c 1 --section SpeedOfLight \\
        --section Occupancy --section WarpStateStats --section MemoryWorkloadAnalysis \\
        --section LaunchStats python3 benchmarks/depthwise_ncu.py [--dtype fp32] [--channels 16]
        [--size 112] [--kernel 3] [--stride 1] [--batch 64] [--activation hardswish]

Without ncu it prints the path that ran and the layer's bytes (input read once, output written once),
the floor a memory-bound kernel is measured against (docs/notes/depthwise_and_se_kernels.md).
"""
import argparse
import os
import sys

os.environ.setdefault("IFX_CONV_TUNING", "0")  # read once, when the op library loads

import torch  # noqa: E402

import ifx_torch  # noqa: E402

DTYPES = {"fp32": torch.float, "fp16": torch.half, "bf16": torch.bfloat16}

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp16")
parser.add_argument("--channels", type=int, default=144)
parser.add_argument("--size", type=int, default=56, help="input height and width")
parser.add_argument("--kernel", type=int, default=3)
parser.add_argument("--stride", type=int, default=1)
parser.add_argument("--batch", type=int, default=64)
parser.add_argument("--activation", default="silu")
args = parser.parse_args()
if min(args.channels, args.size, args.kernel, args.stride, args.batch) < 1:
    parser.error("--channels, --size, --kernel, --stride and --batch must be positive")
if not torch.cuda.is_available():
    sys.exit("depthwise_ncu: needs a CUDA device")

torch.manual_seed(0)
dtype, c, k = DTYPES[args.dtype], args.channels, args.kernel
x = torch.randn(args.batch, c, args.size, args.size, device="cuda", dtype=dtype)
x = x.contiguous(memory_format=torch.channels_last)
w = torch.randn(c, 1, k, k, device="cuda", dtype=dtype)
b = torch.randn(c, device="cuda", dtype=dtype)
ifx_torch._C.set_kernel_override("depthwise", "", "auto")
stride, pad = [args.stride] * 2, [k // 2] * 2
for _ in range(3):
    y = torch.ops.ifx.conv2d_act(x, w, b, stride, pad, [1, 1], c, None, args.activation)
torch.cuda.synchronize()
moved = x.numel() * x.element_size() + y.numel() * y.element_size()
print(f"path {ifx_torch._C.last_kernel_path('conv2d_act')}; {moved / 1e6:.1f} MB moved at least once")
