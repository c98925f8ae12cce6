"""Contract: replaces every ``aten.max_pool2d`` call by ``ifx.max_pool2d`` with the same arguments.
The two compute the same values in the same layout on every device; ifx's runs our NHWC kernel where
it covers a CUDA call and ATen's max pool elsewhere (TorchScript: csrc/passes/use_ifx_max_pool.cpp).
Returns the number of calls replaced."""
import torch

from .graph import PassState, nodes_calling


def use_ifx_max_pool(state: PassState) -> int:
    replaced = 0
    for pool in nodes_calling(state.graph, torch.ops.aten.max_pool2d.default):
        with state.graph.inserting_before(pool):
            ours = state.graph.call_function(torch.ops.ifx.max_pool2d.default, pool.args, pool.kwargs)
        ours.meta.update(pool.meta)
        pool.replace_all_uses_with(ours)
        state.graph.erase_node(pool)
        replaced += 1
    return replaced
