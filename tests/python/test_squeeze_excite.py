"""Squeeze-and-excitation: torch.ops.ifx.squeeze_excite (opcheck and values against float64 on
the CPU, its two CUDA kernels on a GPU) and the pass that forms it (every form real models use,
each near-miss left alone with its reason), numerics in float64.

    PYTHONPATH=python python3 -m pytest tests/python/test_squeeze_excite.py -q    # from the repository root
"""
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
from kernel_paths import forced_paths
from model_helpers import activation_references

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
ACTIVATIONS = activation_references()


def se_reference(x, w1, b1, act1, w2, b2, gate):
    """The block in float64 on the CPU, as eager spells it with 1x1 convs."""
    x, w1, w2 = x.double().cpu(), w1.double().cpu(), w2.double().cpu()
    b1 = None if b1 is None else b1.double().cpu()
    b2 = None if b2 is None else b2.double().cpu()
    s = F.adaptive_avg_pool2d(x, 1)
    s = ACTIVATIONS[act1](F.conv2d(s, w1[:, :, None, None], b1))
    s = ACTIVATIONS[gate](F.conv2d(s, w2[:, :, None, None], b2))
    return x * s


def se_inputs(batch, channels, hidden, size, dtype=torch.float64, generator=None):
    x = torch.randn(batch, channels, size, size, dtype=torch.float64, generator=generator) * 2
    w1 = torch.randn(hidden, channels, dtype=torch.float64, generator=generator) / channels ** 0.5
    b1 = torch.randn(hidden, dtype=torch.float64, generator=generator)
    w2 = torch.randn(channels, hidden, dtype=torch.float64, generator=generator) / hidden ** 0.5
    b2 = torch.randn(channels, dtype=torch.float64, generator=generator)
    return [t.to(dtype) for t in (x, w1, b1, w2, b2)]


# --- the op, CPU ------------------------------------------------------------------------------------

@pytest.mark.parametrize("act1, gate", [("relu", "hardsigmoid"), ("silu", "sigmoid")])
def test_op_matches_float64_and_passes_opcheck(act1, gate):
    x, w1, b1, w2, b2 = se_inputs(2, 12, 3, 5, generator=torch.Generator().manual_seed(1))
    args = (x, w1, b1, act1, w2, b2, gate)
    torch.library.opcheck(torch.ops.ifx.squeeze_excite.default, args)
    torch.testing.assert_close(torch.ops.ifx.squeeze_excite(*args), se_reference(*args), rtol=1e-12, atol=1e-12)
    out = torch.ops.ifx.squeeze_excite(x.contiguous(memory_format=torch.channels_last), w1, None, act1, w2, None, gate)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, se_reference(x, w1, None, act1, w2, None, gate), rtol=1e-12, atol=1e-12)


def test_op_refuses_mismatched_weights():
    x, w1, b1, w2, b2 = se_inputs(1, 8, 2, 3)
    with pytest.raises(RuntimeError, match=r"expected w2 \[8, 2\]"):
        torch.ops.ifx.squeeze_excite(x, w1, b1, "relu", w2.t(), b2, "sigmoid")
    with pytest.raises(RuntimeError, match="unknown activation 'gelu'"):
        torch.ops.ifx.squeeze_excite(x, w1, b1, "gelu", w2, b2, "sigmoid")


def test_op_gradients_equal_eager():
    x, w1, b1, w2, b2 = se_inputs(2, 8, 2, 3)
    x.requires_grad_()
    grad, = torch.autograd.grad(torch.ops.ifx.squeeze_excite(x, w1, b1, "relu", w2, b2, "hardsigmoid").sum(), x)
    x_ref = x.detach().clone().requires_grad_()
    grad_ref, = torch.autograd.grad(se_reference(x_ref, w1, b1, "relu", w2, b2, "hardsigmoid").sum(), x_ref)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-12, atol=1e-12)


def test_gate_kernel_override_refuses_other_values():
    with pytest.raises(RuntimeError, match="se_gate_kernel must be auto, always or never, not 'yes'"):
        ifx_torch._C.set_kernel_override(se_gate_kernel="yes")
    ifx_torch._C.reset_kernel_override()


# --- the op, CUDA -----------------------------------------------------------------------------------

CUDA_TOLERANCE = {torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 5e-2, torch.float64: 1e-11}


# Batch 1 to 64, channels from under one 8-wide vector to many chunks, hidden units from a few
# to hundreds, maps from 1x1 to 56x56 (pixel chunks split over blocks), odd sizes for the tails.
@requires_cuda
@pytest.mark.parametrize("batch, channels, hidden, size", [
    (1, 16, 8, 56), (1, 72, 24, 28), (1, 960, 240, 7), (3, 13, 5, 9), (2, 40, 10, 1), (64, 120, 32, 14),
    (17, 672, 28, 7), (8, 32, 8, 112)])
@pytest.mark.parametrize("dtype", list(CUDA_TOLERANCE), ids=str)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("gate_kernel, path", [("never", "two_kernels"), ("always", "three_kernels")])
def test_cuda_kernels_match_float64(batch, channels, hidden, size, dtype, channels_last, gate_kernel, path):
    generator = torch.Generator().manual_seed(batch * 1000 + channels + size)
    x, w1, b1, w2, b2 = se_inputs(batch, channels, hidden, size, dtype, generator)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    tolerance = CUDA_TOLERANCE[dtype]
    for (act1, gate), biases in itertools.product([("relu", "hardsigmoid"), ("silu", "sigmoid")], [True, False]):
        args = [x.cuda().contiguous(memory_format=memory_format), w1.cuda(), b1.cuda() if biases else None, act1,
                w2.cuda(), b2.cuda() if biases else None, gate]
        with forced_paths(se_gate_kernel=gate_kernel):
            out = torch.ops.ifx.squeeze_excite(*args)
        assert ifx_torch._C.last_kernel_path("squeeze_excite") == path
        assert out.dtype == dtype and out.is_contiguous(memory_format=memory_format)
        expected = se_reference(x, w1, b1 if biases else None, act1, w2, b2 if biases else None, gate)
        torch.testing.assert_close(out.double().cpu(), expected, rtol=tolerance, atol=tolerance,
                                   msg=lambda m: f"{act1}/{gate}, biases={biases}: {m}")


@requires_cuda
def test_cuda_empty_batch_takes_the_composition():
    x, w1, b1, w2, b2 = (t.cuda() for t in se_inputs(1, 8, 2, 3, torch.float32))
    out = torch.ops.ifx.squeeze_excite(x[:0], w1, b1, "relu", w2, b2, "sigmoid")
    assert ifx_torch._C.last_kernel_path("squeeze_excite") == "aten" and out.shape == (0, 8, 3, 3)


# --- the pass ----------------------------------------------------------------------------------------

class ConvSE(nn.Module):
    """torchvision's SqueezeExcitation: adaptive_avg_pool2d -> 1x1 conv -> act -> 1x1 conv -> gate -> scale."""

    def __init__(self, channels=16, hidden=4, activation=nn.ReLU, gate=nn.Hardsigmoid):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.activation = activation()
        self.gate = gate()

    def forward(self, x):
        scale = self.gate(self.fc2(self.activation(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return scale * x


class MeanSE(nn.Module):
    """timm's: x.mean((2, 3), keepdim=True), a gate written out (hard sigmoid as relu6(x + 3) / 6)."""

    def __init__(self, channels=16, hidden=4, hand_written_gate=True):
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, hidden, 1)
        self.conv_expand = nn.Conv2d(hidden, channels, 1)
        self.hand_written_gate = hand_written_gate

    def forward(self, x):
        s = self.conv_expand(F.silu(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        gate = F.relu6(s + 3.0) / 6.0 if self.hand_written_gate else torch.sigmoid(s)
        return x * gate


class LinearSE(nn.Module):
    """Hand-written: pool -> view -> linear -> relu -> linear -> hardsigmoid -> view -> mul."""

    def __init__(self, channels=16, hidden=4, flatten=False):
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.flatten = flatten

    def forward(self, x):
        b, c, _, _ = x.size()
        y = F.adaptive_avg_pool2d(x, 1)
        y = torch.flatten(y, 1) if self.flatten else y.view(b, c)
        y = F.hardsigmoid(self.fc2(F.relu(self.fc1(y))))
        return x * y.view(b, c, 1, 1)


class InBlock(nn.Module):
    """An SE between convs, as MobileNetV3 and EfficientNet have it."""

    def __init__(self, se):
        super().__init__()
        self.expand = nn.Conv2d(8, 16, 1)
        self.se = se
        self.project = nn.Conv2d(16, 8, 1)

    def forward(self, x):
        return self.project(self.se(F.hardswish(self.expand(x)))) + x


def fused_and_reasons(model, **options):
    optimized = ifx_torch.optimize(model.eval().double(), **options)
    return optimized, ifx_torch.report(optimized)


@pytest.mark.parametrize("se", [ConvSE(), ConvSE(activation=nn.SiLU, gate=nn.Sigmoid), MeanSE(),
                                MeanSE(hand_written_gate=False), LinearSE(), LinearSE(flatten=True)],
                         ids=["torchvision", "torchvision-silu-sigmoid", "timm-hard-sigmoid", "timm-sigmoid",
                              "linear-view", "linear-flatten"])
def test_every_form_fuses_and_matches_eager_in_float64(se):
    model = InBlock(se)
    optimized, report = fused_and_reasons(model)
    assert report.fused.get("squeeze_excite") == 1
    assert len(optimized.graph.findAllNodes("ifx::squeeze_excite")) == 1
    assert not optimized.graph.findAllNodes("aten::mul")
    for x in (torch.randn(2, 8, 7, 5, dtype=torch.float64), torch.randn(1, 8, 1, 1, dtype=torch.float64)):
        with torch.no_grad():
            torch.testing.assert_close(optimized(x), model(x), rtol=1e-10, atol=1e-10)


class MaxPoolSE(ConvSE):
    def forward(self, x):
        return x * self.gate(self.fc2(self.activation(self.fc1(F.adaptive_max_pool2d(x, 1)))))


class ReluGateSE(ConvSE):
    def forward(self, x):
        return x * F.relu(self.fc2(self.activation(self.fc1(F.adaptive_avg_pool2d(x, 1)))))


class PooledTwiceSE(ConvSE):
    def forward(self, x):
        pooled = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(self.activation(self.fc1(pooled)))), pooled


class BigPoolSE(ConvSE):
    def forward(self, x):
        return x * self.gate(self.fc2(self.activation(self.fc1(F.adaptive_avg_pool2d(x, 2)))))


class WrittenSE(ConvSE):
    def forward(self, x):
        scale = self.gate(self.fc2(self.activation(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        x.add_(1.0)
        return x * scale


@pytest.mark.parametrize("se, reason", [
    (MaxPoolSE(), "max pooling: a squeeze-and-excitation block averages"),
    (ReluGateSE(), "the gate applies relu, not sigmoid or hardsigmoid"),
    (PooledTwiceSE(), "the pooled tensor has other users"),
    (BigPoolSE(), "the pool keeps a map larger than 1x1"),
    (WrittenSE(), "x is written in place between the pool and the scale"),
], ids=["max-pool", "relu-gate", "pool-used-twice", "2x2-pool", "x-written"])
def test_near_misses_stay_with_their_reason(se, reason):
    optimized, report = fused_and_reasons(se)
    assert "squeeze_excite" not in report.fused
    assert not optimized.graph.findAllNodes("ifx::squeeze_excite")
    assert any(why == reason for _, why in report.unfused), report.unfused
    x = torch.randn(2, 16, 2, 2, dtype=torch.float64)  # 2x2: the 2x2 pool's scale still broadcasts
    with torch.no_grad():
        for got, want in zip(torch.utils._pytree.tree_leaves(optimized(x.clone())),
                             torch.utils._pytree.tree_leaves(se.double()(x.clone()))):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_switched_off_on_request():
    optimized, report = fused_and_reasons(InBlock(ConvSE()), fuse_squeeze_excitation=False)
    assert "squeeze_excite" not in report.fused and report.fused.get("conv2d+hardsigmoid") == 1


def test_explain_counts_the_blocks():
    explanation = ifx_torch.explain(nn.Sequential(InBlock(ConvSE()), InBlock(ReluGateSE())).eval())
    assert explanation.fused["squeeze_excite"] == 1
    assert ("aten::adaptive_avg_pool2d", "the gate applies relu, not sigmoid or hardsigmoid") in explanation.unfused
    assert "squeeze_excite" in str(explanation)
