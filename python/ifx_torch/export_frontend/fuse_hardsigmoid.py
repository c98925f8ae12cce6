"""Contract: replaces each hardsigmoid chain of the exported graph (clamp(x + 3, 0, 6) / 6 in every
spelling activation_patterns matches, and aten.hardsigmoid unless fuse_aten_activations=False) by
one ``ifx.hardsigmoid(x)``, under the same safety rules as fuse_hardswish; refuses the rest with
the reason. Returns the number of chains fused. (TorchScript: csrc/passes/fuse_hardsigmoid.cpp.)"""
import torch

from .activation_patterns import fuse_activation_chains, match_hardsigmoid
from .graph import PassState


def fuse_hardsigmoid(state: PassState) -> int:
    return fuse_activation_chains(state, match_hardsigmoid, torch.ops.ifx.hardsigmoid.default,
                                  torch.ops.aten.hardsigmoid.default)
