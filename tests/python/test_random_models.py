"""Randomized equivalence: seeded random small CNNs built from conv / batch-norm / activation /
residual-add / linear blocks, with exact patterns, near-misses, in-place ops, an intermediate
with an extra user and an input mutated between a conv and its activation. optimize(m)(x) must
equal m(x) in float64, and every conv block that is an exact, clean pattern must be fused.

Each model is written out as a source file and imported, because torch.jit.script reads source.
"""
import importlib.util
import random
import sys

import pytest
import torch

import ifx_torch
from model_helpers import randomize_batchnorm

CHANNELS = 8
EXACT_ACTIVATIONS = [
    "F.relu({y})", "F.relu({y}, inplace=True)", "F.relu6({y})", "F.hardtanh({y}, 0., 6.)", "torch.clamp({y}, 0, 6)",
    "{y} * F.relu6({y} + 3.) / 6.", "{y} * torch.clamp({y} + 3, 0, 6) * 0.16666666666666666",
    "F.relu6({y} + 3.) / 6.", "F.hardswish({y})", "F.hardsigmoid({y})", "F.silu({y})", "torch.sigmoid({y})",
]
NEAR_MISS_ACTIVATIONS = [
    "F.hardtanh({y}, 0., 5.)", "F.relu6({y} + 2.) / 6.", "{y} * F.relu6({y} + 3.) / 5.", "torch.clamp({y}, 1, 6)",
    "F.leaky_relu({y}, 0.1)", "{y} * 0.5",
]


class Block:
    def __init__(self, rng: random.Random, index: int):
        self.index = index
        self.kernel = rng.choice([1, 3])
        self.depthwise = rng.random() < 0.3
        self.bias = rng.random() < 0.5
        self.batch_norm = rng.random() < 0.6
        self.affine = rng.random() < 0.7
        self.eps = rng.choice([1e-5, 1e-3])
        self.exact = rng.random() < 0.7
        self.activation = rng.choice(EXACT_ACTIVATIONS if self.exact else NEAR_MISS_ACTIVATIONS)
        self.residual = rng.choice([None, "after", "before", "in_place"])
        self.extra_user = rng.random() < 0.15
        self.mutates_input = rng.random() < 0.1

    def init_lines(self):
        groups = CHANNELS if self.depthwise else 1
        lines = [f"self.conv{self.index} = nn.Conv2d({CHANNELS}, {CHANNELS}, {self.kernel}, padding={self.kernel // 2}, "
                 f"groups={groups}, bias={self.bias})"]
        if self.batch_norm:
            lines.append(f"self.bn{self.index} = nn.BatchNorm2d({CHANNELS}, eps={self.eps}, affine={self.affine})")
        return lines

    def forward_lines(self):
        y = f"y{self.index}"
        lines = [f"{y} = self.conv{self.index}(h)"]
        if self.batch_norm:
            lines.append(f"{y} = self.bn{self.index}({y})")
        if self.extra_user:
            lines.append(f"side = side + {y}.mean()")
        if self.mutates_input:
            lines.append("h = h.clone()" if self.index == 0 else "h.mul_(1.5)")
        if self.residual == "after":
            lines.append(f"{y} = {y} + h")
        elif self.residual == "before":
            lines.append(f"{y} = h + {y}")
        elif self.residual == "in_place":
            lines.append(f"{y} += h")
        lines.append(f"{y} = " + self.activation.format(y=y))
        lines.append(f"h = {y}")
        return lines

    def has_bias(self):
        """Its own, or a folded batch norm's: such a conv fuses alone ("conv2d+bias") where nothing
        after it can join."""
        return self.bias or self.batch_norm

    def must_fuse(self):
        """An exact, clean pattern, or a conv with a bias and an untouched input: the conv has to
        end up in an ifx::conv2d_act."""
        clean = not self.extra_user and (self.exact or self.residual is not None)
        return not self.mutates_input and (clean or self.has_bias())

    def may_fuse(self):
        return self.has_bias() or (not self.extra_user and (self.exact or self.residual is not None))


def model_source(blocks, head_activation):
    init = "\n".join("        " + line for block in blocks for line in block.init_lines())
    body = "\n".join("        " + line for block in blocks for line in block.forward_lines())
    return f'''import torch
import torch.nn.functional as F
from torch import nn


class RandomNet(nn.Module):
    def __init__(self):
        super().__init__()
{init}
        self.fc = nn.Linear({CHANNELS}, 5)

    def forward(self, x):
        h = x
        side = x.sum() * 0.
{body}
        out = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
        out = {head_activation.format(y="self.fc(out)") if "{y}" in head_activation and head_activation.count("{y}") == 1
               else "F.relu(self.fc(out))"}
        return out + side
'''


def build(seed, tmp_path):
    rng = random.Random(seed)
    blocks = [Block(rng, i) for i in range(rng.randint(2, 5))]
    source = model_source(blocks, rng.choice(EXACT_ACTIVATIONS + NEAR_MISS_ACTIVATIONS))
    name = f"random_net_{seed}"
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # torch.jit.script finds the source through the module
    spec.loader.exec_module(module)
    torch.manual_seed(seed)
    model = randomize_batchnorm(module.RandomNet())
    return model.double(), blocks, source


@pytest.mark.parametrize("seed", range(16))
def test_random_model_matches_eager_and_fuses_exact_patterns(seed, tmp_path):
    model, blocks, source = build(seed, tmp_path)
    optimized = ifx_torch.optimize(model)
    fused_convs = len(optimized.graph.findAllNodes("ifx::conv2d_act"))
    must, may = sum(b.must_fuse() for b in blocks), sum(b.may_fuse() for b in blocks)
    assert must <= fused_convs <= may, f"{fused_convs} fused, expected {must}..{may}\n{source}\n{optimized.graph}"
    for _ in range(2):  # fresh inputs each call; the model may mutate its input's clone
        x = torch.randn(2, CHANNELS, 7, 7, dtype=torch.float64) * 3
        with torch.no_grad():
            expected = model(x.clone())
            actual = optimized(x.clone())
        torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-9, msg=lambda m: f"{m}\n{source}")
