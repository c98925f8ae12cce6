"""benchmarks/squeeze_side_output.py's split of each ifx::conv2d_act_squeeze_excite back into the
two ops it fuses: the count, the ops left in the graph, and the same outputs (float64, CPU)."""
import importlib.util
import os

import torch

import ifx_torch
from test_depthwise_squeeze import DepthwiseSE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("squeeze_side_output",
                                              os.path.join(ROOT, "benchmarks", "squeeze_side_output.py"))
squeeze_side_output = importlib.util.module_from_spec(spec)
spec.loader.exec_module(squeeze_side_output)


def test_split_blocks_restores_the_two_ops_and_the_outputs():
    torch.manual_seed(0)
    model = torch.nn.Sequential(DepthwiseSE(), DepthwiseSE()).eval().double()
    x = torch.randn(2, 16, 9, 9, dtype=torch.float64)
    fused = ifx_torch.optimize(model)
    split = ifx_torch.optimize(model)
    assert squeeze_side_output.split_blocks(split) == 2
    graph = str(split.graph)
    assert "ifx::conv2d_act_squeeze_excite(" not in graph
    assert graph.count("ifx::squeeze_excite(") == 2
    with torch.no_grad():
        torch.testing.assert_close(split(x), fused(x), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(split(x), model(x), rtol=1e-10, atol=1e-10)
    assert squeeze_side_output.split_blocks(split) == 0  # nothing left to split
