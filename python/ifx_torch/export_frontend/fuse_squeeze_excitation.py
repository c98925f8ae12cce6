"""Contract: replaces each squeeze-and-excitation block, x * gate(fc2(act1(fc1(pool(x))))), by one
``ifx.squeeze_excite`` when the pool is a global average pool of x (adaptive_avg_pool2d to 1x1, or
mean over H and W with keepdim), fc1 / fc2 are fused 1x1 convs (ifx.conv2d_act without padding,
groups or residual) or fused linears between a 2-D view and a [N, C, 1, 1] view (ifx.linear_act),
the gate is sigmoid or hardsigmoid, every intermediate has no other user and nothing writes to x
between the pool and the scale. Blocks that miss one of these are refused on the pool with the
reason (TorchScript: csrc/passes/fuse_squeeze_excitation.cpp, the same reasons). Runs after the
conv and linear fusions. Returns the number of blocks fused."""
import operator
from typing import List, Optional

import torch
from torch import fx

from .graph import PassState, arguments, is_call, nodes_calling, use_count

aten = torch.ops.aten
ifx = torch.ops.ifx
POOLS = (aten.adaptive_avg_pool2d.default, aten.mean.dim, aten.adaptive_max_pool2d.default, aten.amax.default)
MAX_POOLS = (aten.adaptive_max_pool2d.default, aten.amax.default)
VIEWS = (aten.view.default, aten.reshape.default, aten._unsafe_view.default)


class Block:
    def __init__(self, pool: fx.Node):
        self.pool = pool
        self.nodes: List[fx.Node] = []
        self.fc1 = self.fc2 = self.mul = None
        self.problem = ""

    def note(self, what: str) -> None:
        if not self.problem:
            self.problem = what


def _int_list(value, *expected) -> bool:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return False
    return any(sorted(value) == sorted(e) for e in expected)


def _next(value: fx.Node, targets, what: str, block: Block) -> Optional[fx.Node]:
    """The user of ``value`` calling one of ``targets`` (the block's next node), noting when
    ``value`` has other users too."""
    found = next((user for user in value.users if is_call(user, *targets)), None)
    if found is not None and use_count(value) > 1:
        block.note(f"{what} has other users")
    return found


def _is_reshape(node: fx.Node, to_4d: bool) -> bool:
    """A view of ``node``'s input to 2-D, or to [a, b, 1, 1], or a flatten from dim 1."""
    if is_call(node, aten.flatten.using_ints):
        _, start, end = arguments(node)
        return not to_4d and start == 1 and end == -1
    if not is_call(node, *VIEWS):
        return False
    sizes = node.args[1]
    if not isinstance(sizes, (list, tuple)):
        return False
    if to_4d:
        return len(sizes) == 4 and all(isinstance(s, int) and s == 1 for s in sizes[2:])
    return len(sizes) == 2


def _check_pool(state: PassState, pool: fx.Node, block: Block) -> None:
    if is_call(pool, *MAX_POOLS):
        block.note("max pooling: a squeeze-and-excitation block averages")
    elif is_call(pool, aten.adaptive_avg_pool2d.default):
        if not _int_list(arguments(pool)[1], [1, 1], [1]):
            block.note("the pool keeps a map larger than 1x1")
    else:
        _, dims, keepdim, dtype = arguments(pool)
        if not (_int_list(dims, [2, 3], [-2, -1]) and keepdim is True and dtype is None):
            block.note("the mean is not over H and W with keepdim and the input's dtype")


def _check_fc(state: PassState, fc: fx.Node, block: Block) -> None:
    if not is_call(fc, ifx.conv2d_act.default):
        return
    args = arguments(fc)
    weight = state.constant_tensor(args[1])
    if (weight is None or weight.dim() != 4 or weight.shape[2] != 1 or weight.shape[3] != 1
            or not _int_list(args[4], [0, 0]) or args[6] != 1 or args[7] is not None):
        block.note("its layers are not 1x1 convolutions without padding, groups or residual")


def _find_block(state: PassState, pool: fx.Node) -> Optional[Block]:
    """The block starting at ``pool`` if x * gate(...) closes it; None when the pool feeds something
    else (a classifier's pool, say)."""
    block = Block(pool)
    x = pool.args[0]
    value = pool
    if is_call(pool, aten.adaptive_max_pool2d.default):  # (values, indices)
        value = next((u for u in pool.users if u.target is operator.getitem and u.args[1] == 0), None)
        if value is None:
            return None
        block.nodes.append(value)
    # conv form: pool -> 1x1 conv -> 1x1 conv -> mul; linear form: pool -> 2-D view -> linear ->
    # linear -> 4-D view -> mul.
    fc1 = _next(value, (ifx.conv2d_act.default,), "the pooled tensor", block)
    reshape = None
    if fc1 is None:
        reshape = _next(value, VIEWS + (aten.flatten.using_ints,), "the pooled tensor", block)
        if reshape is None or not _is_reshape(reshape, to_4d=False):
            return None
        fc1 = _next(reshape, (ifx.linear_act.default,), "the flattened pool", block)
    if fc1 is None or fc1.args[0] is not (reshape if reshape is not None else value):
        return None
    fc2 = _next(fc1, (fc1.target,), "the hidden layer", block)
    if fc2 is None or fc2.args[0] is not fc1:
        return None
    gate = fc2
    back = None
    if reshape is not None:
        back = _next(gate, VIEWS, "the gate", block)
        if back is None or back.args[0] is not gate or not _is_reshape(back, to_4d=True):
            return None
        gate = back
    mul = _next(gate, (aten.mul.Tensor,), "the gate", block)
    if mul is None:
        return None
    a, b = mul.args[0], mul.args[1]
    scaled = b if a is gate else a if b is gate else None
    # x itself, or (export) the value the program wrote into x between the pool and the scale.
    if scaled is None or not isinstance(scaled, fx.Node) or scaled not in state.aliases(x) | {x}:
        return None
    block.fc1, block.fc2, block.mul = fc1, fc2, mul
    block.nodes += [n for n in (reshape, fc1, fc2, back, mul) if n is not None]
    _check_pool(state, pool, block)
    _check_fc(state, fc1, block)
    _check_fc(state, fc2, block)
    gate_name = arguments(fc2)[-1]
    if gate_name not in ("hardsigmoid", "sigmoid"):
        block.note(f"the gate applies {gate_name}, not sigmoid or hardsigmoid")
    if not state.has_supported_type(x):
        block.note("its input is not a tensor of a dtype and device the fused ops take")
    if scaled is not x or state.written_between(pool, mul, [x]):
        block.note("x is written in place between the pool and the scale")
    return block


def _weight_2d(state: PassState, fc: fx.Node, before: fx.Node) -> fx.Node:
    """An fc layer's weight as the fused op takes it: [out, in]."""
    weight = state.constant_tensor(arguments(fc)[1])
    return state.add_constant(weight.reshape(weight.shape[0], weight.shape[1]).contiguous(), before=before)


def _apply(state: PassState, block: Block) -> None:
    fc1, fc2, mul = arguments(block.fc1), arguments(block.fc2), block.mul
    inputs = (block.pool.args[0], _weight_2d(state, block.fc1, mul), fc1[2], fc1[-1],
              _weight_2d(state, block.fc2, mul), fc2[2], fc2[-1])
    with state.graph.inserting_before(mul):
        fused = state.graph.call_function(ifx.squeeze_excite.default, inputs)
    if "val" in mul.meta:
        fused.meta["val"] = mul.meta["val"]
    mul.replace_all_uses_with(fused)
    state.erase_dead(list(reversed(block.nodes)) + [block.pool])


def fuse_squeeze_excitation(state: PassState) -> int:
    blocks = []
    for pool in nodes_calling(state.graph, *POOLS):
        block = _find_block(state, pool)
        if block is None:
            continue
        if block.problem:
            state.refuse(pool, block.problem)
        else:
            blocks.append(block)
    for block in blocks:
        _apply(state, block)
    return len(blocks)
