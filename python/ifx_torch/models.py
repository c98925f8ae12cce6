"""Built-in model definitions, available without torchvision.

MobileNetV3 large and small (the layer tables of Howard et al., 2019), either with
nn.Hardswish / nn.Hardsigmoid modules or with the hand-written activations of the
seed article, ``x * F.relu6(x + 3., inplace=True) / 6.``; ResNet-18 and ResNet-50
(He et al., 2016), written the way torchvision writes them (in-place ReLU, ``out += identity``).
"""
from typing import List, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class HandWrittenHardswish(nn.Module):
    """hswish as the seed article writes it: four eager kernels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.relu6(x + 3., inplace=True) / 6.


class HandWrittenHardsigmoid(nn.Module):
    """hsigmoid as the seed article writes it: three eager kernels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3., inplace=True) / 6.


def _make_divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class BlockSpec(NamedTuple):
    kernel: int
    expanded: int
    out: int
    squeeze_excite: bool
    hardswish: bool  # else relu
    stride: int


# kernel, expanded channels, output channels, SE, hardswish, stride
LARGE = [
    BlockSpec(3, 16, 16, False, False, 1), BlockSpec(3, 64, 24, False, False, 2),
    BlockSpec(3, 72, 24, False, False, 1), BlockSpec(5, 72, 40, True, False, 2),
    BlockSpec(5, 120, 40, True, False, 1), BlockSpec(5, 120, 40, True, False, 1),
    BlockSpec(3, 240, 80, False, True, 2), BlockSpec(3, 200, 80, False, True, 1),
    BlockSpec(3, 184, 80, False, True, 1), BlockSpec(3, 184, 80, False, True, 1),
    BlockSpec(3, 480, 112, True, True, 1), BlockSpec(3, 672, 112, True, True, 1),
    BlockSpec(5, 672, 160, True, True, 2), BlockSpec(5, 960, 160, True, True, 1),
    BlockSpec(5, 960, 160, True, True, 1),
]
SMALL = [
    BlockSpec(3, 16, 16, True, False, 2), BlockSpec(3, 72, 24, False, False, 2),
    BlockSpec(3, 88, 24, False, False, 1), BlockSpec(5, 96, 40, True, True, 2),
    BlockSpec(5, 240, 40, True, True, 1), BlockSpec(5, 240, 40, True, True, 1),
    BlockSpec(5, 120, 48, True, True, 1), BlockSpec(5, 144, 48, True, True, 1),
    BlockSpec(5, 288, 96, True, True, 2), BlockSpec(5, 576, 96, True, True, 1),
    BlockSpec(5, 576, 96, True, True, 1),
]


class Activations:
    """Makes the activation modules, one fresh instance per use."""

    def __init__(self, hand_written: bool):
        self.hand_written = hand_written

    def hardswish(self) -> nn.Module:
        return HandWrittenHardswish() if self.hand_written else nn.Hardswish()

    def hardsigmoid(self) -> nn.Module:
        return HandWrittenHardsigmoid() if self.hand_written else nn.Hardsigmoid()


def _conv_bn_act(in_ch: int, out_ch: int, kernel: int, stride: int, groups: int,
                 activation: nn.Module) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch), activation)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, activations: Activations):
        super().__init__()
        squeezed = _make_divisible(channels / 4)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.relu = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = activations.hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = self.gate(self.expand(self.relu(self.reduce(scale))))
        return x * scale


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, spec: BlockSpec, activations: Activations):
        super().__init__()
        def activation() -> nn.Module:
            return activations.hardswish() if spec.hardswish else nn.ReLU(inplace=True)
        layers: List[nn.Module] = []
        if spec.expanded != in_ch:
            layers.append(_conv_bn_act(in_ch, spec.expanded, 1, 1, 1, activation()))
        layers.append(_conv_bn_act(spec.expanded, spec.expanded, spec.kernel, spec.stride, spec.expanded,
                                   activation()))
        if spec.squeeze_excite:
            layers.append(SqueezeExcite(spec.expanded, activations))
        layers.append(_conv_bn_act(spec.expanded, spec.out, 1, 1, 1, nn.Identity()))
        self.body = nn.Sequential(*layers)
        self.use_residual = spec.stride == 1 and in_ch == spec.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.use_residual else out


class MobileNetV3(nn.Module):
    def __init__(self, blocks: List[BlockSpec], last_channels: int, head_channels: int,
                 num_classes: int = 1000, hand_written: bool = False, width_mult: float = 1.0):
        super().__init__()
        activations = Activations(hand_written)
        channels = _make_divisible(16 * width_mult)
        layers: List[nn.Module] = [_conv_bn_act(3, channels, 3, 2, 1, activations.hardswish())]
        for spec in blocks:
            spec = spec._replace(expanded=_make_divisible(spec.expanded * width_mult),
                                 out=_make_divisible(spec.out * width_mult))
            layers.append(InvertedResidual(channels, spec, activations))
            channels = spec.out
        last = 6 * channels
        layers.append(_conv_bn_act(channels, last, 1, 1, 1, activations.hardswish()))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(last, head_channels), activations.hardswish(), nn.Dropout(0.2),
            nn.Linear(head_channels, num_classes))
        assert last == last_channels or width_mult != 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(x)


def mobilenet_v3_large(hand_written: bool = False, **kwargs) -> MobileNetV3:
    return MobileNetV3(LARGE, 960, 1280, hand_written=hand_written, **kwargs)


def mobilenet_v3_small(hand_written: bool = False, **kwargs) -> MobileNetV3:
    return MobileNetV3(SMALL, 576, 1024, hand_written=hand_written, **kwargs)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


def _downsample(in_ch: int, out_ch: int, stride: int):
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))


class ResNet(nn.Module):
    def __init__(self, block, layers: List[int], num_classes: int = 1000, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages: List[nn.Module] = []
        channels = width
        for index, count in enumerate(layers):
            stage_width = width * 2 ** index
            for i in range(count):
                stride = 2 if i == 0 and index > 0 else 1
                stages.append(block(channels, stage_width, stride))
                channels = stage_width * block.expansion
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet18(**kwargs) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], **kwargs)


def resnet50(**kwargs) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)


def count_activation_modules(model: nn.Module) -> dict:
    """How many hardswish / hardsigmoid activations a model built here applies
    (every activation module is a fresh instance used once)."""
    hardswish = sum(isinstance(m, (nn.Hardswish, HandWrittenHardswish)) for m in model.modules())
    hardsigmoid = sum(isinstance(m, (nn.Hardsigmoid, HandWrittenHardsigmoid)) for m in model.modules())
    return {"hardswish": hardswish, "hardsigmoid": hardsigmoid}


def calibrate_batchnorm(model: nn.Module, input_shape, device="cpu", steps: int = 4) -> nn.Module:
    """Set BN running statistics from a few train-mode fp32 forwards on random data, so a
    randomly initialised model keeps activations near unit scale: finite in fp16 and free of
    the denormals that make CPU timings meaningless. Returns the model in eval mode."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration steps
    model.train()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(steps):
            model(torch.randn(input_shape, generator=generator).to(device))
    return model.eval()
