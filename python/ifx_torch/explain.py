"""ifx_torch.explain: the seed article's per-operator analysis for any model.

What the frozen graph ran before and after the passes, each fused pattern with its count, and
for every operator that could have been part of a pattern but was left alone, the reason.
"""
import dataclasses
from typing import Dict, Iterator, List, Optional, Tuple

import torch

from .optimize import optimize
from .report import report

ACTIVATION_KINDS = {"aten::relu", "aten::relu_", "aten::relu6", "aten::relu6_", "aten::hardtanh", "aten::hardtanh_",
                    "aten::clamp", "aten::clamp_", "aten::clamp_min", "aten::hardswish", "aten::hardswish_",
                    "aten::hardsigmoid", "aten::hardsigmoid_", "aten::silu", "aten::silu_", "aten::sigmoid",
                    "aten::sigmoid_", "ifx::hardswish", "ifx::hardsigmoid"}


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
    result: operator histogram before and after, fused patterns, and what stayed unfused and why."""
    optimize_options["cuda_graphs"] = False
    optimized = optimize(model, example_inputs, **optimize_options)
    summary = report(optimized)
    unfused = [(node.kind(), why) for node, why in _unfused(optimized.graph)]
    return Explanation(summary.ops_before, summary.ops_after, summary.fused, unfused)


def _nodes(block) -> Iterator[torch._C.Node]:
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from _nodes(sub)


def _constant(value) -> Optional[object]:
    if value.node().kind() != "prim::Constant":
        return None
    return value.toIValue()


def _number(value) -> Optional[float]:
    constant = _constant(value)
    if isinstance(constant, torch.Tensor) and constant.dim() == 0:
        return constant.item()
    return constant if isinstance(constant, (int, float)) and not isinstance(constant, bool) else None


def _users(node) -> List[torch._C.Node]:
    return [use.user for use in node.output().uses()]


def _layer_reason(node) -> str:
    if not isinstance(_constant(node.inputsAt(1)), torch.Tensor):
        return "weight is not a constant (frozen parameter)"
    users = _users(node)
    if len(users) != 1:
        return f"output has {len(users)} users; fusing would compute it twice"
    user = users[0]
    if user.kind() == "prim::Return":
        return "nothing follows it but the model's output"
    if user.kind() in ACTIVATION_KINDS:
        return f"followed by {user.kind()} with constants that are not a supported activation"
    if user.kind() in ("aten::add", "aten::add_"):
        return "followed by an add that is not a plain residual (alpha != 1, or the same tensor twice)"
    return f"no activation or residual add follows: its output goes straight to {user.kind()}"


def _clamp_reason(node) -> Optional[str]:
    kind = node.kind()
    if kind.startswith(("aten::hardtanh", "aten::clamp")) and node.inputsSize() >= 3:
        low, high = _number(node.inputsAt(1)), _number(node.inputsAt(2))
        if (low, high) != (0, 6):
            return f"bounds ({low}, {high}) are not (0, 6): neither relu6 nor part of hardswish/hardsigmoid"
    producer = node.inputsAt(0).node()
    if producer.kind() in ("aten::add", "aten::add_"):
        shift = _number(producer.inputsAt(1)) if _number(producer.inputsAt(0)) is None else _number(producer.inputsAt(0))
        if shift is not None and shift != 3:
            return f"clamps x + {shift}: hardswish/hardsigmoid need x + 3"
    return "not part of a complete hardswish/hardsigmoid chain and not after a conv or linear it could join"


def _unfused(graph) -> Iterator[Tuple[torch._C.Node, str]]:
    for node in _nodes(graph):
        kind = node.kind()
        if kind in ("aten::conv2d", "aten::linear"):
            yield node, _layer_reason(node)
        elif kind == "aten::batch_norm":
            producer = node.inputsAt(0).node().kind()
            yield node, (f"input comes from {producer}, not a conv2d" if producer != "aten::conv2d"
                         else "the conv's output has other users, or the statistics are not constants")
        elif kind in ("aten::hardtanh", "aten::hardtanh_", "aten::clamp", "aten::clamp_", "aten::relu6",
                      "aten::relu6_"):
            yield node, _clamp_reason(node)
        elif kind in ("aten::hardswish", "aten::hardsigmoid"):
            yield node, "kept as aten's op (fuse_aten_activations=False), or its input is not a float tensor"
