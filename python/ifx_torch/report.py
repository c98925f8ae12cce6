"""The record of what ifx_torch.optimize changed in a model."""
import dataclasses
import json
from typing import Dict

import torch

from . import _C
from .graph_replay import CudaGraphModule


@dataclasses.dataclass(frozen=True)
class Report:
    """Operators of the frozen graph before and after the passes, and how many
    chains of each pattern were fused."""

    ops_before: Dict[str, int]
    ops_after: Dict[str, int]
    fused: Dict[str, int]
    graph_replay: bool = False  # the module replays CUDA graphs
    captured_graphs: int = 0  # input signatures with a captured graph now

    @property
    def total_ops_before(self) -> int:
        return sum(self.ops_before.values())

    @property
    def total_ops_after(self) -> int:
        return sum(self.ops_after.values())

    def __str__(self) -> str:
        lines = [f"ops: {self.total_ops_before} -> {self.total_ops_after}"]
        lines += [f"fused {pattern}: {count}" for pattern, count in self.fused.items()]
        if self.graph_replay:
            lines.append(f"graph replay: on, {self.captured_graphs} input signature(s) captured")
        changed = sorted(set(self.ops_before) | set(self.ops_after))
        for kind in changed:
            before, after = self.ops_before.get(kind, 0), self.ops_after.get(kind, 0)
            if before != after:
                lines.append(f"  {kind}: {before} -> {after}")
        return "\n".join(lines)


def report(module) -> Report:
    """The Report that ifx_torch.optimize attached to ``module`` (also after a
    torch.jit.save / torch.jit.load round trip), with the graph-replay state."""
    replay = {}
    if isinstance(module, CudaGraphModule):
        replay = {"graph_replay": True, "captured_graphs": module.captured_graphs}
        module = module.module
    if not isinstance(module, torch.jit.ScriptModule):
        raise TypeError(f"ifx_torch.report: expected a module returned by ifx_torch.optimize, got {type(module).__name__}")
    text = _C.report_json(module._c)
    if not text:
        raise ValueError("ifx_torch.report: this module was not produced by ifx_torch.optimize (it has no ifx report)")
    data = json.loads(text)
    return Report(ops_before=data["ops_before"], ops_after=data["ops_after"], fused=data["fused"], **replay)
