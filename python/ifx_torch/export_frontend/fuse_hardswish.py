"""Contract: replaces each hardswish chain of the exported graph (x * clamp(x + 3, 0, 6) / 6 in every
spelling activation_patterns matches, x * hardsigmoid(x), and aten.hardswish unless
fuse_aten_activations=False) by one ``ifx.hardswish(x)``, where no intermediate has another user,
x is a float CPU/CUDA tensor and nothing writes to x; refuses the rest with the reason. Runs before
fuse_hardsigmoid, so it absorbs the hardsigmoid inside x * hardsigmoid(x). Returns the number of
chains fused. (TorchScript: csrc/passes/fuse_hardswish.cpp.)"""
import torch

from .activation_patterns import fuse_activation_chains, match_hardswish
from .graph import PassState


def fuse_hardswish(state: PassState) -> int:
    return fuse_activation_chains(state, match_hardswish, torch.ops.ifx.hardswish.default,
                                  torch.ops.aten.hardswish.default)
