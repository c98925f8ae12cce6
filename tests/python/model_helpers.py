"""Helpers shared by the model- and op-level tests."""
from typing import Callable, Dict

import torch
from torch import nn

import ifx_torch


def randomize_batchnorm(model: nn.Module) -> nn.Module:
    """Non-trivial batch-norm statistics and affine parameters, drawn from torch's current RNG
    (callers seed it), so that folding is exercised with real values; returns the model in eval mode."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            if module.affine:
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def activation_references() -> Dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """name -> the ATen op it stands for, for every activation of the fused ops' table
    (csrc/kernels/activations.h, read from the extension)."""
    def aten(op: str) -> Callable[[torch.Tensor], torch.Tensor]:
        if not op:
            return lambda y: y
        return getattr(torch.ops.aten, op.split("::")[1])
    return {name: aten(op) for name, op in ifx_torch._C.activations()}
