"""What may follow a convolution or a linear layer and be fused into it, as torch.export spells it
(csrc/passes/epilogue_patterns.cpp in FX): an activation of the fused ops' table, and a residual add.
Export's graphs are functional, so the in-place spellings need no rewriting first."""
from typing import Optional

import torch
from torch import fx

from .. import _C
from .graph import PassState, arguments, is_call

aten = torch.ops.aten
# name -> the ATen op the table lists for it (csrc/kernels/activations.h, read from the extension).
_TABLE = [(name, op) for name, op in _C.activations() if op]


def _table_ops():
    ops = {}
    for name, qualified in _TABLE:
        aten_op = getattr(aten, qualified.split("::")[1]).default
        ops[aten_op] = name
        ifx_op = getattr(torch.ops.ifx, name, None)
        if ifx_op is not None:
            ops[ifx_op.default] = name
    return ops


_ACTIVATION_OPS = None
CLAMP_KINDS = (aten.clamp_min.default, aten.hardtanh.default, aten.clamp.default)


def _clamp_spelling(state: PassState, node: fx.Node) -> Optional[str]:
    """relu as clamp_min(x, 0) or clamp(x, 0); relu6 as hardtanh(x, 0, 6) or clamp(x, 0, 6)."""
    if is_call(node, aten.clamp_min.default) and state.is_number(arguments(node)[1], 0):
        return "relu"
    if is_call(node, aten.hardtanh.default):
        _, low, high = arguments(node)
        if state.is_number(low, 0) and state.is_number(high, 6):
            return "relu6"
    if is_call(node, aten.clamp.default):
        _, low, high = arguments(node)
        if state.is_number(low, 0):
            if high is None:
                return "relu"
            if state.is_number(high, 6):
                return "relu6"
    return None


def match_epilogue_activation(state: PassState, node: fx.Node) -> Optional[str]:
    """The activation's name as the ops take it when ``node`` applies one of the table's activations
    to its first operand (the table's ATen op, ifx's op of the same name, or a clamp spelling)."""
    global _ACTIVATION_OPS
    if _ACTIVATION_OPS is None:
        _ACTIVATION_OPS = _table_ops()
    if node.op != "call_function":
        return None
    if node.target in _ACTIVATION_OPS and len(node.args) == 1 and not node.kwargs:
        return _ACTIVATION_OPS[node.target]
    return _clamp_spelling(state, node)


def is_activation_with_other_constants(state: PassState, node: fx.Node) -> bool:
    """One of the clamp kinds, with constants that make it no supported activation (hardtanh(x, 0, 5),
    clamp(x, 1)): a near-miss worth naming."""
    return is_call(node, *CLAMP_KINDS) and _clamp_spelling(state, node) is None


def match_residual_add(node: fx.Node, value: fx.Node) -> Optional[fx.Node]:
    """If ``node`` is ``a + b`` of two tensors with alpha 1 and ``value`` is one of them, the other."""
    if not is_call(node, aten.add.Tensor):
        return None
    a, b, alpha = arguments(node)
    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and alpha == 1):
        return None
    if not (isinstance(a, fx.Node) and isinstance(b, fx.Node)):
        return None
    if a is value and b is not value:
        return b
    if b is value and a is not value:
        return a
    return None


def is_add(node: fx.Node) -> bool:
    return is_call(node, aten.add.Tensor, aten.add.Scalar)
