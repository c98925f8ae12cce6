"""Contract: replaces each ``aten.conv2d`` with constant weights (+ its bias) [+ a residual add on
either side, alpha 1] [+ an activation of the fused ops' table] by one ``ifx.conv2d_act`` placed
where the chain ends, when the conv's output and the add's have no other user, the padding is not
a string, stride / padding / dilation / groups are constants, the input is a float CPU/CUDA tensor
and no write to the input or residual happens between the conv and the fused op's position.
A conv with neither an add nor an activation is fused alone when it has a bias ("conv2d+bias": on
CUDA the bias goes into the conv's epilogue instead of an add kernel of its own). Convs left alone
are refused with the reason (TorchScript: csrc/passes/fuse_conv_epilogue.cpp, the same reasons).
Returns {pattern: count}, patterns named "conv2d[+add][+activation]" or "conv2d+bias"."""
from typing import Dict, List, Optional, Union

import torch
from torch import fx

from .epilogue_patterns import is_activation_with_other_constants, is_add, match_epilogue_activation, match_residual_add
from .graph import PassState, arguments, is_model_output, kind, nodes_calling, sole_user, use_count

aten = torch.ops.aten


class ConvPlan:
    def __init__(self, conv: fx.Node):
        self.conv = conv
        self.add: Optional[fx.Node] = None
        self.residual: Optional[fx.Node] = None
        self.activation: Optional[fx.Node] = None
        self.activation_name = "none"

    @property
    def last(self) -> fx.Node:
        return self.activation or self.add or self.conv

    @property
    def pattern(self) -> str:
        if self.add is None and self.activation is None:
            return "conv2d+bias"
        return "conv2d" + ("+add" if self.add else "") + (f"+{self.activation_name}" if self.activation else "")


def _has_bias(conv: fx.Node) -> bool:
    return arguments(conv)[2] is not None


def _is_constant_int_list(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _argument_refusal(state: PassState, conv: fx.Node) -> str:
    """Why the conv's own arguments rule it out, or ""."""
    if conv.target is aten.conv2d.padding:
        return "padding is a string ('same' or 'valid'); only int padding is fused"
    args = arguments(conv)
    if state.constant_tensor(args[1]) is None:
        return "weight is not a constant (frozen parameter)"
    if not state.has_constant_weight_and_bias(args, 4):
        return "weight or bias is not a constant float tensor of one dtype"
    if not all(_is_constant_int_list(v) for v in args[3:7]):
        return "stride, padding, dilation or groups is not a constant"
    if not state.has_supported_type(args[0]):
        return "its input is not a tensor of a dtype and device the fused ops take"
    return ""


def follower_refusal(state: PassState, value: fx.Node, what: str) -> str:
    """Why nothing after the layer's output ``value`` can join it."""
    uses = use_count(value)
    if uses != 1:
        return f"output has {uses} users; fusing would compute it twice"
    user = next(iter(value.users))
    if is_model_output(user):
        return "nothing follows it but the model's output"
    if is_add(user):
        return ("followed by an add that is not a plain residual (alpha != 1, the same tensor twice, "
                "or in place)")
    if is_activation_with_other_constants(state, user):
        return f"followed by {kind(user)} with constants that are not a supported activation"
    return f"no activation or residual add follows {what}: its output goes straight to {kind(user)}"


def _plan(state: PassState, conv: fx.Node) -> Union[ConvPlan, str]:
    reason = _argument_refusal(state, conv)
    if reason:
        return reason
    plan = ConvPlan(conv)
    value = conv
    user = sole_user(value)
    residual = match_residual_add(user, value) if user is not None else None
    if residual is not None:
        plan.add, plan.residual = user, residual
        value = user
        user = sole_user(value)
    if user is not None and user.args and user.args[0] is value:
        name = match_epilogue_activation(state, user)
        if name is not None:
            plan.activation, plan.activation_name = user, name
    if plan.add is None and plan.activation is None:
        return plan if _has_bias(conv) else follower_refusal(state, conv, "the conv")
    # The fused op reads the conv's input (and residual) where the chain ends.
    read_late = [arguments(conv)[0]] + ([residual] if residual is not None else [])
    if state.written_between(conv, plan.last, read_late):
        return "its input or residual is written in place before the fused op would run"
    return plan


def _apply(state: PassState, plan: ConvPlan) -> None:
    last = plan.last
    # Read back from the nodes now: an earlier rewrite may have replaced the conv's input or the
    # residual (the output of another fused conv).
    args = arguments(plan.conv)
    residual = match_residual_add(plan.add, plan.conv) if plan.add is not None else None
    with state.graph.inserting_before(last):
        fused = state.graph.call_function(torch.ops.ifx.conv2d_act.default,
                                          tuple(args) + (residual, plan.activation_name))
    if "val" in last.meta:
        fused.meta["val"] = last.meta["val"]  # recorded again, as the fused op returns it, before fuse_multiply_add
    last.replace_all_uses_with(fused)
    state.erase_dead([node for node in (plan.activation, plan.add, plan.conv) if node is not None])


def fuse_conv_epilogue(state: PassState) -> Dict[str, int]:
    # Plan against the unchanged graph, then rewrite (as the TorchScript pass does).
    plans: List[ConvPlan] = []
    claimed = set()  # conv1 + conv2: the add would otherwise be absorbed twice
    for conv in nodes_calling(state.graph, aten.conv2d.default, aten.conv2d.padding):
        planned = _plan(state, conv)
        if isinstance(planned, str):
            state.refuse(conv, planned)
            continue
        if planned.last in claimed:
            # Another fused conv took the add that this one's output feeds (as its residual).
            if not _has_bias(conv):
                state.refuse(conv, "no activation or residual add follows the conv: its output is the residual of "
                                   "another fused conv2d")
                continue
            planned = ConvPlan(conv)
        claimed.add(planned.last)
        plans.append(planned)
    fused: Dict[str, int] = {}
    for plan in plans:
        _apply(state, plan)
        fused[plan.pattern] = fused.get(plan.pattern, 0) + 1
    return fused
