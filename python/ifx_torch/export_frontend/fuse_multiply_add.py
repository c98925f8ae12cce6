"""Contract: replaces ``aten.add(a, aten.mul(b, c))`` (the add's operands in either order, alpha 1)
by one ``aten.addcmul(a, b, c)``: ConvNeXt's layer scale, ``gamma * y + x``. On CUDA TorchScript's
profiling executor fuses that multiply and add into one kernel (NNC's fused_mul_add), and addcmul
runs as one ATen elementwise kernel, so both front ends run the same number of kernels (on the CPU
neither fuses; addcmul is still one pass over memory). It rewrites only where nothing but rounding
changes: a, b and c are tensors (no Python numbers) of one floating dtype and device, so there is no
type promotion; the mul's only use is this add; neither is refused by an earlier pass; no value of
the pair is written in place; and addcmul's output has the add's recorded sizes and strides (so a
later view still sees the layout it was traced with). Values are mul + add's up to rounding:
addcmul computes 16-bit types in float and rounds once (mul + add round the product first), and
may contract float32 into a fused multiply-add. Runs after the conv epilogue fusion, which takes a
conv's residual add first. Returns the number rewritten; reports do not count them, as they are no
fusion of ours (TorchScript has no such pass; its fused/unfused stay the same)."""
from typing import Any, Optional, Sequence

import torch
from torch import fx
from torch._dispatch.python import enable_python_dispatcher
from torch.fx.experimental.symbolic_shapes import statically_known_true

from .graph import REFUSAL_KEY, PassState, arguments, is_call, nodes_calling, sole_user

aten = torch.ops.aten


def _tensor(state: PassState, value: Any) -> Optional[torch.Tensor]:
    """The (fake) tensor the graph records for ``value``, or None for a number or an unknown."""
    if not isinstance(value, fx.Node):
        return None
    recorded = value.meta.get("val")
    if recorded is None:
        recorded = state.value_of(value)  # a get_attr without a recorded value: the constant itself
    return recorded if isinstance(recorded, torch.Tensor) else None


def _same(first: Sequence[Any], second: Sequence[Any]) -> bool:
    """Equal sizes or strides, symbolic ones (a dynamic batch) included only when provably equal."""
    return len(first) == len(second) and all(statically_known_true(x == y) for x, y in zip(first, second))


def _same_layout_as_add(add_value: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> bool:
    """Whether addcmul(a, b, c) gives the sizes and strides the add's recorded output has. Where
    the operands' layouts differ, the first operand that decides wins: add(b * c, a) may follow
    b * c's layout where addcmul(a, b, c) follows a's."""
    fake_mode = getattr(add_value, "fake_mode", None)
    if fake_mode is None:
        return False
    try:
        # The Python dispatcher carries symbolic sizes (a dynamic batch) through broadcasting.
        with fake_mode, enable_python_dispatcher():
            # Constants folded by earlier passes are real tensors: give them to the fake mode.
            operands = [t if getattr(t, "fake_mode", None) is fake_mode else fake_mode.from_tensor(t)
                        for t in (a, b, c)]
            result = aten.addcmul.default(*operands)
    except Exception:  # anything the fake mode cannot run: leave the pair as it is
        return False
    return _same(result.shape, add_value.shape) and _same(result.stride(), add_value.stride())


def _multiply_operand(state: PassState, add: fx.Node, mul: Any, other: Any) -> bool:
    """Whether ``add`` = ``other + mul`` may become addcmul(other, *mul's operands)."""
    if not is_call(mul, aten.mul.Tensor) or sole_user(mul) is not add:
        return False
    if REFUSAL_KEY in mul.meta:  # a refused hardswish x * hardsigmoid(x): keep its reason
        return False
    b, c = arguments(mul)
    tensors = [_tensor(state, v) for v in (other, b, c, add)]
    if any(t is None for t in tensors):
        return False
    if any(t.dtype != tensors[3].dtype or t.device != tensors[3].device for t in tensors):
        return False
    if not tensors[3].is_floating_point():
        return False
    if any(state.is_written(v) for v in (other, b, c, mul, add)):
        return False
    return _same_layout_as_add(add.meta.get("val"), *tensors[:3])


def fuse_multiply_add(state: PassState) -> int:
    rewritten = 0
    for add in nodes_calling(state.graph, aten.add.Tensor):
        first, second, alpha = arguments(add)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha != 1:
            continue
        if REFUSAL_KEY in add.meta:
            continue
        # add(a, b * c) first: a stays the first operand, whose layout an elementwise op follows.
        if _multiply_operand(state, add, second, first):
            mul, other = second, first
        elif _multiply_operand(state, add, first, second):
            mul, other = first, second
        else:
            continue
        with state.graph.inserting_before(add):
            fused = state.graph.call_function(aten.addcmul.default, (other, *arguments(mul)))
        fused.meta.update({k: v for k, v in add.meta.items() if k in ("val", "tensor_meta", "stack_trace")})
        add.replace_all_uses_with(fused)
        state.graph.erase_node(add)
        state.graph.erase_node(mul)
        rewritten += 1
    return rewritten
