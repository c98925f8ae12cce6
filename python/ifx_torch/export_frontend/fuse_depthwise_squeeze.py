"""Contract: replaces ``ifx.squeeze_excite(ifx.conv2d_act(...), fc...)`` by one
``ifx.conv2d_act_squeeze_excite(conv..., fc...)`` where the conv is depthwise (a constant weight
[C, 1, KH, KW] with groups == C) and its output has no other user, so that on CUDA the conv's kernel
also leaves the block's squeeze. The op computes exactly what the two did. Runs after the
squeeze-and-excitation fusion and the layout pass (TorchScript: csrc/passes/fuse_depthwise_squeeze.cpp,
which also lets size reads of the conv output read the block's output; exported graphs read sizes
from the recorded shapes instead). Returns the number of blocks that took their conv."""
import torch

from .graph import PassState, arguments, is_call, nodes_calling, sole_user

ifx = torch.ops.ifx


def _is_depthwise(state: PassState, conv_args) -> bool:
    weight = state.constant_tensor(conv_args[1])
    groups = conv_args[6]
    return (weight is not None and isinstance(groups, int) and weight.dim() == 4 and weight.shape[1] == 1
            and weight.shape[0] == groups)


def fuse_depthwise_squeeze(state: PassState) -> int:
    taken = 0
    for block in nodes_calling(state.graph, ifx.squeeze_excite.default):
        conv = block.args[0]
        if not is_call(conv, ifx.conv2d_act.default) or sole_user(conv) is not block:
            continue
        conv_args = arguments(conv)
        if not _is_depthwise(state, conv_args):
            continue
        with state.graph.inserting_before(block):
            fused = state.graph.call_function(ifx.conv2d_act_squeeze_excite.default,
                                              tuple(conv_args) + tuple(arguments(block)[1:]))
        if "val" in block.meta:
            fused.meta["val"] = block.meta["val"]
        block.replace_all_uses_with(fused)
        state.erase_dead([block, conv])
        taken += 1
    return taken
