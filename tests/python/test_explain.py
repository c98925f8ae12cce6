"""ifx_torch.explain: histogram, fused patterns, and the reason for each operator left alone."""
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
from ifx_torch import models


class NearMisses(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(3, 8, 3)
        self.second = nn.Conv2d(8, 8, 1)

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
    assert explanation.ops_after["ifx::conv2d_act"] == 17
    reasons = [why for kind, why in explanation.unfused if kind == "aten::conv2d"]
    assert len(reasons) == 3 and all("no activation or residual add follows" in why for why in reasons)
    assert "operator histogram (before -> after)" in str(explanation)
    assert "conv2d+add+relu" in str(explanation)


def test_explain_does_not_touch_the_model():
    model = models.mobilenet_v3_small(num_classes=10, width_mult=0.5).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        ifx_torch.explain(model)
        torch.testing.assert_close(model(x), before, rtol=0, atol=0)
