"""Conv / linear fusion end to end: torch.ops.ifx.conv2d_act and linear_act
(opcheck, values against the ATen ops in float64, CPU and CUDA, every CUDA kernel path that
covers a call forced in turn), and whole models through ifx_torch.optimize (patterns fused,
outputs equal to eager).

    PYTHONPATH=python python3 -m pytest tests/python/test_layer_fusion.py -q    # from the repository root
"""
import itertools
import operator
import os
import subprocess
import sys
import zlib
from typing import List

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
from ifx_torch import models
from kernel_paths import conv2d_act_every_path, forced_paths, linear_act_every_path
from model_helpers import activation_references, randomize_batchnorm

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                   reason="CUDA is not available (CPU-only torch or no GPU)")

ACTIVATIONS = activation_references()


def case_generator(*case):
    """A CPU generator seeded by the test case's parameters: other operands for each case, the same
    ones on every run (Python's hash() of a str changes from run to run)."""
    return torch.Generator().manual_seed(zlib.crc32(repr(case).encode()))


def nonzero_randn(*shape, generator=None):
    x = torch.randn(*shape, dtype=torch.float64, generator=generator) * 3
    return torch.where(x == 0, torch.ones_like(x), x)


def conv_reference(x, w, b, stride, padding, dilation, groups, residual, activation):
    """The unfused ops in float64 on the CPU: the truth every backend is held to."""
    y = F.conv2d(x.double().cpu(), w.double().cpu(), None if b is None else b.double().cpu(),
                 stride, padding, dilation, groups)
    if residual is not None:
        y = y + residual.double().cpu()
    return ACTIVATIONS[activation](y)


# --- op level, CPU (always) ------------------------------------------------------------------

@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_conv2d_act_opcheck(activation):
    x = nonzero_randn(2, 4, 7, 7)
    w = torch.randn(6, 2, 3, 3, dtype=torch.float64)
    b = torch.randn(6, dtype=torch.float64)
    r = torch.randn(2, 6, 4, 4, dtype=torch.float64)
    args = (x, w, b, [2, 2], [1, 1], [1, 1], 2, r, activation)
    torch.library.opcheck(torch.ops.ifx.conv2d_act.default, args)
    torch.testing.assert_close(torch.ops.ifx.conv2d_act(*args), conv_reference(*args), rtol=1e-12, atol=1e-12)


# The CPU kernel adds the residual into the conv's fresh output in place where the sum keeps its
# size and dtype; a residual that broadcasts, promotes or needs grad takes the out-of-place add.
@pytest.mark.parametrize("residual_shape, residual_dtype, requires_grad", [
    ((2, 6, 4, 4), torch.float32, False),   # in place
    ((6, 1, 1), torch.float32, False),      # broadcasts to the output: still in place
    ((2, 6, 4, 4), torch.float64, False),   # promotes the sum to float64: out of place
    ((2, 6, 4, 4), torch.float32, True),    # autograd records the add: out of place
])
def test_conv2d_act_cpu_residual_forms_leave_the_residual_alone(residual_shape, residual_dtype, requires_grad):
    generator = torch.Generator().manual_seed(len(residual_shape) * 10 + requires_grad)
    x = nonzero_randn(2, 4, 7, 7, generator=generator).float()
    w = torch.randn(6, 2, 3, 3, generator=generator)
    r = torch.randn(residual_shape, dtype=torch.float64, generator=generator).to(residual_dtype)
    r.requires_grad_(requires_grad)
    kept = r.detach().clone()
    out = torch.ops.ifx.conv2d_act(x, w, None, [2, 2], [1, 1], [1, 1], 2, r, "hardswish")
    expected = conv_reference(x, w, None, [2, 2], [1, 1], [1, 1], 2, r.detach(), "hardswish")
    assert out.dtype == torch.promote_types(torch.float32, residual_dtype)
    assert out.requires_grad == requires_grad
    torch.testing.assert_close(out.detach().double(), expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(r.detach(), kept)  # the residual is an input: never written


@pytest.mark.parametrize("activation", ["relu", "hardswish", "sigmoid"])
def test_linear_act_opcheck(activation):
    x = nonzero_randn(3, 5)
    w = torch.randn(4, 5, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    torch.library.opcheck(torch.ops.ifx.linear_act.default, (x, w, b, activation))
    torch.testing.assert_close(torch.ops.ifx.linear_act(x, w, b, activation),
                               ACTIVATIONS[activation](F.linear(x, w, b)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=requires_cuda)])
def test_size_errors_name_the_sizes(device):
    # Formatting numbers in the extension's messages once crashed the process (see
    # ifx_torch/__init__.py): the message must arrive, with its numbers.
    x, w = torch.randn(4, 3, device=device), torch.randn(5, 7, device=device)
    with pytest.raises(RuntimeError, match=r"input features \(3\) do not match the weight \[5, 7\]"):
        torch.ops.ifx.linear_act(x, w, None, "relu")
    with pytest.raises(RuntimeError, match=r"input has 3 channels, but weight \[4, 2, 1, 1\]"):
        torch.ops.ifx.conv2d_act(torch.randn(1, 3, 5, 5, device=device), torch.randn(4, 2, 1, 1, device=device),
                                 None, [1, 1], [0, 0], [1, 1], 1, None, "relu")


def test_conv2d_act_rejects_unknown_activation():
    x, w = torch.randn(1, 2, 4, 4), torch.randn(2, 2, 1, 1)
    with pytest.raises(RuntimeError, match="unknown activation 'gelu'"):
        torch.ops.ifx.conv2d_act(x, w, None, [1, 1], [0, 0], [1, 1], 1, None, "gelu")


# --- op level, CUDA -----------------------------------------------------------------------------

# (in_ch, out_ch, kernel, stride, padding, dilation, groups): depthwise 3/5/7 with strides,
# paddings and dilations, then pointwise, dense 3x3 and grouped convs (cuDNN + epilogue), and
# stems over 3 channels.
CONV_SHAPES = [
    (8, 8, 3, 1, 1, 1, 8), (8, 8, 3, 2, 1, 1, 8), (8, 8, 5, 1, 2, 1, 8), (8, 8, 5, 2, 2, 1, 8),
    (8, 8, 7, 1, 3, 1, 8), (8, 8, 7, 2, 0, 1, 8), (8, 8, 3, 1, 2, 2, 8), (6, 6, (3, 5), 1, (1, 2), 1, 6),
    (12, 12, 3, 1, 1, 1, 12),  # three 4-channel vectors of the 16-bit channels_last kernel
    (8, 16, 1, 1, 0, 1, 1), (8, 16, 3, 2, 1, 1, 1), (8, 12, 3, 1, 1, 1, 4),
    (3, 16, 3, 2, 1, 1, 1), (3, 8, 7, 2, 3, 1, 1),  # stems over an image's 3 channels (channel_padded)
    (4, 8, 7, 2, 3, 1, 1),  # a padded fp32 stem: every path channel_padded's tuning may take for it
]
CUDA_DTYPES = {torch.float32: 1e-5, torch.float16: 2e-2, torch.bfloat16: 8e-2, torch.float64: 1e-11}


def _tolerance(path, dtype):
    """The "aten" path is torch's own CUDA kernels, whose float64 hardswish and hardsigmoid
    multiply by 1/6 rounded to float (relative error near 3e-8); our kernels are held to 1e-11."""
    return 1e-7 if path == "aten" and dtype == torch.float64 else CUDA_DTYPES[dtype]


def _conv_case_id(shape):
    in_ch, out_ch, k, s, p, d, g = shape
    return f"c{in_ch}-{out_ch}_k{k}_s{s}_p{p}_d{d}_g{g}".replace(" ", "")


@requires_cuda
@pytest.mark.usefixtures("no_tf32")
@pytest.mark.parametrize("shape", CONV_SHAPES, ids=_conv_case_id)
@pytest.mark.parametrize("dtype", list(CUDA_DTYPES), ids=str)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_conv2d_act_cuda_matches_float64(shape, dtype, channels_last):
    in_ch, out_ch, k, s, p, d, g = shape
    k, p = (k, k) if isinstance(k, int) else k, (p, p) if isinstance(p, int) else p
    generator = case_generator(shape, str(dtype), channels_last)
    x = nonzero_randn(2, in_ch, 13, 11, generator=generator)
    w = torch.randn(out_ch, in_ch // g, *k, dtype=torch.float64, generator=generator) / (k[0] * k[1]) ** 0.5
    b = torch.randn(out_ch, dtype=torch.float64, generator=generator)
    out_hw = [(size + 2 * p[i] - d * (k[i] - 1) - 1) // s + 1 for i, size in enumerate((13, 11))]
    r = torch.randn(2, out_ch, *out_hw, dtype=torch.float64, generator=generator)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    on_gpu = lambda t: t.to("cuda", dtype)  # noqa: E731
    xg = on_gpu(x).contiguous(memory_format=memory_format)
    # Compare with the float64 reference of the inputs as rounded to `dtype`.
    x, w, b, r = (t.to(dtype).double() for t in (x, w, b, r))
    paths_run = set()
    for activation, residual in itertools.product(ACTIVATIONS, [False, True]):
        args = (xg, on_gpu(w), on_gpu(b), [s, s], list(p), [d, d], g,
                on_gpu(r).contiguous(memory_format=memory_format) if residual else None, activation)
        expected = conv_reference(x, w, b, [s, s], list(p), [d, d], g, r if residual else None, activation)
        for path, out in conv2d_act_every_path(*args).items():
            paths_run.add(path)
            assert out.dtype == dtype and out.is_contiguous(memory_format=memory_format), path
            torch.testing.assert_close(out.double().cpu(), expected, rtol=_tolerance(path, dtype), atol=_tolerance(path, dtype),
                                       msg=lambda m: f"{path}, {activation}, residual={residual}: {m}")
    # The kernel each shape is listed for ran, whatever the choice rules prefer.
    assert _intended_path(shape) in paths_run
    # Channels padded to a 16-byte vector: dense channels_last convs over fewer channels, not in fp64.
    assert ("channel_padded" in paths_run) == (g == 1 and channels_last and dtype != torch.float64
                                               and in_ch * torch.finfo(dtype).bits // 8 < 16)


@requires_cuda
@pytest.mark.usefixtures("no_tf32")
@pytest.mark.parametrize("shape", [(3, 16, 3, 2, 1, 1, 1), (3, 8, 7, 2, 3, 1, 1)], ids=_conv_case_id)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_channel_padded_stem_reads_an_nchw_image(shape, dtype):
    # An fp32 model users pass as NCHW meets its stem so: channels_last weights (the layout pass)
    # and the NCHW image, which channel_padded's pad kernel reads directly into padded NHWC.
    in_ch, out_ch, k, s, p, d, g = shape
    generator = case_generator(shape, str(dtype))
    x = nonzero_randn(2, in_ch, 17, 15, generator=generator)
    w = torch.randn(out_ch, in_ch, k, k, dtype=torch.float64, generator=generator) / k
    b = torch.randn(out_ch, dtype=torch.float64, generator=generator)
    xg = x.to("cuda", dtype)
    wg = w.to("cuda", dtype).contiguous(memory_format=torch.channels_last)
    x, w, b = (t.to(dtype).double() for t in (x, w, b))
    for activation in ACTIVATIONS:
        args = (xg, wg, b.to("cuda", dtype), [s, s], [p, p], [d, d], g, None, activation)
        expected = conv_reference(x, w, b, [s, s], [p, p], [d, d], g, None, activation)
        outputs = conv2d_act_every_path(*args)
        assert "channel_padded" in outputs
        for path, out in outputs.items():
            assert out.is_contiguous(memory_format=torch.channels_last), path
            torch.testing.assert_close(out.double().cpu(), expected, rtol=_tolerance(path, dtype),
                                       atol=_tolerance(path, dtype), msg=lambda m: f"{path}, {activation}: {m}")
    assert xg.is_contiguous()  # the image is read, not converted in place


def _intended_path(shape):
    in_ch, out_ch, k, s, p, d, g = shape
    if g == in_ch == out_ch:
        return "depthwise"
    return "pointwise" if k == 1 and s == 1 and g == 1 else "cudnn+epilogue"


def _check_conv_cuda(x, w, b, stride, padding, groups, residual, activation, dtype, memory_format):
    """Runs ifx::conv2d_act on the GPU in `dtype` through every path that covers the call and
    compares each with the float64 reference of the inputs as rounded to `dtype`; returns the
    paths that ran."""
    x, w, b, residual = (None if t is None else t.to(dtype).double() for t in (x, w, b, residual))
    on_gpu = lambda t: None if t is None else t.to("cuda", dtype).contiguous(memory_format=memory_format)  # noqa
    args = (on_gpu(x), w.to("cuda", dtype), None if b is None else b.to("cuda", dtype), stride, padding, [1, 1],
            groups, on_gpu(residual), activation)
    expected = conv_reference(x, w, b, stride, padding, [1, 1], groups, residual, activation)
    outputs = conv2d_act_every_path(*args)
    for path, out in outputs.items():
        assert out.dtype == dtype and out.is_contiguous(memory_format=memory_format), path
        torch.testing.assert_close(out.double().cpu(), expected, rtol=_tolerance(path, dtype), atol=_tolerance(path, dtype),
                                   msg=lambda m: f"{path}, {activation}, residual={residual is not None}: {m}")
    return set(outputs)


# The few-rows matmul kernel: a 1x1 conv on a 1x1 map (squeeze-and-excitation) up to 8 images,
# cuDNN past that; 37 input channels take the element-wise loads, 64 the 16-byte ones.
@requires_cuda
@pytest.mark.usefixtures("no_tf32")
@pytest.mark.parametrize("batch", [1, 3, 8, 9])
@pytest.mark.parametrize("in_ch", [37, 64])
@pytest.mark.parametrize("dtype", list(CUDA_DTYPES), ids=str)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_conv2d_act_cuda_pointwise_on_single_pixel(batch, in_ch, dtype, channels_last):
    generator = torch.Generator().manual_seed(batch * 1000 + in_ch)
    x = nonzero_randn(batch, in_ch, 1, 1, generator=generator)
    w = torch.randn(24, in_ch, 1, 1, dtype=torch.float64, generator=generator) / in_ch ** 0.5
    b = torch.randn(24, dtype=torch.float64, generator=generator)
    r = torch.randn(batch, 24, 1, 1, dtype=torch.float64, generator=generator)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for activation, bias, residual in itertools.product(ACTIVATIONS, [b, None], [None, r]):
        paths = _check_conv_cuda(x, w, bias, [1, 1], [0, 0], 1, residual, activation, dtype, memory_format)
        assert ("few_rows_matmul" in paths) == (batch <= 8)


# The pointwise kernel: 1x1 stride-1 convs, chosen on few pixels in all (batch x H x W, at most
# 4096: 64x64), forced here past that too (65x65). Its 16-pixel tiles cut across images on 7x7
# maps and end part-full, 33 output channels leave a part-full channel tile, 5 input channels
# are under one 16-channel step, and 300 take more steps than a block has warps.
@requires_cuda
@pytest.mark.usefixtures("no_tf32")
@pytest.mark.parametrize("batch, size", [(1, 7), (3, 7), (2, 14), (1, 64), (1, 65)],
                         ids=["1x7x7", "3x7x7", "2x14x14", "1x64x64", "1x65x65"])
@pytest.mark.parametrize("in_ch", [5, 40, 300])
@pytest.mark.parametrize("dtype", list(CUDA_DTYPES), ids=str)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_conv2d_act_cuda_pointwise_on_small_maps(batch, size, in_ch, dtype, channels_last):
    generator = torch.Generator().manual_seed(batch * 10000 + size * 100 + in_ch)
    x = nonzero_randn(batch, in_ch, size, size, generator=generator)
    w = torch.randn(33, in_ch, 1, 1, dtype=torch.float64, generator=generator) / in_ch ** 0.5
    b = torch.randn(33, dtype=torch.float64, generator=generator)
    r = torch.randn(batch, 33, size, size, dtype=torch.float64, generator=generator)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for activation, bias, residual in itertools.product(ACTIVATIONS, [b, None], [None, r]):
        assert "pointwise" in _check_conv_cuda(x, w, bias, [1, 1], [0, 0], 1, residual, activation, dtype,
                                               memory_format)


_POINTWISE_SWITCH_SCRIPT = """
import torch, torch.nn.functional as F, ifx_torch
torch.backends.cudnn.allow_tf32 = False
g = torch.Generator().manual_seed(3)
x, w = torch.randn(2, 96, 14, 14, generator=g, dtype=torch.float64), torch.randn(24, 96, 1, 1, generator=g, dtype=torch.float64)
b, r = torch.randn(24, generator=g, dtype=torch.float64), torch.randn(2, 24, 14, 14, generator=g, dtype=torch.float64)
x, w, b, r = (t.float().double() for t in (x, w, b, r))
out = torch.ops.ifx.conv2d_act(*(t.cuda().float() for t in (x, w, b)), [1, 1], [0, 0], [1, 1], 1, r.cuda().float(), "hardswish")
torch.testing.assert_close(out.double().cpu(), F.hardswish(F.conv2d(x, w, b) + r), rtol=1e-5, atol=1e-5)
print("path:", ifx_torch._C.last_kernel_path("conv2d_act"))
"""


def _run_script(script, **variables):
    """`script` in a fresh Python that imports this ifx_torch, with the environment `variables` set
    (one whose value is None removed): the op library reads its environment once per process."""
    python_dir = os.path.dirname(os.path.dirname(os.path.abspath(ifx_torch.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([python_dir, os.environ.get("PYTHONPATH", "")])}
    for name, value in variables.items():
        env.pop(name, None)
        if value is not None:
            env[name] = value
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)


# IFX_POINTWISE_KERNEL=always / never and IFX_CONV_PATH force a path of a 1x1 conv (this one,
# 392 pixels and 96 -> 24 channels, takes the pointwise kernel by default); each gives F's
# result through the path asked for, and an unknown value is refused by name.
@requires_cuda
def test_pointwise_kernel_switch():
    for variable, value, path in [("IFX_POINTWISE_KERNEL", "always", "pointwise"),
                                  ("IFX_POINTWISE_KERNEL", "never", "cudnn+epilogue"),
                                  ("IFX_POINTWISE_KERNEL", "auto", "pointwise"),
                                  ("IFX_CONV_PATH", "aten", "aten"),
                                  ("IFX_CONV_PATH", "depthwise", "pointwise")]:  # covers no 1x1 conv
        done = _run_script(_POINTWISE_SWITCH_SCRIPT, **{variable: value})
        assert done.returncode == 0, f"{variable}={value}: {done.stderr[-2000:]}"
        assert f"path: {path}" in done.stdout, (variable, value, done.stdout)
    done = _run_script(_POINTWISE_SWITCH_SCRIPT, IFX_POINTWISE_KERNEL="sometimes")
    assert done.returncode != 0
    assert "IFX_POINTWISE_KERNEL must be auto, always or never, not 'sometimes'" in done.stderr
    done = _run_script(_POINTWISE_SWITCH_SCRIPT, IFX_CONV_PATH="fastest")
    assert done.returncode != 0 and "IFX_CONV_PATH must be auto or one of aten, depthwise" in done.stderr


_LINEAR_PATH_SCRIPT = """
import torch, ifx_torch
x, w, b = torch.randn(64, 960), torch.randn(1280, 960), torch.randn(1280)
print("fp32:", ifx_torch._C.linear_paths(x, w, b, "hardswish")[0])
print("fp16:", ifx_torch._C.linear_paths(x.half(), w.half(), b.half(), "hardswish")[0])
"""


# IFX_LINEAR_PATH forces linear_act's path where it covers the call (the rules as the op asks them;
# no kernel runs, so this runs on the CPU too): split-K covers fp32 only, auto is the rules', and an
# unknown name is refused with the names it takes.
def test_linear_path_environment_variable():
    for value, fp32_path in [("implicit_gemm_split_k", "implicit_gemm_split_k"), ("auto", "cublas+activation"),
                             ("", "cublas+activation")]:
        done = _run_script(_LINEAR_PATH_SCRIPT, IFX_LINEAR_PATH=value)
        assert done.returncode == 0, f"IFX_LINEAR_PATH={value}: {done.stderr[-2000:]}"
        assert f"fp32: {fp32_path}\nfp16: cublas+activation" in done.stdout, (value, done.stdout)
    done = _run_script(_LINEAR_PATH_SCRIPT, IFX_LINEAR_PATH="fastest")
    assert done.returncode != 0
    assert ("IFX_LINEAR_PATH must be auto or one of aten, few_rows_matmul, cublas, cublas+activation, "
            "implicit_gemm_split_k, not 'fastest'") in done.stderr


# Big 16-bit channels_last depthwise calls go to cuDNN + the epilogue kernel; an output with
# an odd element count and a residual view off the 16-byte grid take the element-wise epilogue.
@requires_cuda
@pytest.mark.usefixtures("no_tf32")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_conv2d_act_cuda_large_depthwise_and_unaligned_epilogue(dtype):
    generator = torch.Generator().manual_seed(7)
    x = nonzero_randn(8, 64, 56, 56, generator=generator)
    w = torch.randn(64, 1, 3, 3, dtype=torch.float64, generator=generator) / 3
    b = torch.randn(64, dtype=torch.float64, generator=generator)
    r = torch.randn(8, 64, 56, 56, dtype=torch.float64, generator=generator)
    for activation in ["hardswish", "relu"]:
        assert {"depthwise", "cudnn+epilogue"} <= _check_conv_cuda(x, w, b, [1, 1], [1, 1], 64, r, activation, dtype,
                                                                    torch.channels_last)
    x = nonzero_randn(1, 3, 9, 7, generator=generator)
    w = torch.randn(5, 3, 3, 3, dtype=torch.float64, generator=generator) / 3
    b = torch.randn(5, dtype=torch.float64, generator=generator)
    storage = torch.randn(1 + 5 * 9 * 7, dtype=torch.float64, generator=generator)
    r = storage[1:].view(1, 5, 9, 7)
    for activation in ["hardswish", "none", "relu"]:
        assert "cudnn+epilogue" in _check_conv_cuda(x, w, b, [1, 1], [1, 1], 1, r, activation, dtype,
                                                    torch.contiguous_format)
        xg, wg, bg = (t.to("cuda", dtype) for t in (x, w, b))
        rg = storage.to("cuda", dtype)[1:].view(1, 5, 9, 7)
        assert rg.data_ptr() % 16 != 0
        expected = conv_reference(xg, wg, bg, [1, 1], [1, 1], [1, 1], 1, rg, activation)
        outputs = conv2d_act_every_path(xg, wg, bg, [1, 1], [1, 1], [1, 1], 1, rg, activation)
        assert "cudnn+epilogue" in outputs and "cudnn_fused_relu" not in outputs  # fused engines want aligned operands
        for path, out in outputs.items():
            torch.testing.assert_close(out.double().cpu(), expected, rtol=_tolerance(path, dtype), atol=_tolerance(path, dtype),
                                       msg=lambda m: f"{path}: {m}")


# The channels_last depthwise kernel stages each block's filters in shared memory, 16 bytes at a
# time where the weight sits on the 16-byte grid and element by element where it does not; the
# shapes take one to many staging rounds per block (960 channels of 5x5 at batch 1: 13 rounds).
@requires_cuda
@pytest.mark.usefixtures("no_tf32")
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("weight_offset", [0, 1], ids=["aligned_weight", "unaligned_weight"])
@pytest.mark.parametrize("channels, size, kernel, stride", [(960, 7, 5, 1), (72, 56, 5, 2), (200, 14, 3, 1)], ids=str)
def test_conv2d_act_cuda_depthwise_filter_staging(dtype, weight_offset, channels, size, kernel, stride):
    generator = torch.Generator().manual_seed(channels + kernel)
    x = nonzero_randn(1, channels, size, size, generator=generator).to(dtype).double()
    storage = (torch.randn(weight_offset + channels * kernel * kernel, dtype=torch.float64, generator=generator)
               / kernel).to(dtype)
    b = torch.randn(channels, dtype=torch.float64, generator=generator).to(dtype).double()
    w = storage[weight_offset:].double().view(channels, 1, kernel, kernel)
    args = ([stride, stride], [kernel // 2, kernel // 2], [1, 1], channels, None, "hardswish")
    expected = conv_reference(x, w, b, *args)
    wg = storage.cuda()[weight_offset:].view(channels, 1, kernel, kernel)
    assert (wg.data_ptr() % 16 == 0) == (weight_offset == 0)
    outputs = conv2d_act_every_path(x.to("cuda", dtype).contiguous(memory_format=torch.channels_last), wg,
                                    b.to("cuda", dtype), *args)
    assert "depthwise" in outputs
    # The NHWC 3x3 kernel's second form: fp32 only, and (as every kernel path's coverage) aligned operands.
    assert ("depthwise_two_rows" in outputs) == (kernel == 3 and dtype == torch.float32 and weight_offset == 0)
    # The NHWC kernel with the input tile in shared memory: fp32 and 16-bit types, aligned operands.
    assert ("depthwise_shared_tile" in outputs) == (weight_offset == 0)
    for path, out in outputs.items():
        torch.testing.assert_close(out.double().cpu(), expected, rtol=CUDA_DTYPES[dtype], atol=CUDA_DTYPES[dtype],
                                   msg=lambda m: f"{path}: {m}")


# The CUTLASS implicit-GEMM kernels on shapes that span several tiles in every GEMM dimension
# (N*P*Q output pixels, K output channels, C*R*S reduction), with and without TF32 for fp32:
# each path's error against float64 stays within what cuDNN's own conv shows for the same
# rounded inputs under the same flags (twice it, plus the rounding of the output, in 16 bits).
# in_ch None: one 16-byte vector of channels of the dtype (4 fp32, 8 of a 16-bit type), a stem as
# channel_padded pads it.
IMPLICIT_GEMM_SHAPES = [  # (batch, in_ch, out_ch, size, kernel, stride, padding)
    (2, 64, 128, 28, 3, 1, 1), (3, 96, 64, 15, 1, 2, 0), (1, 32, 48, 17, 5, 2, 2), (4, 256, 24, 7, 1, 1, 0),
    (3, None, 64, 37, 7, 2, 3), (2, None, 32, 23, 3, 2, 1),
]


def _conv_operands(shape, dtype, seed, groups=1):
    """Input, weight, bias and residual of a conv (batch, in_ch, out_ch, size, kernel, stride,
    padding) of `groups` groups in float64, each rounded to `dtype` first, from a generator seeded
    by `seed`."""
    n, c, k, size, kernel, stride, padding = shape
    generator = case_generator(seed)
    x = nonzero_randn(n, c, size, size, generator=generator).to(dtype).double()
    fan_in = c // groups * kernel**2
    w = torch.randn(k, c // groups, kernel, kernel, dtype=torch.float64, generator=generator) / fan_in ** 0.5
    w = w.to(dtype).double()
    b = torch.randn(k, dtype=torch.float64, generator=generator).to(dtype).double()
    out_size = (size + 2 * padding - kernel) // stride + 1
    r = torch.randn(n, k, out_size, out_size, dtype=torch.float64, generator=generator).to(dtype).double()
    return x, w, b, r


@requires_cuda
@pytest.mark.parametrize("shape", IMPLICIT_GEMM_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize("tf32", [True, False], ids=["tf32", "exact"])
def test_conv2d_act_cuda_implicit_gemm_within_cudnn_error(shape, dtype, tf32):
    if dtype != torch.float32 and not tf32:
        pytest.skip("TF32 is a float32 setting")
    n, c, k, size, kernel, stride, padding = shape
    if c is None:
        c = 16 // torch.empty((), dtype=dtype).element_size()
    x, w, b, r = _conv_operands((n, c, k, size, kernel, stride, padding), dtype, (shape, str(dtype), tf32))
    on_gpu = lambda t: t.to("cuda", dtype).contiguous(memory_format=torch.channels_last)  # noqa: E731
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        cudnn = F.conv2d(on_gpu(x), w.to("cuda", dtype), b.to("cuda", dtype), stride, padding).double().cpu() + r
        truth = conv_reference(x, w, b, [stride] * 2, [padding] * 2, [1, 1], 1, r, "none")
        cudnn_error = (cudnn - truth).abs().max().item()
        if dtype == torch.float32 and tf32:
            # cuDNN may pick an exact-fp32 kernel for a small conv even with TF32 allowed (it did
            # for the 4-channel 3x3 one on an H100); the bound is then TF32's own, as in the Hopper GEMM test.
            magnitude = F.conv2d(x.abs(), w.abs(), None, stride, padding).max().item()
            cudnn_error = max(cudnn_error, magnitude * 2.0 ** -10)
        for activation, residual in [("none", False), ("hardswish", True), ("relu6", True), ("silu", False)]:
            args = (on_gpu(x), on_gpu(w), b.to("cuda", dtype), [stride] * 2, [padding] * 2, [1, 1], 1,
                    on_gpu(r) if residual else None, activation)  # weights KRSC, as optimize leaves them
            expected = conv_reference(x, w, b, [stride] * 2, [padding] * 2, [1, 1], 1, r if residual else None,
                                      activation)
            output_rounding = expected.abs().max().item() * torch.finfo(dtype).eps
            outputs = conv2d_act_every_path(*args)
            assert "implicit_gemm" in outputs or "implicit_gemm_small" in outputs, sorted(outputs)
            for path, out in outputs.items():
                assert out.is_contiguous(memory_format=torch.channels_last), path
                error = (out.double().cpu() - expected).abs().max().item()
                assert error <= 2 * cudnn_error + output_rounding, (path, activation, error, cudnn_error)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# The Hopper GEMM kernels (a 1x1 stride-1 conv over NHWC activations as one product, the
# epilogue inside) on products that span several tiles of each size in both output dimensions
# and end part-way through them, for every activation, with and without bias and residual. fp32
# runs under TF32 (the kernels have no exact-fp32 product). On an H100 / H200 the build must hold
# the kernels: every tile is among the paths that ran; elsewhere none is.
HOPPER_GEMM_SHAPES = [  # (batch, in_ch, out_ch, size)
    (2, 64, 128, 28), (3, 16, 96, 15), (1, 256, 24, 7), (4, 40, 264, 9), (1, 8, 8, 2),
]
HOPPER_GEMM_PATHS = {"hopper_gemm_64x64", "hopper_gemm_64x128", "hopper_gemm_128x256"}


@requires_cuda
@pytest.mark.parametrize("shape", HOPPER_GEMM_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_conv2d_act_cuda_hopper_gemm_within_cudnn_error(shape, dtype):
    n, c, k, size = shape
    generator = case_generator(shape, str(dtype))
    x = nonzero_randn(n, c, size, size, generator=generator).to(dtype).double()
    w = (torch.randn(k, c, 1, 1, dtype=torch.float64, generator=generator) / c ** 0.5).to(dtype).double()
    b = torch.randn(k, dtype=torch.float64, generator=generator).to(dtype).double()
    r = torch.randn(n, k, size, size, dtype=torch.float64, generator=generator).to(dtype).double()
    on_gpu = lambda t: t.to("cuda", dtype).contiguous(memory_format=torch.channels_last)  # noqa: E731
    hopper = torch.cuda.get_device_capability() == (9, 0)
    assert ifx_torch._C.hopper_gemm_available() == hopper
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        cudnn = F.conv2d(on_gpu(x), w.to("cuda", dtype), b.to("cuda", dtype)).double().cpu() + r
        truth = conv_reference(x, w, b, [1, 1], [0, 0], [1, 1], 1, r, "none")
        cudnn_error = (cudnn - truth).abs().max().item()
        if dtype == torch.float32:
            # cuDNN may pick an exact-fp32 kernel for a small conv even with TF32 allowed; the
            # bound is then TF32's own: each operand keeps 10 of its 23 mantissa bits.
            magnitude = F.conv2d(x.abs(), w.abs()).max().item()
            cudnn_error = max(cudnn_error, magnitude * 2.0 ** -10)
        for (activation, residual), bias in zip(itertools.product(ACTIVATIONS, [False, True]),
                                                itertools.cycle([True, True, False])):
            args = (on_gpu(x), on_gpu(w), b.to("cuda", dtype) if bias else None, [1, 1], [0, 0], [1, 1], 1,
                    on_gpu(r) if residual else None, activation)
            expected = conv_reference(x, w, b if bias else None, [1, 1], [0, 0], [1, 1], 1, r if residual else None,
                                      activation)
            output_rounding = expected.abs().max().item() * torch.finfo(dtype).eps
            outputs = conv2d_act_every_path(*args)
            assert HOPPER_GEMM_PATHS & set(outputs) == (HOPPER_GEMM_PATHS if hopper else set()), sorted(outputs)
            for path, out in outputs.items():
                assert out.is_contiguous(memory_format=torch.channels_last), path
                error = (out.double().cpu() - expected).abs().max().item()
                assert error <= 2 * cudnn_error + output_rounding, (path, activation, residual, bias, error,
                                                                    cudnn_error)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# cuDNN's graph path (the conv with bias, residual and activation as pointwise nodes of one graph):
# a 1x1 expansion, a strided 3x3, a small 1x1 map and two depthwise convs, each for every activation
# with and without bias and residual, within twice cuDNN's own error. In every type cuDNN must build
# a dense conv's plan for every activation but mish (which the path leaves to others); every plan
# that builds replays under a captured CUDA graph with the same output. In fp32 the path takes exact
# engines only, TF32 allowed or not, so it is held to cuDNN's exact-fp32 error.
CUDNN_GRAPH_SHAPES = [  # (batch, in_ch, out_ch, size, kernel, stride, padding, groups)
    (2, 24, 144, 28, 1, 1, 0, 1), (2, 64, 64, 15, 3, 2, 1, 1), (1, 40, 240, 7, 1, 1, 0, 1),
    (8, 144, 144, 28, 3, 1, 1, 144), (4, 240, 240, 14, 5, 2, 2, 240),
]
CUDNN_GRAPH_MATH = [(torch.float16, True), (torch.bfloat16, True), (torch.float32, True), (torch.float32, False)]


@requires_cuda
@pytest.mark.parametrize("shape", CUDNN_GRAPH_SHAPES, ids=str)
@pytest.mark.parametrize("dtype,tf32", CUDNN_GRAPH_MATH, ids=lambda v: str(v))
def test_conv2d_act_cuda_cudnn_graph_within_cudnn_error(shape, dtype, tf32):
    *dims, groups = shape
    n, c, k, size, kernel, stride, padding = dims
    x, w, b, r = _conv_operands(tuple(dims), dtype, (shape, str(dtype), "cudnn_graph"), groups)
    on_gpu = lambda t: t.to("cuda", dtype).contiguous(memory_format=torch.channels_last)  # noqa: E731
    conv_args = ([stride] * 2, [padding] * 2, [1, 1], groups)
    truth = conv_reference(x, w, b, *conv_args, r, "none")

    def cudnn_error():
        cudnn = F.conv2d(on_gpu(x), on_gpu(w), b.to("cuda", dtype), stride, padding, 1, groups).double().cpu() + r
        return (cudnn - truth).abs().max().item()

    built = []
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        graph_error = cudnn_error()  # the bound of the graph's exact-fp32 engines; cuDNN's own in 16 bits
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
        path_error = cudnn_error()
        if dtype == torch.float32 and tf32:
            # cuDNN may take an exact-fp32 kernel even with TF32 allowed: the bound of the other
            # paths is then TF32's own (each operand keeps 10 of its 23 mantissa bits).
            magnitude = F.conv2d(x.abs(), w.abs(), None, stride, padding, 1, groups).max().item()
            path_error = max(path_error, magnitude * 2.0 ** -10)
        for (activation, residual), bias in zip(itertools.product(ACTIVATIONS, [False, True]),
                                                itertools.cycle([True, True, False])):
            args = (on_gpu(x), on_gpu(w), b.to("cuda", dtype) if bias else None, *conv_args,
                    on_gpu(r) if residual else None, activation)
            expected = conv_reference(x, w, b if bias else None, *conv_args, r if residual else None, activation)
            output_rounding = expected.abs().max().item() * torch.finfo(dtype).eps
            outputs = conv2d_act_every_path(*args)
            for path, out in outputs.items():
                assert out.is_contiguous(memory_format=torch.channels_last), path
                error = (out.double().cpu() - expected).abs().max().item()
                bound = graph_error if path == "cudnn_graph" else path_error
                assert error <= 2 * bound + output_rounding, (path, activation, residual, bias, error, bound)
            if "cudnn_graph" not in outputs:
                assert activation == "mish" or groups > 1, (activation, residual, bias)
                continue
            built.append(activation)
            with forced_paths(conv_path="cudnn_graph"):
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    captured = torch.ops.ifx.conv2d_act(*args)
                graph.replay()
                torch.cuda.synchronize()
            assert torch.equal(captured, outputs["cudnn_graph"]), activation
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    print(f"cudnn_graph built for {shape} {dtype} tf32={tf32}: {sorted(set(built))}")
    assert built or groups > 1, "cuDNN built no graph for any activation"


@requires_cuda
def test_conv2d_act_cuda_broadcast_residual_and_fake_tensor_agree():
    x = torch.randn(1, 8, 6, 6, device="cuda")
    w = torch.randn(8, 1, 3, 3, device="cuda")
    per_channel = torch.randn(8, 1, 1, device="cuda")
    out = torch.ops.ifx.conv2d_act(x, w, None, [1, 1], [1, 1], [1, 1], 8, per_channel, "relu")
    torch.testing.assert_close(out, F.relu(F.conv2d(x, w, None, 1, 1, 1, 8) + per_channel))
    torch.library.opcheck(torch.ops.ifx.conv2d_act.default,
                          (x, w, None, [1, 1], [1, 1], [1, 1], 8, None, "hardswish"))


# Up to 8 rows take the few-rows matmul kernel (37 and 999 features: element-wise loads, 64
# and 1000: 16-byte loads; 999 and 1000 fill several loads in flight per lane and end part-way
# through them), more take cuBLAS + the activation kernel. The split-K implicit GEMM covers fp32
# with at least 128 features (two parts of 64).
@requires_cuda
@pytest.mark.usefixtures("no_tf32")
@pytest.mark.parametrize("dtype", list(CUDA_DTYPES), ids=str)
@pytest.mark.parametrize("leading", [(1,), (4,), (8,), (2, 3), (9,), (40,)], ids=str)
@pytest.mark.parametrize("features", [37, 64, 999, 1000])
def test_linear_act_cuda_matches_float64(dtype, leading, features):
    generator = torch.Generator().manual_seed(features * 100 + sum(leading))
    x = nonzero_randn(*leading, features, generator=generator)
    w = torch.randn(16, features, dtype=torch.float64, generator=generator) / features ** 0.5
    b = torch.randn(16, dtype=torch.float64, generator=generator)
    x, w, b = (t.to(dtype).double() for t in (x, w, b))
    rows = x.numel() // features
    for activation, bias in itertools.product(ACTIVATIONS, [b, None]):
        args = [t.to("cuda", dtype) for t in (x, w)] + [None if bias is None else bias.to("cuda", dtype)]
        outputs = linear_act_every_path(*args, activation)
        assert ("few_rows_matmul" in outputs) == (rows <= 8)
        assert ("cublas+activation" if activation != "none" else "cublas") in outputs
        assert ("implicit_gemm_split_k" in outputs) == (dtype == torch.float32 and features >= 128)
        for path, out in outputs.items():
            assert out.shape == (*leading, 16) and out.dtype == dtype
            torch.testing.assert_close(out.double().cpu(), ACTIVATIONS[activation](F.linear(x, w, bias)),
                                       rtol=_tolerance(path, dtype), atol=_tolerance(path, dtype),
                                       msg=lambda m: f"{path}, {activation}, bias={bias is not None}: {m}")


# (rows, in_features, out_features): the classifiers at batch 64 (mobilenet_v3_large's hidden
# layer: 13 slices; resnet50's: 16), many rows and partial tiles at the most slices (32), and a
# reduction cut into parts of unequal length.
SPLIT_K_SHAPES = [(64, 960, 1280), (64, 2048, 1000), (130, 8192, 70), (9, 200, 33)]


@requires_cuda
@pytest.mark.usefixtures("no_tf32")
@pytest.mark.parametrize("shape", SPLIT_K_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_linear_split_k_cuda_matches_float64_and_replays(shape):
    rows, features, out_features = shape
    generator = torch.Generator().manual_seed(rows * 7 + features)
    x = nonzero_randn(rows, features, generator=generator)
    w = torch.randn(out_features, features, dtype=torch.float64, generator=generator) / features ** 0.5
    b = torch.randn(out_features, dtype=torch.float64, generator=generator)
    args = [t.to("cuda", torch.float32) for t in (x, w, b)]
    x, w, b = (t.double().cpu() for t in args)
    for activation in ACTIVATIONS:
        with forced_paths(linear_path="implicit_gemm_split_k"):
            out = torch.ops.ifx.linear_act(*args, activation)
            assert ifx_torch._C.last_kernel_path("linear_act") == "implicit_gemm_split_k"
        torch.testing.assert_close(out.double().cpu(), ACTIVATIONS[activation](F.linear(x, w, b)),
                                   rtol=CUDA_DTYPES[torch.float32], atol=CUDA_DTYPES[torch.float32],
                                   msg=lambda m: f"{activation}: {m}")
    # Covered, exact fp32 under either matmul flag, but no rule takes it until it is timed on a GPU.
    saved = torch.backends.cuda.matmul.allow_tf32
    try:
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            chosen, covering = ifx_torch._C.linear_paths(*args, "relu")
            assert chosen == "cublas+activation" and "implicit_gemm_split_k" in covering
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved

    # Captured: the partial sums come from the graph's pool, and a replay on new input gives what
    # a plain call gives, bit for bit (the parts are added in a fixed order).
    with forced_paths(linear_path="implicit_gemm_split_k"):
        static_x = args[0].clone()
        torch.ops.ifx.linear_act(static_x, *args[1:], "hardswish")
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = torch.ops.ifx.linear_act(static_x, *args[1:], "hardswish")
        static_x.copy_(torch.randn_like(static_x))
        graph.replay()
        expected = torch.ops.ifx.linear_act(static_x, *args[1:], "hardswish")
    torch.cuda.synchronize()
    assert torch.equal(static_out, expected)


_LINEAR_TUNING_SCRIPT = """
import torch, torch.nn.functional as F, ifx_torch
torch.backends.cuda.matmul.allow_tf32 = False  # cuBLAS exact, whatever the environment says
torch.manual_seed(0)
x, w, b = torch.randn(64, 960, dtype=torch.float64), torch.randn(1280, 960, dtype=torch.float64) / 31, torch.randn(1280, dtype=torch.float64)
args = [t.cuda().float() for t in (x, w, b)]
expected = F.hardswish(F.linear(*(t.double().cpu() for t in args)))
with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
    out = torch.ops.ifx.linear_act(*args, "hardswish")
    torch.cuda.synchronize()
kernels = {e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA}
print("timed split-k:", any("split_k_sum" in k for k in kernels))
print("timed others:", any("epilogue_pack_kernel" in k or "epilogue_kernel" in k for k in kernels))  # cublas+activation's
tuned = ifx_torch._C.last_kernel_path("linear_act")
covering = ifx_torch._C.linear_paths(*args, "hardswish")[1]
print("tuned:", tuned, "covering:", " ".join(covering))
print("error:", ((out.double().cpu() - expected).abs().max() / expected.abs().max()).item())
static_x = args[0].clone()
graph = torch.cuda.CUDAGraph()
with torch.cuda.graph(graph):
    static_out = torch.ops.ifx.linear_act(static_x, *args[1:], "hardswish")
print("captured:", ifx_torch._C.last_kernel_path("linear_act"))
static_x.copy_(torch.randn_like(static_x))
graph.replay()
plain = torch.ops.ifx.linear_act(static_x, *args[1:], "hardswish")
print("again:", ifx_torch._C.last_kernel_path("linear_act"))
torch.cuda.synchronize()
print("replay equal:", torch.equal(static_out, plain))
"""


# IFX_LINEAR_TUNING=1: the first call of a shape times the covering paths (split-K and cuBLAS, both
# seen in its profile) and keeps the fastest, which must be right against float64; later calls, a
# capture and its replay take that same path.
@requires_cuda
def test_linear_tuning_cuda_keeps_one_path_and_matches_float64():
    done = _run_script(_LINEAR_TUNING_SCRIPT, IFX_LINEAR_TUNING="1", IFX_LINEAR_PATH=None)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    tuned, covering = lines["tuned"].split(" covering: ")
    assert tuned in covering.split() and tuned != "aten", done.stdout
    assert float(lines["error"]) < CUDA_DTYPES[torch.float32], done.stdout
    assert lines["captured"] == tuned and lines["again"] == tuned, done.stdout
    assert lines["replay equal"] == "True", done.stdout
    # The first call timed both sides: split-K's sum kernel and the activation kernel that follows
    # cuBLAS ran, whichever was kept.
    assert lines["timed split-k"] == "True" and lines["timed others"] == "True", done.stdout
    done = _run_script(_LINEAR_TUNING_SCRIPT, IFX_LINEAR_TUNING="yes", IFX_LINEAR_PATH=None)
    assert done.returncode != 0 and "IFX_LINEAR_TUNING must be 1 or 0, not 'yes'" in done.stderr


# --- whole models -------------------------------------------------------------------------------

def _randomize_batchnorm(model):
    torch.manual_seed(0)
    return randomize_batchnorm(model)


def _fused_count(report, prefix):
    return sum(count for pattern, count in report.fused.items() if pattern.startswith(prefix))


MODELS = {
    "mobilenet_v3_small": lambda: models.mobilenet_v3_small(num_classes=10, width_mult=0.5),
    "mobilenet_v3_small_hand_written": lambda: models.mobilenet_v3_small(hand_written=True, num_classes=10,
                                                                          width_mult=0.5),
    "resnet18": lambda: models.resnet18(num_classes=10, width=16),
    "resnet50": lambda: models.resnet50(num_classes=10, width=8),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_convs_fuse_and_match_eager_in_float64(name):
    torch.manual_seed(0)
    model = _randomize_batchnorm(MODELS[name]()).double()
    optimized = ifx_torch.optimize(model)
    report = ifx_torch.report(optimized)
    graph = optimized.graph
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    fused_convs = _fused_count(report, "conv2d")
    left_convs = len(graph.findAllNodes("aten::conv2d"))
    # A squeeze-and-excitation block holds two of the fused convs.
    assert (len(graph.findAllNodes("ifx::conv2d_act")) + 2 * len(graph.findAllNodes("ifx::squeeze_excite")) +
            3 * len(graph.findAllNodes("ifx::conv2d_act_squeeze_excite"))) == fused_convs
    assert fused_convs + left_convs == convs
    assert not graph.findAllNodes("aten::batch_norm")
    # Every conv is fused: with its activation or residual add, or (MobileNet's projections without
    # a residual, ResNet's downsamples) alone with its folded bias.
    assert left_convs == 0
    assert not graph.findAllNodes("aten::relu") and not graph.findAllNodes("aten::relu_")
    assert not graph.findAllNodes("aten::add") and not graph.findAllNodes("aten::add_")
    x = nonzero_randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(optimized(x), model(x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "resnet18"])
def test_model_matches_eager_in_float32(name):
    torch.manual_seed(0)
    model = _randomize_batchnorm(MODELS[name]())
    optimized = ifx_torch.optimize(model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(optimized(x), model(x), rtol=1e-4, atol=1e-4)
        cl = x.contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(optimized(cl), model(cl), rtol=1e-4, atol=1e-4)


def test_resnet_patterns_are_counted():
    model = _randomize_batchnorm(models.resnet18(num_classes=10, width=8))
    report = ifx_torch.report(ifx_torch.optimize(model))
    # 8 basic blocks: conv1 + relu and conv2 + residual + relu each; plus the stem's conv + relu.
    assert report.fused["conv2d+relu"] == 9
    assert report.fused["conv2d+add+relu"] == 8
    assert "conv2d+add+relu" in str(report)


@pytest.mark.parametrize("input_format", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
def test_channels_last_convs_keep_outputs_and_their_layout(input_format):
    # What conv_layout="auto" does on CUDA under TF32, forced here on the CPU: the weights are
    # stored channels_last, the outputs keep eager's values and memory format.
    class FeatureMap(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = models.resnet18(num_classes=10, width=8)

        def forward(self, x):
            return self.body.stages(self.body.stem(x)), self.body(x)

    model = _randomize_batchnorm(FeatureMap()).double()
    optimized = ifx_torch.optimize(model, conv_layout="channels_last")
    weights = [node.inputsAt(1).toIValue() for node in optimized.graph.findAllNodes("ifx::conv2d_act")]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    assert optimized.graph.findAllNodes("ifx::like_layout")
    x = nonzero_randn(2, 3, 32, 32).contiguous(memory_format=input_format)
    with torch.no_grad():
        for got, want in zip(optimized(x), model(x)):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
            assert got.is_contiguous(memory_format=input_format) == want.is_contiguous(memory_format=input_format)
    with pytest.raises(ValueError, match="conv_layout must be one of auto, channels_last, keep"):
        ifx_torch.optimize(model, conv_layout="nhwc")


# conv_layout "auto" on the CPU: (model dtype, oneDNN enabled, weights channels_last?, tolerance against float64)
CPU_LAYOUT_CASES = {
    "float32": (torch.float32, True, torch.backends.mkldnn.is_available(), 1e-4),
    "float32-onednn-off": (torch.float32, False, False, 1e-4),
    "float64": (torch.float64, True, False, 1e-10),
}


@pytest.mark.parametrize("case", CPU_LAYOUT_CASES)
def test_conv_layout_auto_on_the_cpu_runs_fp32_convs_channels_last(case):
    # oneDNN's fp32 convs run NHWC without reorders; other dtypes, and torch with oneDNN off, keep
    # the weights as they are. Either way the outputs keep eager's values and memory format.
    dtype, onednn, converted, tolerance = CPU_LAYOUT_CASES[case]
    model = _randomize_batchnorm(models.resnet18(num_classes=10, width=8)).to(dtype)
    with torch.backends.mkldnn.flags(enabled=onednn):
        optimized = ifx_torch.optimize(model)
    weights = [node.inputsAt(1).toIValue() for node in optimized.graph.findAllNodes("ifx::conv2d_act")]
    assert len(weights) == 20  # 17 convs with their epilogue, and the 3 downsample convs with their bias
    # A 1x1 weight's memory is the same in both formats: only the 3x3 ones say which was chosen.
    assert all(w.is_contiguous(memory_format=torch.channels_last) == converted for w in weights if w.shape[-1] > 1)
    assert bool(optimized.graph.findAllNodes("ifx::like_layout")) == converted
    x = nonzero_randn(2, 3, 32, 32).to(dtype)
    with torch.no_grad():
        got, want = optimized(x), model.double()(x.double())
    assert got.dtype == dtype and got.is_contiguous()
    torch.testing.assert_close(got.double(), want, rtol=tolerance, atol=tolerance)


class ViewAfterConv(nn.Module):
    """Views that merge a conv output's channels with its pixels, which an NHWC output cannot
    serve as a view: VGG's flatten after a pooled map (torch.export spells it aten.view), a
    hand-written .view, and one of a residual sum; or (written=True) a view the model then adds
    into in place, which shares its memory with the conv's output."""

    def __init__(self, spelling):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 2 * 2, 5)
        self.spelling = spelling

    def forward(self, x):
        y = F.relu(self.conv(x))
        if self.spelling == "residual":
            return (self.conv(x) * 2 + x.repeat(1, 2, 1, 1)).view(x.shape[0], -1)
        if self.spelling == "written":
            flat = y.view(x.shape[0], -1)
            flat.add_(1.0)
            return y
        y = F.adaptive_avg_pool2d(y, 2)
        y = torch.flatten(y, 1) if self.spelling == "flatten" else y.view(y.shape[0], -1)
        return self.fc(y)


def _conv_weights(optimized):
    if isinstance(optimized, torch.jit.ScriptModule):
        return [node.inputsAt(1).toIValue() for node in optimized.graph.findAllNodes("ifx::conv2d_act")]
    return [operator.attrgetter(node.args[1].target)(optimized.graph_module) for node in optimized.graph.nodes
            if node.target is torch.ops.ifx.conv2d_act.default]


@pytest.mark.parametrize("frontend", ["torchscript", "export"])
@pytest.mark.parametrize("spelling", ["flatten", "view", "residual", "written"])
@pytest.mark.parametrize("layout", ["channels_last", "auto"])
def test_views_of_channels_last_conv_outputs_keep_eager_values(frontend, spelling, layout):
    # The layout pass makes conv outputs NHWC; a view of C, H and W together then needs a copy,
    # which the pass spells as reshape (a view where the strides allow). "auto" on the CPU
    # converts fp32 weights where oneDNN is on (float32 here); "channels_last" any (float64).
    dtype = torch.float64 if layout == "channels_last" else torch.float32
    model = ViewAfterConv(spelling).to(dtype).eval()
    x = nonzero_randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(11)).to(dtype)
    options = {"conv_layout": layout}
    if frontend == "export":
        options.update(frontend="export", example_inputs=(x,), dynamic_batch=False)
    optimized = ifx_torch.optimize(model, **options)
    converted = any(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                    for w in _conv_weights(optimized))
    expect_converted = layout == "channels_last" or torch.backends.mkldnn.is_available()
    if spelling == "written" and frontend == "torchscript":
        expect_converted = False  # the view shares memory the model writes: the pass leaves the graph
    assert converted == expect_converted
    with torch.no_grad():
        got = optimized(x.clone())
        want = model.double()(x.double().clone())
    tolerance = 1e-10 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(got.double(), want, rtol=tolerance, atol=tolerance)


class CheckedBottleneck(nn.Module):
    """densenet's dense layer in small: the 1x1 conv's output comes out of a branch (a training-only
    path that raises), so TorchScript's freezing keeps BatchNorm2d's `input.dim() != 4` check on it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(8, 16, 1, bias=False)
        self.norm = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 4, 3, padding=1, bias=False)
        self.checkpointed = False

    def bottleneck(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        return self.conv1(torch.cat(inputs, 1))

    def forward(self, x):
        inputs = [x, x]
        if self.checkpointed and x.requires_grad:
            raise RuntimeError("checkpointing is for training")
        else:
            y = self.bottleneck(inputs)
        return self.conv2(F.relu(self.norm(y)))


@pytest.mark.parametrize("frontend", ["torchscript", "export"])
def test_batch_norm_after_a_conv_folds_despite_its_input_check(frontend):
    model = _randomize_batchnorm(CheckedBottleneck()).double().eval()
    frozen = torch.jit.freeze(torch.jit.script(model))
    assert frozen.graph.findAllNodes("aten::dim")  # the check the fold has to see past
    x = nonzero_randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(12))
    options = {"frontend": "export", "example_inputs": (x,)} if frontend == "export" else {}
    optimized = ifx_torch.optimize(model, **options)
    fused = ifx_torch.report(optimized).fused
    assert fused.get("conv+batch_norm") == 1 and fused.get("conv2d+relu") == 1, fused
    with torch.no_grad():
        torch.testing.assert_close(optimized(x.clone()), model(x.clone()), rtol=1e-10, atol=1e-10)


def test_fuse_layers_false_keeps_aten_convs():
    model = _randomize_batchnorm(models.resnet18(num_classes=10, width=8))
    optimized = ifx_torch.optimize(model, fuse_layers=False)
    assert not optimized.graph.findAllNodes("ifx::conv2d_act")
    assert optimized.graph.findAllNodes("aten::conv2d")


def test_traced_model_folds_batchnorm_and_fuses():
    model = _randomize_batchnorm(models.resnet18(num_classes=10, width=8))
    x = torch.randn(1, 3, 64, 64)
    traced = torch.jit.trace(model, x)
    optimized = ifx_torch.optimize(traced)
    report = ifx_torch.report(optimized)
    assert not optimized.graph.findAllNodes("aten::batch_norm")
    assert _fused_count(report, "conv2d") == 20
    assert report.fused.get("conv2d+bias") == 3  # the downsample convs, whose adds other convs take
    assert not optimized.graph.findAllNodes("aten::conv2d")
    with torch.no_grad():
        torch.testing.assert_close(optimized(x), model(x), rtol=1e-4, atol=1e-4)


class ConvNearMisses(nn.Module):
    """Conv outputs used twice, shared weights, BN without affine and odd eps, dilation and groups."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Conv2d(8, 8, 3, padding=1)
        self.dilated = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2)
        self.bn = nn.BatchNorm2d(8, affine=False, eps=1e-3)
        self.plain = nn.Conv2d(8, 8, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(8, eps=0.1)

    def forward(self, x):
        a = self.shared(x)
        used_twice = F.relu(a) + a            # conv output with two users: not fused
        b = F.relu(self.shared(used_twice))   # same weights again: fused
        c = F.relu6(self.bn(self.dilated(b)))
        d = self.bn2(self.plain(c))
        return torch.sigmoid(d + x), d        # d also returned: add/sigmoid must stay outside


def test_near_misses_stay_correct():
    model = _randomize_batchnorm(ConvNearMisses()).double()
    optimized = ifx_torch.optimize(model)
    report = ifx_torch.report(optimized)
    assert report.fused.get("conv2d+relu") == 1
    assert report.fused.get("conv2d+relu6") == 1
    assert "conv2d+add+sigmoid" not in report.fused
    # The conv used twice keeps only its bias in the fused op, the relu and add stay outside; the
    # last conv (BN folded into a bias) likewise.
    assert report.fused.get("conv2d+bias") == 2
    assert not optimized.graph.findAllNodes("aten::conv2d")
    assert len(optimized.graph.findAllNodes("aten::relu")) == 1
    x = nonzero_randn(2, 8, 10, 10)
    with torch.no_grad():
        for got, want in zip(optimized(x), model(x)):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_optimized_model_gradients_flow_through_fused_ops():
    model = _randomize_batchnorm(models.resnet18(num_classes=10, width=8)).double()
    optimized = ifx_torch.optimize(model)
    x = nonzero_randn(1, 3, 32, 32).requires_grad_()
    grad, = torch.autograd.grad(optimized(x).sum(), x)
    x_ref = x.detach().clone().requires_grad_()
    grad_ref, = torch.autograd.grad(model(x_ref).sum(), x_ref)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-10)
