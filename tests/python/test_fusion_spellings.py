"""Every hardswish / hardsigmoid spelling of docs/fusion.md is fused by optimize(),
near-misses are left alone, and outputs match eager PyTorch."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch


def fresh_input(dtype=torch.float32):
    # Spread over [-8, 8] so every clamp branch is taken, plus the kinks.
    x = torch.randn(2, 3, 5, 7, dtype=dtype) * 4
    x.view(-1)[:4] = torch.tensor([-3.0, 3.0, -3.0001, 2.9999], dtype=dtype)
    return x


class ReluSixChain(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3.) / 6.


class ReluSixInplaceChain(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3., inplace=True) / 6.


class ClampChain(nn.Module):
    def forward(self, x):
        return x * torch.clamp(x + 3, 0, 6) / 6


class ClampInplaceCommuted(nn.Module):
    def forward(self, x):
        return (x + 3).clamp_(0, 6).mul(x).div(6)


class HardtanhChain(nn.Module):
    def forward(self, x):
        return x * F.hardtanh(x + 3, 0., 6.) / 6


class HardtanhInplaceMulSixth(nn.Module):
    def forward(self, x):
        return x * F.hardtanh(x + 3, 0., 6., inplace=True) * (1. / 6.)


class ClampMinMaxCommutedAdd(nn.Module):
    def forward(self, x):
        return (3 + x).clamp_min(0).clamp_max(6) * x / 6


class ClampMaxThenMin(nn.Module):
    def forward(self, x):
        return x * torch.clamp(torch.clamp(x + 3, max=6), min=0) / 6


class MinMaxTensors(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("zero", torch.tensor(0.))
        self.register_buffer("six", torch.tensor(6.))

    def forward(self, x):
        return x * torch.min(torch.max(x + 3, self.zero), self.six) / 6


class DivideBeforeMul(nn.Module):
    def forward(self, x):
        return x * (F.relu6(x + 3.) / 6.)


class DivideFirstCommuted(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3.) / 6. * x


class DivideInput(nn.Module):
    def forward(self, x):
        return x / 6. * F.relu6(x + 3.)


class MulSixthFloat32Rounded(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3.) * 0.1666666716337204  # float32(1/6)


class TimesHardsigmoid(nn.Module):
    def forward(self, x):
        return x * F.hardsigmoid(x)


class AtenHardswish(nn.Module):
    def forward(self, x):
        return F.hardswish(x)


class AtenHardswishInplace(nn.Module):
    def forward(self, x):
        y = x * 2.
        return F.hardswish(y, inplace=True)


class AllInplace(nn.Module):
    def forward(self, x):
        h = x + 3
        h.clamp_(0, 6)
        h.mul_(x)
        h.div_(6)
        return h


class MethodSpelling(nn.Module):
    def forward(self, x):
        return x.mul(F.relu6(x.add(3)).div_(6))


HARDSWISH_SPELLINGS = [
    ReluSixChain, ReluSixInplaceChain, ClampChain, ClampInplaceCommuted, HardtanhChain,
    HardtanhInplaceMulSixth, ClampMinMaxCommutedAdd, ClampMaxThenMin, MinMaxTensors, DivideBeforeMul,
    DivideFirstCommuted, DivideInput, MulSixthFloat32Rounded, TimesHardsigmoid, AtenHardswish,
    AtenHardswishInplace, AllInplace, MethodSpelling, nn.Hardswish,
]


class SigmoidReluSix(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3.) / 6.


class SigmoidReluSixInplace(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3., inplace=True) / 6.


class SigmoidClampMulSixth(nn.Module):
    def forward(self, x):
        return torch.clamp(3 + x, 0, 6) * 0.16666666666666666


class SigmoidHardtanh(nn.Module):
    def forward(self, x):
        return F.hardtanh(x + 3, 0., 6.) / 6


class SigmoidInplaceSteps(nn.Module):
    def forward(self, x):
        return (x + 3).clamp_min_(0).clamp_max_(6).div_(6)


class SigmoidAten(nn.Module):
    def forward(self, x):
        return F.hardsigmoid(x)


HARDSIGMOID_SPELLINGS = [
    SigmoidReluSix, SigmoidReluSixInplace, SigmoidClampMulSixth, SigmoidHardtanh, SigmoidInplaceSteps,
    SigmoidAten, nn.Hardsigmoid,
]


def assert_matches_eager(model, optimized):
    for dtype in (torch.float64, torch.float32):
        x = fresh_input(dtype)
        with torch.no_grad():
            torch.testing.assert_close(optimized(x.clone()), model(x.clone()))


@pytest.mark.parametrize("module_class", HARDSWISH_SPELLINGS, ids=lambda c: c.__name__)
def test_hardswish_spelling_is_fused(module_class):
    model = module_class().eval()
    optimized = ifx_torch.optimize(model)
    assert ifx_torch.report(optimized).fused == {"hardswish": 1, "hardsigmoid": 0}
    graph = str(optimized.graph)
    assert "ifx::hardswish" in graph
    for leftover in ("aten::relu6", "aten::clamp", "aten::hardtanh", "aten::div", "aten::hardswish"):
        assert leftover not in graph
    assert_matches_eager(model, optimized)


@pytest.mark.parametrize("module_class", HARDSIGMOID_SPELLINGS, ids=lambda c: c.__name__)
def test_hardsigmoid_spelling_is_fused(module_class):
    model = module_class().eval()
    optimized = ifx_torch.optimize(model)
    assert ifx_torch.report(optimized).fused == {"hardswish": 0, "hardsigmoid": 1}
    assert "ifx::hardsigmoid" in str(optimized.graph)
    assert_matches_eager(model, optimized)


class ShiftByTwo(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 2.) / 6.


class ClampToFive(nn.Module):
    def forward(self, x):
        return x * torch.clamp(x + 3, 0, 5) / 6


class DivideByFive(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3.) / 5.


class MulByPointSeventeen(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3.) * 0.17


class MulByDecimalSixth(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3.) * 0.1666667  # 2e-7 off 1/6: fusing would change float64 results


class AddWithAlphaTwo(nn.Module):
    def forward(self, x):
        return x * F.relu6(torch.add(x, 3., alpha=2.)) / 6.


class OtherMultiplicand(nn.Module):
    def forward(self, x):
        y = x * 2.
        return y * F.relu6(x + 3.) / 6.


class IntermediateReturned(nn.Module):
    def forward(self, x):
        clamped = F.relu6(x + 3.)
        return x * clamped / 6., clamped


class InputMutatedAfterChain(nn.Module):
    def forward(self, x):
        y = x * F.relu6(x + 3.) / 6.
        x.add_(1.)
        return y + x


class InputMutatedBeforeChain(nn.Module):
    def forward(self, x):
        x.mul_(2.)
        return x * F.relu6(x + 3.) / 6.


class InplaceHardswishOnInput(nn.Module):
    def forward(self, x):
        return F.hardswish(x, inplace=True)


NEAR_MISSES = [ShiftByTwo, ClampToFive, DivideByFive, MulByPointSeventeen, MulByDecimalSixth, AddWithAlphaTwo, OtherMultiplicand,
               IntermediateReturned, InputMutatedAfterChain, InputMutatedBeforeChain, InplaceHardswishOnInput]


@pytest.mark.parametrize("module_class", NEAR_MISSES, ids=lambda c: c.__name__)
def test_near_miss_is_left_alone(module_class):
    model = module_class().eval()
    optimized = ifx_torch.optimize(model)
    assert ifx_torch.report(optimized).fused == {"hardswish": 0, "hardsigmoid": 0}
    assert "ifx::" not in str(optimized.graph)
    for dtype in (torch.float64, torch.float32):
        x = fresh_input(dtype)
        with torch.no_grad():  # both may mutate their input: give each its own copy
            torch.testing.assert_close(optimized(x.clone()), model(x.clone()))


def test_aten_ops_kept_when_asked():
    optimized = ifx_torch.optimize(AtenHardswish().eval(), fuse_aten_activations=False)
    assert "aten::hardswish" in str(optimized.graph)
    assert ifx_torch.report(optimized).fused["hardswish"] == 0


def test_chain_inside_control_flow_is_fused():
    class Branchy(nn.Module):
        def forward(self, x, flag: bool):
            if flag:
                return x * F.relu6(x + 3.) / 6.
            return F.relu6(x + 3.) / 6.

    model = Branchy().eval()
    optimized = ifx_torch.optimize(model)
    assert ifx_torch.report(optimized).fused == {"hardswish": 1, "hardsigmoid": 1}
    x = fresh_input()
    for flag in (True, False):
        torch.testing.assert_close(optimized(x, flag), model(x, flag))


# Tracing spells the scalars as 0-dim tensor constants (aten::add.Tensor(x, tensor(3)), ...).
TRACED = [(ReluSixChain, "hardswish"), (HardtanhInplaceMulSixth, "hardswish"), (ClampMinMaxCommutedAdd, "hardswish"),
          (DivideInput, "hardswish"), (SigmoidReluSix, "hardsigmoid"), (SigmoidClampMulSixth, "hardsigmoid")]


@pytest.mark.parametrize("module_class,pattern", TRACED, ids=lambda c: getattr(c, "__name__", c))
def test_traced_spelling_is_fused(module_class, pattern):
    model = module_class().eval()
    traced = torch.jit.trace(model, (fresh_input(),))
    optimized = ifx_torch.optimize(traced)
    assert ifx_torch.report(optimized).fused[pattern] == 1
    assert_matches_eager(model, optimized)
