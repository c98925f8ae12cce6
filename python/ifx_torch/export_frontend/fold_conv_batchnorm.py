"""Contract: folds each inference batch norm (``_native_batch_norm_legit_no_training``, which export's
decompositions make of ``batch_norm`` in eval mode) whose input is an ``aten.conv2d`` with constant
weights and no other user into the conv's weight and bias: new constants, computed in float64 and
rounded once to the weight's dtype; the batch norm is removed. Its statistics must be constants
(buffers), its affine parameters constants or absent. Batch norms left in place are refused with
the reason (TorchScript: csrc/passes/fold_conv_batchnorm.cpp, the same reasons). Returns the number
folded."""
import operator
from typing import Optional, Tuple

import torch
from torch import fx

from .graph import PassState, arguments, is_call, kind, nodes_calling, use_count

aten = torch.ops.aten
CONV2D = (aten.conv2d.default, aten.conv2d.padding)
INFERENCE_BATCH_NORM = aten._native_batch_norm_legit_no_training.default
# Batch norms that normalize with the batch's own statistics (F.batch_norm(training=True) in an
# eval model): never folded.
TRAINING_BATCH_NORMS = (aten._native_batch_norm_legit_functional.default, aten._native_batch_norm_legit.default,
                        aten._native_batch_norm_legit.no_stats, aten.native_batch_norm.default)


def _output(bn: fx.Node) -> Optional[fx.Node]:
    """The getitem that reads the normalized tensor (output 0) of a batch norm, if any."""
    for user in bn.users:
        if user.op == "call_function" and user.target is operator.getitem and user.args[1] == 0:
            return user
    return None


def _folded(weight: torch.Tensor, bias: Optional[torch.Tensor], bn_weight, bn_bias, mean, var,
            eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """y = (conv(x) + b - mean) * w / sqrt(var + eps) + beta, in float64, rounded once."""
    scale = torch.rsqrt(var.double() + eps)
    if bn_weight is not None:
        scale = scale * bn_weight.double()
    shift = (bias.double() - mean.double()) if bias is not None else -mean.double()
    shift = shift * scale
    if bn_bias is not None:
        shift = shift + bn_bias.double()
    memory_format = (torch.channels_last if weight.is_contiguous(memory_format=torch.channels_last)
                     and not weight.is_contiguous() else torch.contiguous_format)
    new_weight = (weight.double() * scale.reshape(-1, 1, 1, 1)).to(weight.dtype).contiguous(
        memory_format=memory_format)
    return new_weight, shift.to(weight.dtype)


def _fold(state: PassState, bn: fx.Node) -> str:
    """Folds ``bn`` into the conv feeding it; returns why not, or "" when it did."""
    conv = bn.args[0]
    if not is_call(conv, *CONV2D):
        return f"input comes from {kind(conv)}, not a conv2d"
    if use_count(conv) != 1:
        return "the conv's output has other users"
    conv_args = arguments(conv)
    weight = state.constant_tensor(conv_args[1])
    bias = state.constant_tensor(conv_args[2])
    if weight is None or weight.dim() != 4 or (bias is None and conv_args[2] is not None):
        return "the conv's weight or bias is not a constant"
    _, bn_weight_node, bn_bias_node, mean_node, var_node, _, eps = arguments(bn)
    bn_weight, bn_bias = state.constant_tensor(bn_weight_node), state.constant_tensor(bn_bias_node)
    mean, var = state.constant_tensor(mean_node), state.constant_tensor(var_node)
    if (mean is None or var is None or not isinstance(eps, float) or (bn_weight is None and bn_weight_node is not None)
            or (bn_bias is None and bn_bias_node is not None)):
        return "the statistics are not constants, or it runs in training mode"
    channels = weight.shape[0]
    parts = [t for t in (weight, mean, var, bias, bn_weight, bn_bias) if t is not None]
    if (mean.dim() != 1 or var.dim() != 1
            or any(not t.is_floating_point() or t.device != weight.device or (t.dim() == 1 and t.shape[0] != channels)
                   for t in parts)):
        return "its parameters do not match the conv's channels, dtype or device"
    out = _output(bn)
    if out is None or any(user is not out for user in bn.users):
        return "the statistics are not constants, or it runs in training mode"
    new_weight, new_bias = _folded(weight, bias, bn_weight, bn_bias, mean, var, eps)
    folded_args = list(conv_args)
    folded_args[1] = state.add_constant(new_weight, before=conv)
    folded_args[2] = state.add_constant(new_bias, before=conv)
    conv.args, conv.kwargs = tuple(folded_args), {}
    out.replace_all_uses_with(conv)
    state.erase_dead([out, bn])
    return ""


def fold_conv_batchnorm(state: PassState) -> int:
    folded = 0
    for bn in nodes_calling(state.graph, INFERENCE_BATCH_NORM):
        reason = _fold(state, bn)
        if reason:
            state.refuse(bn, reason)
        else:
            folded += 1
    for bn in nodes_calling(state.graph, *TRAINING_BATCH_NORMS):
        state.refuse(bn, "the statistics are not constants, or it runs in training mode")
    return folded
