"""ifx::conv2d_act_squeeze_excite, a squeeze-and-excitation block together with the depthwise conv
that feeds it: the op against float64 (CPU; on a GPU every depthwise kernel form that leaves the
block's squeeze, each checked to be the path that ran, and the fallbacks), and the pass that forms
it from ifx::conv2d_act + ifx::squeeze_excite with its near-misses.

    PYTHONPATH=python python3 -m pytest tests/python/test_depthwise_squeeze.py -q    # from the repository root
"""
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
from kernel_paths import forced_paths
from model_helpers import activation_references
from test_squeeze_excite import CUDA_TOLERANCE, ConvSE, se_reference

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
ACTIVATIONS = activation_references()


def block_inputs(batch, channels, hidden, size, kernel, generator):
    x = torch.randn(batch, channels, size, size, dtype=torch.float64, generator=generator)
    weight = torch.randn(channels, 1, kernel, kernel, dtype=torch.float64, generator=generator) / kernel
    bias = torch.randn(channels, dtype=torch.float64, generator=generator)
    w1 = torch.randn(hidden, channels, dtype=torch.float64, generator=generator) / channels ** 0.5
    b1 = torch.randn(hidden, dtype=torch.float64, generator=generator)
    w2 = torch.randn(channels, hidden, dtype=torch.float64, generator=generator) / hidden ** 0.5
    b2 = torch.randn(channels, dtype=torch.float64, generator=generator)
    return x, weight, bias, w1, b1, w2, b2


def reference(x, weight, bias, stride, activation, w1, b1, act1, w2, b2, gate, residual=None):
    """The conv (float64, CPU), its epilogue, then the block as eager spells it."""
    y = F.conv2d(x.double().cpu(), weight.double().cpu(), bias.double().cpu(), stride, weight.shape[-1] // 2, 1,
                 weight.shape[0])
    if residual is not None:
        y = y + residual.double().cpu()
    return se_reference(ACTIVATIONS[activation](y), w1, b1, act1, w2, b2, gate)


def op_args(x, weight, bias, stride, activation, w1, b1, act1, w2, b2, gate, residual=None):
    pad = weight.shape[-1] // 2
    return (x, weight, bias, [stride, stride], [pad, pad], [1, 1], weight.shape[0], residual, activation,
            w1, b1, act1, w2, b2, gate)


# --- the op, CPU -------------------------------------------------------------------------------------

def test_op_matches_float64_and_passes_opcheck():
    x, weight, bias, w1, b1, w2, b2 = block_inputs(2, 12, 3, 9, 3, torch.Generator().manual_seed(3))
    residual = torch.randn(2, 12, 5, 5, dtype=torch.float64)
    args = op_args(x, weight, bias, 2, "hardswish", w1, b1, "relu", w2, b2, "hardsigmoid", residual)
    torch.library.opcheck(torch.ops.ifx.conv2d_act_squeeze_excite.default, args)
    torch.testing.assert_close(torch.ops.ifx.conv2d_act_squeeze_excite(*args),
                               reference(x, weight, bias, 2, "hardswish", w1, b1, "relu", w2, b2, "hardsigmoid",
                                         residual), rtol=1e-12, atol=1e-12)


def test_op_refuses_weights_of_another_width():
    x, weight, bias, w1, b1, w2, b2 = block_inputs(1, 8, 2, 5, 3, torch.Generator().manual_seed(4))
    with pytest.raises(RuntimeError, match=r"expected w1 \[hidden, 8\]"):
        torch.ops.ifx.conv2d_act_squeeze_excite(*op_args(x, weight, bias, 1, "relu", w1[:, :4], b1, "relu", w2, b2,
                                                         "sigmoid"))


def test_op_gradients_equal_eager():
    x, weight, bias, w1, b1, w2, b2 = block_inputs(2, 8, 2, 5, 3, torch.Generator().manual_seed(5))
    x.requires_grad_()
    grad, = torch.autograd.grad(torch.ops.ifx.conv2d_act_squeeze_excite(
        *op_args(x, weight, bias, 1, "relu6", w1, b1, "relu", w2, b2, "hardsigmoid")).sum(), x)
    x_ref = x.detach().clone().requires_grad_()
    grad_ref, = torch.autograd.grad(reference(x_ref, weight, bias, 1, "relu6", w1, b1, "relu", w2, b2,
                                              "hardsigmoid").sum(), x_ref)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-12, atol=1e-12)


# --- the op, CUDA ------------------------------------------------------------------------------------

FORMS = {"depthwise": [torch.float32, torch.float16, torch.bfloat16],
         "depthwise_shared_tile": [torch.float32, torch.float16, torch.bfloat16],
         "depthwise_two_rows": [torch.float32]}
# Shapes of mobilenet_v3_large's and efficientnet_b0's SE blocks (channels, hidden, map, filter, stride),
# batch 1 to 64, plus a channel count that leaves a partial channel group and a map of odd size.
SHAPES = [(1, 72, 24, 56, 5, 2), (2, 120, 32, 28, 5, 1), (1, 960, 240, 7, 5, 1), (64, 672, 168, 14, 5, 1),
          (8, 144, 6, 56, 3, 1), (3, 1056, 48, 11, 3, 2), (16, 32, 8, 112, 3, 1)]


@requires_cuda
@pytest.mark.parametrize("batch, channels, hidden, size, kernel, stride", SHAPES)
@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("gate_kernel, path", [("never", "depthwise_squeeze"),
                                               ("always", "depthwise_squeeze_gate_kernel")])
def test_cuda_depthwise_forms_leave_the_squeeze(batch, channels, hidden, size, kernel, stride, form, gate_kernel,
                                                path):
    if form == "depthwise_two_rows" and kernel != 3:
        pytest.skip("the two-rows form takes 3x3 filters")
    generator = torch.Generator().manual_seed(batch * 1000 + channels + size)
    inputs = block_inputs(batch, channels, hidden, size, kernel, generator)
    out_size = (size + 2 * (kernel // 2) - kernel) // stride + 1
    residual = torch.randn(batch, channels, out_size, out_size, dtype=torch.float64, generator=generator)
    for dtype in FORMS[form]:
        tolerance = CUDA_TOLERANCE[dtype] * (4 if dtype != torch.float32 else 10)
        for activation, act1, gate, res in [("hardswish", "relu", "hardsigmoid", None),
                                            ("silu", "silu", "sigmoid", residual)]:
            x, weight, bias, w1, b1, w2, b2 = (t.to(dtype).cuda() for t in inputs)
            r = None if res is None else res.to(dtype).cuda().contiguous(memory_format=torch.channels_last)
            args = op_args(x.contiguous(memory_format=torch.channels_last), weight, bias, stride, activation,
                           w1, b1, act1, w2, b2, gate, r)
            with forced_paths(conv_path=form, se_gate_kernel=gate_kernel):
                out = torch.ops.ifx.conv2d_act_squeeze_excite(*args)
            assert ifx_torch._C.last_kernel_path("squeeze_excite") == path, (form, dtype)
            assert ifx_torch._C.last_kernel_path("conv2d_act") == form
            assert out.dtype == dtype and out.is_contiguous(memory_format=torch.channels_last)
            expected = reference(*(t.to(dtype) for t in inputs[:3]), stride, activation,
                                 *(t.to(dtype) for t in inputs[3:5]), act1, *(t.to(dtype) for t in inputs[5:]), gate,
                                 None if res is None else res.to(dtype))
            torch.testing.assert_close(out.double().cpu(), expected, rtol=tolerance, atol=tolerance,
                                       msg=lambda m: f"{form} {dtype} {activation}/{gate}: {m}")
            # And the same as the two ops one after the other, within the type's rounding.
            with forced_paths(conv_path=form, se_gate_kernel=gate_kernel):
                apart = torch.ops.ifx.squeeze_excite(torch.ops.ifx.conv2d_act(*args[:9]), *args[9:])
            torch.testing.assert_close(out, apart, rtol=tolerance, atol=tolerance)


@requires_cuda
@pytest.mark.parametrize("dtype, channels_last, conv_path", [
    (torch.float32, False, "depthwise"),     # NCHW: the planar kernel has no side output
    (torch.float64, True, "depthwise"),      # fp64 partials would be double
    (torch.float16, True, "cudnn+epilogue"),  # a path that is not our depthwise kernel
], ids=["nchw", "fp64", "cudnn"])
def test_cuda_other_calls_run_the_two_ops(dtype, channels_last, conv_path):
    inputs = block_inputs(2, 64, 16, 14, 3, torch.Generator().manual_seed(7))
    x, weight, bias, w1, b1, w2, b2 = (t.to(dtype).cuda() for t in inputs)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    args = op_args(x.contiguous(memory_format=memory_format), weight, bias, 1, "relu", w1, b1, "relu", w2, b2,
                   "hardsigmoid")
    with forced_paths(conv_path=conv_path, se_gate_kernel="never"):
        out = torch.ops.ifx.conv2d_act_squeeze_excite(*args)
    assert ifx_torch._C.last_kernel_path("squeeze_excite") == "two_kernels"
    assert ifx_torch._C.last_kernel_path("conv2d_act") == conv_path
    tolerance = CUDA_TOLERANCE[dtype] * 4
    torch.testing.assert_close(out.double().cpu(), reference(*(t.to(dtype) for t in inputs[:3]), 1, "relu",
                                                            *(t.to(dtype) for t in inputs[3:5]), "relu",
                                                            *(t.to(dtype) for t in inputs[5:]), "hardsigmoid"),
                               rtol=tolerance, atol=tolerance)


@requires_cuda
@pytest.mark.skipif(os.environ.get("IFX_CONV_TUNING") == "0", reason="IFX_CONV_TUNING=0: no tuning")
def test_cuda_tuned_block_keeps_its_path_and_replays_it():
    """Untouched by an override, the first call of a shape times the conv's paths with the block
    (its own tuning key); later calls, and a CUDA graph captured after them, run the same kernels."""
    inputs = block_inputs(3, 96, 24, 19, 3, torch.Generator().manual_seed(11))  # a shape no other test tunes
    dtype = torch.float16
    x, weight, bias, w1, b1, w2, b2 = (t.to(dtype).cuda() for t in inputs)
    args = op_args(x.contiguous(memory_format=torch.channels_last), weight, bias, 1, "hardswish", w1, b1, "relu",
                   w2, b2, "hardsigmoid")
    first = torch.ops.ifx.conv2d_act_squeeze_excite(*args)
    paths = (ifx_torch._C.last_kernel_path("conv2d_act"), ifx_torch._C.last_kernel_path("squeeze_excite"))
    if paths[0] in FORMS and dtype in FORMS[paths[0]]:
        assert paths[1] == "depthwise_squeeze", paths
    else:
        assert paths[1] == "two_kernels", paths
    tolerance = CUDA_TOLERANCE[dtype] * 4
    expected = reference(*(t.to(dtype) for t in inputs[:3]), 1, "hardswish", *(t.to(dtype) for t in inputs[3:5]),
                         "relu", *(t.to(dtype) for t in inputs[5:]), "hardsigmoid")
    torch.testing.assert_close(first.double().cpu(), expected, rtol=tolerance, atol=tolerance)
    again = torch.ops.ifx.conv2d_act_squeeze_excite(*args)
    assert (ifx_torch._C.last_kernel_path("conv2d_act"), ifx_torch._C.last_kernel_path("squeeze_excite")) == paths
    assert torch.equal(again, first)  # deterministic kernels: no atomics in either path
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=side):
            captured = torch.ops.ifx.conv2d_act_squeeze_excite(*args)
    torch.cuda.current_stream().wait_stream(side)
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(captured, first)


# --- the pass ----------------------------------------------------------------------------------------

class DepthwiseSE(nn.Module):
    """A MobileNetV3 block's middle: depthwise conv + BN + hardswish, then torchvision's SE form."""

    def __init__(self, channels=16, groups=16):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.se = ConvSE(channels=channels, hidden=4)

    def forward(self, x):
        return self.se(F.hardswish(self.bn(self.conv(x))))


class DepthwiseSEReturningConv(DepthwiseSE):
    def forward(self, x):
        y = F.hardswish(self.bn(self.conv(x)))
        return self.se(y), y


def optimized_and_report(model):
    model = model.eval().double()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    optimized = ifx_torch.optimize(model)
    return model, optimized, ifx_torch.report(optimized)


def test_pass_takes_the_depthwise_conv_into_the_block():
    model, optimized, report = optimized_and_report(DepthwiseSE())
    assert report.fused.get("squeeze_in_depthwise_conv") == 1 and report.fused.get("squeeze_excite") == 1
    assert len(optimized.graph.findAllNodes("ifx::conv2d_act_squeeze_excite")) == 1
    assert not optimized.graph.findAllNodes("ifx::squeeze_excite")
    for x in (torch.randn(2, 16, 7, 5, dtype=torch.float64), torch.randn(1, 16, 1, 1, dtype=torch.float64)):
        with torch.no_grad():
            torch.testing.assert_close(optimized(x), model(x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("model", [DepthwiseSEReturningConv(), DepthwiseSE(groups=4)],
                         ids=["conv-output-also-returned", "grouped-not-depthwise"])
def test_pass_leaves_other_convs(model):
    model, optimized, report = optimized_and_report(model)
    assert "squeeze_in_depthwise_conv" not in report.fused and report.fused.get("squeeze_excite") == 1
    assert not optimized.graph.findAllNodes("ifx::conv2d_act_squeeze_excite")
    x = torch.randn(2, 16, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        for got, want in zip(torch.utils._pytree.tree_leaves(optimized(x)), torch.utils._pytree.tree_leaves(model(x))):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
