"""Contract: records again what every node of the rewritten graph returns (each node's "val", a fake
tensor: sizes, strides, dtype, device), by running the graph on fake tensors of its inputs, the ifx
ops through their Python fake kernels (symbolic_fake_kernels: a dynamic batch stays symbolic). The
passes before it leave records that the rewritten graph no longer produces: the layout pass makes
conv outputs channels_last without recording it, and on CUDA torch.export records NCHW for convs
that return channels_last (docs/export.md, "Recorded layouts"). fuse_multiply_add, after it, reads
layouts from the records. Changes no node; where the graph cannot be run on fake tensors (an input
without a recorded fake tensor), every record stays as it was. Returns whether it recorded."""
import contextlib

import torch
from torch._guards import detect_fake_mode
from torch.fx.passes.fake_tensor_prop import FakeTensorProp

from .fake_kernels import symbolic_fake_kernels
from .graph import PassState


@contextlib.contextmanager
def _constants_allowed(fake_mode):
    """The graph's constants (get_attr) are real tensors; the fake mode takes them as constants."""
    allowed = fake_mode.allow_non_fake_inputs
    fake_mode.allow_non_fake_inputs = True
    try:
        yield
    finally:
        fake_mode.allow_non_fake_inputs = allowed


def refresh_recorded_values(state: PassState) -> bool:
    graph = state.graph
    inputs = [node.meta.get("val") for node in graph.nodes if node.op == "placeholder"]
    fake_mode = detect_fake_mode([v for v in inputs if isinstance(v, torch.Tensor)])
    if fake_mode is None or any(v is None for v in inputs):
        return False
    before = {node: node.meta.get("val") for node in graph.nodes}
    try:
        with symbolic_fake_kernels(), _constants_allowed(fake_mode):
            FakeTensorProp(state.gm, fake_mode).propagate_dont_convert_inputs(*inputs)
    except Exception:  # a graph the fake kernels cannot run keeps its records, as before this pass
        for node, value in before.items():
            if value is None:
                node.meta.pop("val", None)
            else:
                node.meta["val"] = value
        return False
    return True
