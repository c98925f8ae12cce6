"""Contract: removes ``aten.clone`` calls that copy an intermediate value nothing else can see:
the form export's inference decompositions give an eval-mode dropout, which TorchScript's freeze
removes (so the two front ends run the same kernels). A clone stays where the copy can be
observed: a clone of an input or a weight (the caller's tensor or a constant), of a value the
program writes, one to another memory format, and one the model returns (its output must not
alias another value). Values are unchanged either way. Returns the number removed; reports do not
count them, as they are no fusion."""
import torch
from torch import fx

from .graph import PassState, nodes_calling


def drop_identity_clones(state: PassState) -> int:
    removed = 0
    for clone in nodes_calling(state.graph, torch.ops.aten.clone.default):
        source = clone.args[0]
        if clone.kwargs.get("memory_format") not in (None, torch.preserve_format):
            continue
        if not isinstance(source, fx.Node) or source.op != "call_function":
            continue
        if any(user.op == "output" for user in clone.users):
            continue
        if state.is_written(source) or state.is_written(clone):
            continue
        clone.replace_all_uses_with(source)
        state.graph.erase_node(clone)
        removed += 1
    return removed
