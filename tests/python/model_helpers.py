"""Helpers shared by the model-level tests."""
from torch import nn


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
