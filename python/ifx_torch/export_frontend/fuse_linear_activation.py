"""Contract: replaces each ``aten.linear`` with a constant weight (+ its bias) whose only user is an
activation of the fused ops' table by one ``ifx.linear_act`` at the activation's place, when the
input is a float CPU/CUDA tensor and nothing writes to it in between. Linears left alone are
refused with the reason (TorchScript: csrc/passes/fuse_linear_activation.cpp, the same reasons).
Returns {"linear+<activation>": count}."""
from typing import Dict, List, Tuple, Union

import torch
from torch import fx

from .epilogue_patterns import is_activation_with_other_constants, is_add, match_epilogue_activation
from .graph import PassState, arguments, is_model_output, kind, nodes_calling, use_count

aten = torch.ops.aten
Plan = Tuple[fx.Node, fx.Node, str]  # linear, activation, activation name


def _plan(state: PassState, linear: fx.Node) -> Union[Plan, str]:
    args = arguments(linear)
    if state.constant_tensor(args[1]) is None:
        return "weight is not a constant (frozen parameter)"
    if not state.has_constant_weight_and_bias(args, 2):
        return "weight or bias is not a constant float tensor of one dtype"
    if not state.has_supported_type(args[0]):
        return "its input is not a tensor of a dtype and device the fused ops take"
    uses = use_count(linear)
    if uses != 1:
        return f"output has {uses} users; fusing would compute it twice"
    user = next(iter(linear.users))
    if is_model_output(user):
        return "nothing follows it but the model's output"
    name = match_epilogue_activation(state, user) if user.args and user.args[0] is linear else None
    if name is None:
        if is_add(user):
            return "followed by an add: linear + add is not fused, only linear + activation"
        if is_activation_with_other_constants(state, user):
            return f"followed by {kind(user)} with constants that are not a supported activation"
        return f"no activation follows the linear: its output goes straight to {kind(user)}"
    if state.written_between(linear, user, [args[0]]):
        return "its input is written in place before the fused op would run"
    return linear, user, name


def fuse_linear_activation(state: PassState) -> Dict[str, int]:
    plans: List[Plan] = []
    for linear in nodes_calling(state.graph, aten.linear.default):
        planned = _plan(state, linear)
        if isinstance(planned, str):
            state.refuse(linear, planned)
        else:
            plans.append(planned)
    fused: Dict[str, int] = {}
    for linear, activation, name in plans:
        with state.graph.inserting_before(activation):
            node = state.graph.call_function(torch.ops.ifx.linear_act.default, tuple(arguments(linear)) + (name,))
        if "val" in activation.meta:
            node.meta["val"] = activation.meta["val"]
        activation.replace_all_uses_with(node)
        state.erase_dead([activation, linear])
        fused[f"linear+{name}"] = fused.get(f"linear+{name}", 0) + 1
    return fused
