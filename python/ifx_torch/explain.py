"""ifx_torch.explain: the per-operator analysis of the seed article, for any model.

What the frozen graph ran before and after the passes, each fused pattern with its count, and
for every operator that could have been part of a pattern but was left alone, the reason the
pass that looked at it recorded (the optimize report's ``unfused`` list).
"""
import dataclasses
from typing import Dict, List, Tuple

import torch

from .optimize import optimize
from .report import report


@dataclasses.dataclass(frozen=True)
class Explanation:
    ops_before: Dict[str, int]
    ops_after: Dict[str, int]
    fused: Dict[str, int]
    unfused: List[Tuple[str, str]]  # (operator, why it was left alone)

    def __str__(self) -> str:
        total_before, total_after = sum(self.ops_before.values()), sum(self.ops_after.values())
        lines = [f"operators: {total_before} -> {total_after}", "fused patterns:"]
        lines += [f"  {pattern:28s} {count}" for pattern, count in sorted(self.fused.items()) if count]
        lines.append("operator histogram (before -> after):")
        for kind in sorted(set(self.ops_before) | set(self.ops_after)):
            lines.append(f"  {kind:28s} {self.ops_before.get(kind, 0):4d} -> {self.ops_after.get(kind, 0):4d}")
        if self.unfused:
            lines.append("left unfused:")
            counts: Dict[Tuple[str, str], int] = {}
            for item in self.unfused:
                counts[item] = counts.get(item, 0) + 1
            lines += [f"  {kind}: {why}" + (f" (x{n})" if n > 1 else "") for (kind, why), n in counts.items()]
        return "\n".join(lines)


def explain(model: torch.nn.Module, example_inputs=None, **optimize_options) -> Explanation:
    """Optimize ``model`` (as ``ifx_torch.optimize`` would, without graph replay) and explain the
    result: operator histogram before and after, fused patterns, and what stayed unfused and why.
    ``frontend="export"`` (with ``example_inputs``) explains the torch.export front end's result, in
    the same terms (docs/export.md lists where the two differ)."""
    optimize_options["cuda_graphs"] = False
    summary = report(optimize(model, example_inputs, **optimize_options))
    return Explanation(summary.ops_before, summary.ops_after, summary.fused, list(summary.unfused))
