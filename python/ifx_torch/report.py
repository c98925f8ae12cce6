"""The record of what ifx_torch.optimize changed in a model."""
import dataclasses
import json
from typing import Dict, List, Tuple

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
    # (operator, why the pass that looked at it left it alone), for each candidate still in the graph
    unfused: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    graph_replay: bool = False  # the module replays CUDA graphs
    captured_graphs: int = 0  # input signatures with a captured graph now
    frontend: str = "torchscript"  # or "export" (optimize(..., frontend="export"))
    dynamic_batch: bool = False  # export: the batch dimension was exported as dynamic

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
        if self.frontend == "export":
            lines.append(f"front end: torch.export, batch {'dynamic' if self.dynamic_batch else 'static'}")
        changed = sorted(set(self.ops_before) | set(self.ops_after))
        for kind in changed:
            before, after = self.ops_before.get(kind, 0), self.ops_after.get(kind, 0)
            if before != after:
                lines.append(f"  {kind}: {before} -> {after}")
        return "\n".join(lines)


def report(module) -> Report:
    """The Report that ifx_torch.optimize attached to ``module`` (also after a
    torch.jit.save / torch.jit.load round trip, or in a package ifx_torch.save_package wrote and
    ifx_torch.load_package loaded), with the graph-replay state."""
    replay = {}
    if isinstance(module, CudaGraphModule):
        replay = {"graph_replay": True, "captured_graphs": module.captured_graphs}
        module = module.module
    text = _report_text(module)
    if not text:
        raise ValueError("ifx_torch.report: this module was not produced by ifx_torch.optimize (it has no ifx report)")
    data = json.loads(text)
    unfused = [(op, reason) for op, reason in data.get("unfused", [])]  # absent in models saved before it existed
    return Report(ops_before=data["ops_before"], ops_after=data["ops_after"], fused=data["fused"], unfused=unfused,
                  frontend=data.get("frontend", "torchscript"), dynamic_batch=data.get("dynamic_batch", False),
                  **replay)


def _report_text(module) -> str:
    from .export_frontend import ExportedModule
    from .export_frontend.package import REPORT_KEY
    if isinstance(module, torch.jit.ScriptModule):
        return _C.report_json(module._c)
    if isinstance(module, ExportedModule):
        return module.ifx_report
    loader = getattr(module, "loader", None)  # torch._inductor's AOTICompiledModel: a loaded .pt2
    if loader is not None and hasattr(loader, "get_metadata"):
        return loader.get_metadata().get(REPORT_KEY, "")
    raise TypeError(f"ifx_torch.report: expected a module returned by ifx_torch.optimize, got {type(module).__name__}")
