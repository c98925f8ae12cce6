"""Matchers for the pieces of hardswish / hardsigmoid chains as torch.export spells them, and the loop
that fuses every chain of one kind (csrc/passes/activation_patterns.cpp and fuse_activation_chains.cpp
in FX). Export's graphs are functional: in-place spellings arrive as their functional ops, scalars
as inline Python numbers (``add.Tensor(x, 3.0)``), tensor bounds of min/max as 0-dim get_attr
constants.

Each matcher looks at the node producing ``value``; on a match it appends that node (and the ones
it consumed) to ``chain`` and returns the chain's input, else returns None (callers match into a
scratch list). A chain lists its final node first and every producer after its consumers.
"""
from typing import Callable, List, Optional

import torch
from torch import fx

from .graph import PassState, arguments, describe_number, is_call, is_one_sixth, kind, use_count

aten = torch.ops.aten
Chain = List[fx.Node]
Matcher = Callable[[PassState, object, Chain], Optional[fx.Node]]


def _node(value) -> Optional[fx.Node]:
    return value if isinstance(value, fx.Node) and value.op == "call_function" else None


def _take(node: fx.Node, chain: Chain) -> fx.Node:
    chain.append(node)
    return node


def _tensor(value) -> Optional[fx.Node]:
    """``value`` if it is a graph value (a tensor operand), else None."""
    return value if isinstance(value, fx.Node) else None


def _non_constant_operand(state: PassState, a, b, commutes: bool, is_wanted) -> Optional[fx.Node]:
    """``op(a, constant)`` or, where the op commutes, ``op(constant, b)``: the non-constant operand."""
    if is_wanted(b) and state.constant_scalar(a) is None:
        return _tensor(a)
    if commutes and is_wanted(a) and state.constant_scalar(b) is None:
        return _tensor(b)
    return None


def match_lower_0(state: PassState, value, chain: Chain) -> Optional[fx.Node]:
    """max(a, 0) as clamp_min(a, 0), clamp(a, 0, None), relu(a), or max/maximum with a 0-dim 0."""
    node = _node(value)
    if node is None:
        return None
    if is_call(node, aten.clamp_min.default) and state.is_number(arguments(node)[1], 0):
        return _tensor(_take(node, chain).args[0])
    if is_call(node, aten.clamp.default):
        _, low, high = arguments(node)
        if state.is_number(low, 0) and high is None:
            return _tensor(_take(node, chain).args[0])
    if is_call(node, aten.relu.default):
        return _tensor(_take(node, chain).args[0])
    if is_call(node, aten.max.other, aten.maximum.default):
        for operand in (0, 1):
            if state.is_number(node.args[1 - operand], 0):
                return _tensor(_take(node, chain).args[operand])
    return None


def match_upper_6(state: PassState, value, chain: Chain) -> Optional[fx.Node]:
    """min(a, 6) as clamp_max(a, 6), clamp(a, None, 6), or min/minimum with a 0-dim 6."""
    node = _node(value)
    if node is None:
        return None
    if is_call(node, aten.clamp_max.default) and state.is_number(arguments(node)[1], 6):
        return _tensor(_take(node, chain).args[0])
    if is_call(node, aten.clamp.default):
        _, low, high = arguments(node)
        if low is None and state.is_number(high, 6):
            return _tensor(_take(node, chain).args[0])
    if is_call(node, aten.min.other, aten.minimum.default):
        for operand in (0, 1):
            if state.is_number(node.args[1 - operand], 6):
                return _tensor(_take(node, chain).args[operand])
    return None


def match_add_three(state: PassState, value, chain: Chain) -> Optional[fx.Node]:
    """x + 3 or 3 + x, int or float 3, alpha 1."""
    node = _node(value)
    if node is None:
        return None
    is_three = lambda c: state.is_number(c, 3)  # noqa: E731
    if is_call(node, aten.add.Scalar):
        a, b, alpha = arguments(node)
        x = _non_constant_operand(state, a, b, commutes=False, is_wanted=is_three)
    elif is_call(node, aten.add.Tensor):
        a, b, alpha = arguments(node)
        x = _non_constant_operand(state, a, b, commutes=True, is_wanted=is_three)
    else:
        return None
    if x is None or not state.is_number(alpha, 1):
        return None
    _take(node, chain)
    return x


def match_clamp_0_6(state: PassState, value, chain: Chain) -> Optional[fx.Node]:
    """clamp(a, 0, 6) in any spelling: relu6, hardtanh(0, 6), clamp(0, 6), or two steps in
    either order (min(max(a, 0), 6), max(min(a, 6), 0))."""
    node = _node(value)
    if node is None:
        return None
    if is_call(node, aten.relu6.default):
        return _tensor(_take(node, chain).args[0])
    if is_call(node, aten.hardtanh.default, aten.clamp.default):
        _, low, high = arguments(node)
        if state.is_number(low, 0) and state.is_number(high, 6):
            return _tensor(_take(node, chain).args[0])
    for outer, inner in ((match_upper_6, match_lower_0), (match_lower_0, match_upper_6)):
        attempt: Chain = []
        middle = outer(state, node, attempt)
        if middle is not None:
            a = inner(state, middle, attempt)
            if a is not None:
                chain.extend(attempt)
                return a
    return None


def match_scale_sixth(state: PassState, value, chain: Chain) -> Optional[fx.Node]:
    """a / 6, or a * (1/6) in either operand order."""
    node = _node(value)
    if node is None:
        return None
    a = None
    if is_call(node, aten.div.Scalar, aten.div.Tensor):
        a = _non_constant_operand(state, node.args[0], node.args[1], commutes=False,
                                  is_wanted=lambda c: state.is_number(c, 6))
    elif is_call(node, aten.mul.Scalar, aten.mul.Tensor):
        a = _non_constant_operand(state, node.args[0], node.args[1], commutes=True,
                                  is_wanted=lambda c: is_one_sixth(state, c))
    if a is None:
        return None
    _take(node, chain)
    return a


def _tensor_mul(value):
    """The two tensor operands of a multiply, or None."""
    node = _node(value)
    if not is_call(node, aten.mul.Tensor) or not all(isinstance(a, fx.Node) for a in node.args[:2]):
        return None
    return node.args[0], node.args[1]


def _product_with_input(state: PassState, value, chain: Chain, match_factor: Matcher) -> Optional[fx.Node]:
    """x * g(x), either operand order, where g is matched by ``match_factor``."""
    operands = _tensor_mul(value)
    if operands is None:
        return None
    lhs, rhs = operands
    for x, factor in ((lhs, rhs), (rhs, lhs)):
        attempt: Chain = [value]
        if match_factor(state, factor, attempt) is x:
            chain.extend(attempt)
            return x
    return None


def _shifted_clamp(state: PassState, value, chain: Chain) -> Optional[fx.Node]:
    """clamp(x + 3, 0, 6) -> x"""
    shifted = match_clamp_0_6(state, value, chain)
    return match_add_three(state, shifted, chain) if shifted is not None else None


def match_hardsigmoid(state: PassState, value, chain: Chain) -> Optional[fx.Node]:
    node = _node(value)
    if node is None:
        return None
    if is_call(node, torch.ops.ifx.hardsigmoid.default) or (
            state.fuse_aten_activations and is_call(node, aten.hardsigmoid.default)):
        return _tensor(_take(node, chain).args[0])
    attempt: Chain = []
    clamped = match_scale_sixth(state, node, attempt)  # clamp(x + 3, 0, 6) / 6
    if clamped is not None:
        x = _shifted_clamp(state, clamped, attempt)
        if x is not None:
            chain.extend(attempt)
            return x
    return None


def match_hardswish(state: PassState, value, chain: Chain) -> Optional[fx.Node]:
    node = _node(value)
    if node is None:
        return None
    if state.fuse_aten_activations and is_call(node, aten.hardswish.default):
        return _tensor(_take(node, chain).args[0])
    # x * hardsigmoid(x), with the /6 inside the hardsigmoid.
    x = _product_with_input(state, node, chain, match_hardsigmoid)
    if x is not None:
        return x
    # (x * clamp(x + 3, 0, 6)) / 6
    attempt: Chain = []
    product = match_scale_sixth(state, node, attempt)
    if product is not None:
        x = _product_with_input(state, product, attempt, _shifted_clamp)
        if x is not None:
            chain.extend(attempt)
            return x
    # (x / 6) * clamp(x + 3, 0, 6)
    operands = _tensor_mul(node)
    if operands is not None:
        lhs, rhs = operands
        for scaled, clamped in ((lhs, rhs), (rhs, lhs)):
            attempt = [node]
            x = match_scale_sixth(state, scaled, attempt)
            if x is not None and _shifted_clamp(state, clamped, attempt) is x:
                chain.extend(attempt)
                return x
    return None


def why_unsafe_to_fuse(state: PassState, chain: Chain, x: fx.Node) -> str:
    """"" when one fused node may replace ``chain`` (computed from ``x``): no intermediate has a
    user outside the chain, the fused ops take x's dtype and device, and nothing writes to x.
    Otherwise the first of those that fails, as a refusal reason."""
    final = chain[0]
    for node in chain:
        if node is not final and use_count(node) != 1:
            return f"an intermediate of the chain ({kind(node)}) has another user"
    if not state.has_supported_type(x):
        return "its input is not a tensor of a dtype and device the fused ops take"
    if state.is_written(x):
        return "its input is written in place"
    return ""


CHAIN_CLAMPS = (aten.hardtanh.default, aten.clamp.default, aten.relu6.default)


def why_clamp_is_unfused(state: PassState, clamp: fx.Node) -> str:
    """Why a chain clamp is in no fused chain: its bounds are not (0, 6), it clamps x + c with
    c != 3, or the rest of the formula is missing."""
    if is_call(clamp, aten.hardtanh.default, aten.clamp.default):
        _, low, high = arguments(clamp)
        if not (state.is_number(low, 0) and state.is_number(high, 6)):
            return (f"bounds ({describe_number(low, state)}, {describe_number(high, state)}) are not (0, 6): "
                    "neither relu6 nor part of hardswish/hardsigmoid")
    producer = clamp.args[0]
    if is_call(producer, aten.add.Tensor, aten.add.Scalar):
        a, b = producer.args[0], producer.args[1]
        shift = a if state.constant_scalar(a) is not None else b
        if state.constant_scalar(shift) is not None and not state.is_number(shift, 3):
            return f"clamps x + {describe_number(shift, state)}: hardswish/hardsigmoid need x + 3"
    return "not part of a complete hardswish/hardsigmoid chain and not after a conv or linear it could join"


def fuse_activation_chains(state: PassState, match: Matcher, fused_op, aten_op) -> int:
    """Replaces every safe chain that ``match`` finds (ending at any node of the graph) by
    ``fused_op(x)``; refuses the unsafe ones and explains every chain clamp left over."""
    graph = state.graph
    candidates = [node for node in graph.nodes if node.op == "call_function" and node.target is not fused_op]
    replaced_chains: List[Chain] = []
    for node in candidates:
        # A replaced chain's final node has no users left; its intermediates had one user each,
        # inside the chain, so a dead chain cannot match again.
        if not node.users:
            continue
        chain: Chain = []
        x = match(state, node, chain)
        if x is None:
            if node.target is aten_op and not state.fuse_aten_activations:
                state.refuse(node, "kept as aten's op (fuse_aten_activations=False)")
            continue
        unsafe = why_unsafe_to_fuse(state, chain, x)
        if unsafe:
            state.refuse(node, f"computes {fused_op._schema.name.split('::')[1]}, but {unsafe}")
            continue
        final = chain[0]
        with graph.inserting_before(final):
            fused = graph.call_function(fused_op, (x,))
        fused.meta.update({k: v for k, v in final.meta.items() if k in ("val", "tensor_meta", "stack_trace")})
        final.replace_all_uses_with(fused)
        replaced_chains.append(chain)
    state.erase_dead([node for chain in replaced_chains for node in chain])
    for node in graph.nodes:
        if is_call(node, *CHAIN_CLAMPS):
            state.refuse(node, why_clamp_is_unfused(state, node))
    return len(replaced_chains)
