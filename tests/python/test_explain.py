"""ifx_torch.explain: histogram, fused patterns, and the reason for each operator left alone."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
from ifx_torch import models


class NearMisses(nn.Module):
    def __init__(self):
        super().__init__()
        # No biases: a conv with a bias fuses alone ("conv2d+bias"), and these are to stay aten's.
        self.first = nn.Conv2d(3, 8, 3, bias=False)
        self.second = nn.Conv2d(8, 8, 1, bias=False)

    def forward(self, x):
        z = F.hardtanh(self.first(x) + 3.0, 0.0, 5.0) / 6.0  # clamps to 5, not 6
        w = self.second(z)
        return F.relu6(w + 2.0), w                            # x + 2, and w used twice


def test_explains_each_near_miss():
    explanation = ifx_torch.explain(NearMisses().eval())
    text = str(explanation)
    assert "bounds (0.0, 5.0) are not (0, 6)" in text
    assert "clamps x + 2.0: hardswish/hardsigmoid need x + 3" in text
    assert "output has 2 users" in text
    assert not any(explanation.fused.values())
    assert explanation.ops_before == explanation.ops_after


def test_explains_resnet_fusions_and_leftovers():
    explanation = ifx_torch.explain(models.resnet18(num_classes=10, width=8).eval())
    assert explanation.fused["conv2d+add+relu"] == 8
    # The 3 downsample convs (BN folded into a bias) feed residual adds that other convs take: each
    # fuses alone with its bias.
    assert explanation.fused["conv2d+bias"] == 3
    assert explanation.ops_after["ifx::conv2d_act"] == 20
    assert not [why for kind, why in explanation.unfused if kind == "aten::conv2d"]
    assert "operator histogram (before -> after)" in str(explanation)
    assert "conv2d+add+relu" in str(explanation)


def test_explain_does_not_touch_the_model():
    model = models.mobilenet_v3_small(num_classes=10, width_mult=0.5).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        ifx_torch.explain(model)
        torch.testing.assert_close(model(x), before, rtol=0, atol=0)


# --- every reason a pass can give, each from the smallest model that provokes it -----------------------

class PaddingSame(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding="same")

    def forward(self, x):
        return F.relu(self.conv(x))


class WeightFromInput(nn.Module):
    def forward(self, x, w, v, linear_weight):
        return F.relu(F.conv2d(x, w)), F.relu(F.linear(v, linear_weight))


class ComputedBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_weight, self.conv_bias = nn.Parameter(torch.randn(8, 3, 3, 3)), nn.Parameter(torch.randn(8))
        self.fc_weight, self.fc_bias = nn.Parameter(torch.randn(4, 8)), nn.Parameter(torch.randn(4))

    def forward(self, x, scale: float):
        y = F.relu(F.conv2d(x, self.conv_weight, self.conv_bias * scale))
        return F.relu(F.linear(y.mean((2, 3)), self.fc_weight, self.fc_bias * scale))


class StrideFromInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 3, 3, 3))

    def forward(self, x, stride: int):
        return F.relu(F.conv2d(x, self.weight, None, [stride, stride]))


class ReturnedAndBranched(nn.Module):
    def __init__(self):
        super().__init__()
        self.returned = nn.Conv2d(3, 8, 3, bias=False)  # with a bias it would fuse alone
        self.branched = nn.Conv2d(3, 8, 3, bias=False)
        self.classifier = nn.Linear(8, 4)

    def forward(self, x, flag: bool):
        y = self.branched(x)
        z = x
        if flag:
            z = F.relu(y)
        return self.returned(x), z, self.classifier(x.mean((2, 3)).repeat(1, 3)[:, :8])


class AddsAndClamps(nn.Module):
    def __init__(self):
        super().__init__()
        # Convs without a bias: with one, each would fuse alone ("conv2d+bias").
        self.doubled = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.scaled_add = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.clamped = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.pair_a = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.pair_b = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.fc_add = nn.Linear(3, 3)
        self.fc_clamp = nn.Linear(3, 3)
        self.fc_twice = nn.Linear(3, 3)
        self.fc_plain = nn.Linear(3, 3)

    def forward(self, x):
        a = self.doubled(x)
        a = a + a                                   # the same tensor twice: two users
        s = torch.add(self.scaled_add(x), x, alpha=2.0)  # alpha 2: no residual
        b = F.hardtanh(self.clamped(x), 0.0, 5.0)   # not relu6
        c = F.relu(self.pair_a(x) + self.pair_b(x))
        v = x.mean((2, 3))
        d = self.fc_add(v) + v                      # linear + add is not fused
        e = torch.clamp(self.fc_clamp(v), 1.0, 6.0)
        f = self.fc_twice(v)
        g = self.fc_plain(v).flatten()
        return a, s, b, c, d, e, f * f, g


class WrittenBetween(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3, 3)

    def forward(self, x, v):
        y = self.conv(x)
        x.mul_(2.0)               # the conv's input changes before the relu would run
        z = self.fc(v)
        v.add_(1.0)
        return F.relu(y), torch.sigmoid(z)


class BatchNorms(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn_after_pool = nn.BatchNorm2d(3)
        self.shared = nn.Conv2d(3, 3, 1)
        self.bn_shared = nn.BatchNorm2d(3)
        self.bn_weight = nn.BatchNorm2d(3)
        self.weight = nn.Parameter(torch.randn(3, 3, 1, 1))
        self.register_buffer("var", torch.ones(3))

    def forward(self, x, w, mean):
        a = self.bn_after_pool(F.max_pool2d(x, 2))
        s = self.shared(x)
        b = self.bn_shared(s) + s
        c = self.bn_weight(F.conv2d(x, w))
        d = F.batch_norm(F.conv2d(x, self.weight), mean, self.var, training=False)
        return a, b, c, d


class BatchNormInABranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x, flag: bool):
        y = self.conv(x)
        z = x
        if flag:
            z = self.bn(y)
        return z


class Chains(nn.Module):
    def forward(self, x, y):
        a = F.relu6(x)                                  # nothing around it
        b = x * F.relu6(x + 3.0)                        # no / 6
        c = F.hardswish(y)
        t = torch.clamp(y + 3.0, 0.0, 6.0)
        d = t / 6.0                                     # t used twice
        return a, b, c, d, t


def _reasons(model, *inputs, **options):
    return ifx_torch.explain(model.eval(), example_inputs=inputs or None, **options).unfused


@pytest.mark.parametrize("model, inputs, op, reason", [
    (PaddingSame(), (), "aten::conv2d", "padding is a string ('same' or 'valid'); only int padding is fused"),
    (WeightFromInput(), (), "aten::conv2d", "weight is not a constant (frozen parameter)"),
    (WeightFromInput(), (), "aten::linear", "weight is not a constant (frozen parameter)"),
    (ComputedBias(), (), "aten::conv2d", "weight or bias is not a constant float tensor of one dtype"),
    (ComputedBias(), (), "aten::linear", "weight or bias is not a constant float tensor of one dtype"),
    (StrideFromInput(), (), "aten::conv2d", "stride, padding, dilation or groups is not a constant"),
    (ReturnedAndBranched(), (), "aten::conv2d", "nothing follows it but the model's output"),
    (ReturnedAndBranched(), (), "aten::conv2d", "its only user is in another block"),
    (ReturnedAndBranched(), (), "aten::linear", "nothing follows it but the model's output"),
    (AddsAndClamps(), (), "aten::conv2d", "output has 2 users; fusing would compute it twice"),
    (AddsAndClamps(), (), "aten::conv2d", "followed by an add that is not a plain residual (alpha != 1, the same tensor "
                                          "twice, or in place)"),
    (AddsAndClamps(), (), "aten::conv2d",
     "followed by aten::hardtanh with constants that are not a supported activation"),
    (AddsAndClamps(), (), "aten::conv2d",
     "no activation or residual add follows the conv: its output is the residual of another fused conv2d"),
    (AddsAndClamps(), (), "aten::linear", "followed by an add: linear + add is not fused, only linear + activation"),
    (AddsAndClamps(), (), "aten::linear", "followed by aten::clamp with constants that are not a supported activation"),
    (AddsAndClamps(), (), "aten::linear", "output has 2 users; fusing would compute it twice"),
    (AddsAndClamps(), (), "aten::linear", "no activation follows the linear: its output goes straight to aten::flatten"),
    (AddsAndClamps(), (), "aten::hardtanh", "bounds (0.0, 5.0) are not (0, 6)"),
    (AddsAndClamps(), (), "aten::clamp", "bounds (1.0, 6.0) are not (0, 6)"),
    (WrittenBetween(), (), "aten::conv2d", "its input or residual is written in place before the fused op would run"),
    (WrittenBetween(), (), "aten::linear", "its input is written in place before the fused op would run"),
    (BatchNorms(), (), "aten::batch_norm", "input comes from aten::max_pool2d, not a conv2d"),
    (BatchNorms(), (), "aten::batch_norm", "the conv's output has other users"),
    (BatchNorms(), (), "aten::batch_norm", "the conv's weight or bias is not a constant"),
    (BatchNorms(), (), "aten::batch_norm", "the statistics are not constants, or it runs in training mode"),
    (BatchNormInABranch(), (), "aten::batch_norm", "the conv2d feeding it is in another block"),
    (Chains(), (), "aten::relu6",
     "not part of a complete hardswish/hardsigmoid chain and not after a conv or linear it could join"),
    (Chains(), (), "aten::div", "computes hardsigmoid, but an intermediate of the chain (aten::clamp) has another user"),
], ids=lambda value: value if isinstance(value, str) and len(value) < 30 else None)
def test_each_refusal_reason(model, inputs, op, reason):
    reasons = _reasons(model, *inputs)
    assert any(kind == op and why.startswith(reason) for kind, why in reasons), reasons


def test_aten_activations_kept_on_request_are_explained():
    assert ("aten::hardswish", "kept as aten's op (fuse_aten_activations=False)") in _reasons(
        Chains(), fuse_aten_activations=False)


def test_written_input_refuses_the_chain():
    class WrittenChain(nn.Module):
        def forward(self, x):
            y = x * torch.clamp(x + 3.0, 0.0, 6.0) / 6.0
            x.add_(1.0)
            return y

    assert ("aten::div", "computes hardswish, but its input is written in place") in _reasons(WrittenChain())


def test_reasons_survive_save_and_load(tmp_path):
    optimized = ifx_torch.optimize(PaddingSame().eval())
    torch.jit.save(optimized, str(tmp_path / "m.pt"))
    loaded = ifx_torch.report(torch.jit.load(str(tmp_path / "m.pt")))
    assert loaded.unfused == ifx_torch.report(optimized).unfused != []


def test_a_fused_candidate_leaves_no_reason():
    # relu6 after the conv is no hardswish chain, but the conv pass absorbs it: nothing to explain.
    class ConvRelu6(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)

        def forward(self, x):
            return F.relu6(self.conv(x))

    explanation = ifx_torch.explain(ConvRelu6().eval())
    assert explanation.fused.get("conv2d+relu6") == 1 and explanation.unfused == []
