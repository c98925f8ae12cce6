"""Each CUDA kernel of ours once on a small shape, every conv path that covers the call forced in
turn (tuning off, so nothing is timed), fp32 and fp16: a short program for compute-sanitizer, whose
racecheck is too slow for the op tests (a 100 s run of their float64 cases did not finish).

    IFX_CONV_TUNING=0 compute-sanitizer --tool racecheck python3 scripts/sanitize_ops.py

Prints each path it ran, then "done"."""
import os

os.environ.setdefault("IFX_CONV_TUNING", "0")  # read once, when the op library loads

import torch  # noqa: E402

import ifx_torch  # noqa: E402,F401  (loads the ops)
from ifx_torch import _C  # noqa: E402

dev = "cuda"
torch.manual_seed(0)


def conv_paths(x, w, b, stride, pad, groups, residual, act):
    """conv2d_act through every path covering the call, each forced in turn."""
    args = (x, w, b, [stride] * 2, [pad] * 2, [1, 1], groups, residual, act)
    _, covering = _C.conv_paths(*args)
    for p in covering:
        if p == "aten": continue
        _C.set_kernel_override(p, "", "auto")
        try:
            torch.ops.ifx.conv2d_act(*args)
            torch.cuda.synchronize()
            print("ran", p, _C.last_kernel_path("conv2d_act"), tuple(x.shape), x.dtype, flush=True)
        finally:
            _C.reset_kernel_override()


for dtype in (torch.float32, torch.float16):
    cl = torch.channels_last
    for c, k, s in ((32, 3, 1), (40, 5, 2), (64, 3, 2)):  # depthwise forms
        x = torch.randn(2, c, 19, 17, device=dev, dtype=dtype).contiguous(memory_format=cl)
        w = torch.randn(c, 1, k, k, device=dev, dtype=dtype)
        conv_paths(x, w, torch.randn(c, device=dev, dtype=dtype), s, k // 2, c, None, "hardswish")
    for c in (3, 4 if dtype == torch.float32 else 8):  # stems: channel_padded (3 channels), the padded conv (one 16-byte vector)
        x = torch.randn(2, c, 37, 33, device=dev, dtype=dtype).contiguous(memory_format=cl)
        w = torch.randn(64, c, 7, 7, device=dev, dtype=dtype).contiguous(memory_format=cl)
        with torch.backends.cudnn.flags(allow_tf32=True):
            conv_paths(x, w, torch.randn(64, device=dev, dtype=dtype), 2, 3, 1, None, "relu")
    x = torch.randn(2, 64, 7, 7, device=dev, dtype=dtype).contiguous(memory_format=cl)  # pointwise, few rows
    w = torch.randn(96, 64, 1, 1, device=dev, dtype=dtype)
    conv_paths(x, w, torch.randn(96, device=dev, dtype=dtype), 1, 0, 1, None, "silu")
    x1 = torch.randn(4, 64, 1, 1, device=dev, dtype=dtype)
    conv_paths(x1, w, torch.randn(96, device=dev, dtype=dtype), 1, 0, 1, None, "relu")
    # squeeze-and-excitation (two kernels), max pool, linear
    x = torch.randn(4, 72, 14, 14, device=dev, dtype=dtype).contiguous(memory_format=cl)
    torch.ops.ifx.squeeze_excite(x, torch.randn(24, 72, device=dev, dtype=dtype), torch.randn(24, device=dev, dtype=dtype),
                                 "relu", torch.randn(72, 24, device=dev, dtype=dtype), torch.randn(72, device=dev, dtype=dtype),
                                 "hardsigmoid")
    print("ran squeeze_excite", _C.last_kernel_path("squeeze_excite"), flush=True)
    # the squeeze as the depthwise kernel's side output, each form that has it
    w = torch.randn(72, 1, 3, 3, device=dev, dtype=dtype)
    se = (torch.randn(24, 72, device=dev, dtype=dtype), torch.randn(24, device=dev, dtype=dtype), "relu",
          torch.randn(72, 24, device=dev, dtype=dtype), torch.randn(72, device=dev, dtype=dtype), "hardsigmoid")
    for form in ("depthwise", "depthwise_shared_tile") + (("depthwise_two_rows",) if dtype == torch.float32 else ()):
        _C.set_kernel_override(form, "", "auto")
        try:
            torch.ops.ifx.conv2d_act_squeeze_excite(x, w, None, [1, 1], [1, 1], [1, 1], 72, None, "hardswish", *se)
            torch.cuda.synchronize()
            print("ran", form, _C.last_kernel_path("squeeze_excite"), flush=True)
        finally:
            _C.reset_kernel_override()
    torch.ops.ifx.max_pool2d(torch.randn(2, 64, 29, 29, device=dev, dtype=dtype).contiguous(memory_format=cl), [3, 3], [2, 2], [1, 1], [1, 1], False)
    print("ran max_pool2d", _C.last_kernel_path("max_pool2d"), flush=True)
    torch.ops.ifx.linear_act(torch.randn(3, 96, device=dev, dtype=dtype), torch.randn(40, 96, device=dev, dtype=dtype), torch.randn(40, device=dev, dtype=dtype), "hardswish")
    print("ran linear_act", _C.last_kernel_path("linear_act"), flush=True)
torch.cuda.synchronize()
print("done")
