"""GPU time of every kernel path on the padded stems: the conv that `channel_padded` runs after padding
an image's 3 channels to one 16-byte vector (4 fp32 channels, 8 of a 16-bit type), each path forced.

    python3 benchmarks/stem_paths.py

Stems of resnet50 (7x7 stride 2, 64 outputs, relu; batch 64 and 1), mobilenet_v3_large (3x3 stride 2, 16
outputs, hardswish) and efficientnet_b0 (3x3 stride 2, 32 outputs, silu) at batch 64, in fp32 under TF32
(torch's default: cuDNN may use TF32) and fp16, channels_last. Time per call: CUDA events around 20
calls queued behind a spinning kernel (so the GPU runs them back to back, as graph replay does, and the
host's launch cost stays out), after 3 warm-up calls. Each path's output is compared with the first
path's (max relative difference), so a path that computes something else shows.
"""
import sys

import torch

import ifx_torch  # noqa: F401  (loads the ops)
from ifx_torch import _C
from ifx_torch.bench import math_settings
from ifx_torch.timing import queued_call_us

STEMS = [  # (model, batch, kernel, stride, padding, out channels, activation)
    ("resnet50", 64, 7, 2, 3, 64, "relu"), ("resnet50", 1, 7, 2, 3, 64, "relu"),
    ("mobilenet_v3_large", 64, 3, 2, 1, 16, "hardswish"), ("efficientnet_b0", 64, 3, 2, 1, 32, "silu"),
]


def main():
    if not torch.cuda.is_available():
        sys.exit("stem_paths: needs a CUDA device")
    with math_settings(True):
        for dtype in (torch.float32, torch.float16):
            channels = 16 // torch.empty((), dtype=dtype).element_size()
            for model, batch, k, stride, padding, out, activation in STEMS:
                x = torch.randn(batch, channels, 224, 224, device="cuda", dtype=dtype)
                w = torch.randn(out, channels, k, k, device="cuda", dtype=dtype) / (channels * k * k) ** 0.5
                b = torch.randn(out, device="cuda", dtype=dtype)
                args = (x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last),
                        b, [stride] * 2, [padding] * 2, [1, 1], 1, None, activation)
                _, covering = _C.conv_paths(*args)
                cells, reference = [], None
                for path in covering:
                    if path == "aten":
                        continue
                    _C.set_kernel_override(path, "", "auto")
                    try:
                        us = queued_call_us(lambda: torch.ops.ifx.conv2d_act(*args), calls=20, repeats=1, warmup=3)
                        y = torch.ops.ifx.conv2d_act(*args).float()
                    finally:
                        _C.reset_kernel_override()
                    reference = y if reference is None else reference
                    diff = ((y - reference).abs().max() / reference.abs().max()).item()
                    cells.append(f"{path} {us:.1f} us (diff {diff:.1e})")
                print(f"{model} b{batch} {str(dtype)[6:]} C={channels}: " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
