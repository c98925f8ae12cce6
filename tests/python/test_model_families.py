"""Hand-written look-alikes of the blocks of the model families the GPU sweep covers (CI has no
torchvision or timm): MobileNetV3's inverted residual with SE and hardswish, a ConvNeXt block
(depthwise 7x7, LayerNorm over channels-last, MLP with GELU, layer scale), a ResNeXt bottleneck
(grouped 3x3), an EfficientNet MBConv (SiLU, SE with sigmoid) and a RegNet-style block.
optimize must keep their outputs (float64) and fuse what it supports."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
from model_helpers import randomize_batchnorm


def conv_bn(in_ch, out_ch, kernel=1, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out_ch))


class InvertedResidualSE(nn.Module):
    def __init__(self, ch=16, expanded=48):
        super().__init__()
        self.expand = conv_bn(ch, expanded)
        self.depthwise = conv_bn(expanded, expanded, 5, groups=expanded)
        self.se_reduce = nn.Conv2d(expanded, expanded // 4, 1)
        self.se_expand = nn.Conv2d(expanded // 4, expanded, 1)
        self.project = conv_bn(expanded, ch)

    def forward(self, x):
        y = F.hardswish(self.expand(x))
        y = F.hardswish(self.depthwise(y))
        s = F.adaptive_avg_pool2d(y, 1)
        s = F.hardsigmoid(self.se_expand(F.relu(self.se_reduce(s))))
        return x + self.project(y * s)


class ConvNeXtBlock(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.dwconv = nn.Conv2d(ch, ch, 7, padding=3, groups=ch)
        self.norm = nn.LayerNorm(ch, eps=1e-6)
        self.pwconv1 = nn.Linear(ch, 4 * ch)
        self.pwconv2 = nn.Linear(4 * ch, ch)
        self.gamma = nn.Parameter(torch.full((ch,), 0.5))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class ResNeXtBottleneck(nn.Module):
    def __init__(self, ch=32, width=32, groups=8):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = conv_bn(ch, width), conv_bn(width, width, 3, groups=groups), conv_bn(width, ch)

    def forward(self, x):
        y = F.relu(self.conv1(x), inplace=True)
        y = F.relu(self.conv2(y), inplace=True)
        y = self.conv3(y)
        y += x
        return F.relu(y, inplace=True)


class MBConvSiLU(nn.Module):
    def __init__(self, ch=16, expanded=64):
        super().__init__()
        self.expand, self.depthwise = conv_bn(ch, expanded), conv_bn(expanded, expanded, 3, groups=expanded)
        self.se_reduce, self.se_expand = nn.Conv2d(expanded, 4, 1), nn.Conv2d(4, expanded, 1)
        self.project = conv_bn(expanded, ch)

    def forward(self, x):
        y = F.silu(self.depthwise(F.silu(self.expand(x))))
        s = torch.sigmoid(self.se_expand(F.silu(self.se_reduce(y.mean((2, 3), keepdim=True)))))
        return x + self.project(y * s)


class RegNetBlock(nn.Module):
    def __init__(self, ch=24, groups=3):
        super().__init__()
        self.a, self.b, self.c = conv_bn(ch, ch), conv_bn(ch, ch, 3, stride=2, groups=groups), conv_bn(ch, 2 * ch)
        self.shortcut = conv_bn(ch, 2 * ch, 1, stride=2)

    def forward(self, x):
        y = self.c(F.relu(self.b(F.relu(self.a(x)))))
        return F.relu(y + self.shortcut(x))


# block -> (input channels, the fused patterns it must show)
FAMILIES = {
    InvertedResidualSE: (16, {"conv2d+hardswish": 2, "conv2d+relu": 1, "conv2d+hardsigmoid": 1, "conv2d+add": 1}),
    ConvNeXtBlock: (16, {}),
    ResNeXtBottleneck: (32, {"conv2d+relu": 2, "conv2d+add+relu": 1}),
    MBConvSiLU: (16, {"conv2d+silu": 3, "conv2d+sigmoid": 1, "conv2d+add": 1}),
    RegNetBlock: (24, {"conv2d+relu": 2, "conv2d+add+relu": 1}),
}


def randomized(model):
    torch.manual_seed(0)
    return randomize_batchnorm(model).double()


@pytest.mark.parametrize("block", list(FAMILIES), ids=lambda b: b.__name__)
def test_family_block_keeps_outputs_and_fuses_its_patterns(block):
    channels, patterns = FAMILIES[block]
    torch.manual_seed(0)
    model = randomized(block())
    optimized = ifx_torch.optimize(model)
    fused = ifx_torch.report(optimized).fused
    for pattern, count in patterns.items():
        assert fused.get(pattern) == count, (pattern, fused)
    for memory_format in (torch.contiguous_format, torch.channels_last):
        x = (torch.randn(2, channels, 12, 12, dtype=torch.float64) * 2).contiguous(memory_format=memory_format)
        with torch.no_grad():
            torch.testing.assert_close(optimized(x), model(x), rtol=1e-10, atol=1e-10)
