"""Contract: stores the constant weight of each ``ifx.conv2d_act`` / ``aten.conv2d``
channels_last where the kernels run NHWC natively (on CUDA 16-bit weights, and fp32 ones while
cuDNN may use TF32; on the CPU the fp32 weights of ``ifx.conv2d_act`` while torch's oneDNN convs are
available and enabled, so a model with nothing fused stays as it is), so the convs run without
NCHW <-> NHWC transposes; each tensor the graph returns is then wrapped in
``ifx.like_layout(out, first tensor input)`` so outputs keep eager's memory format, and each
``aten.view`` becomes ``aten.reshape`` (the same view where the strides allow one; a copy of the same
values where an NHWC conv output would make the view fail: export spells ``torch.flatten`` of C, H, W
as a view). Where a view shares memory the program writes, nothing is converted. layout
"channels_last" converts every float 4-D weight on any device (tests), "keep" none. Returns how many weights it converted. (TorchScript: csrc/passes/channels_last_convs.cpp.)"""
import torch
from torch import fx

from .graph import PassState, arguments, nodes_calling

aten = torch.ops.aten


def _should_convert(weight: torch.Tensor, fused: bool, layout: str, tf32_allowed: bool) -> bool:
    if weight.dim() != 4 or not weight.is_floating_point():
        return False
    if weight.is_contiguous(memory_format=torch.channels_last):
        return False
    if layout == "channels_last":
        return True
    if layout == "keep":
        return False
    if weight.device.type == "cpu":  # oneDNN runs fp32 convs NHWC without reorders (docs/benchmarks.md, CPU)
        return (fused and weight.dtype == torch.float32 and torch.backends.mkldnn.is_available()
                and torch.backends.mkldnn.enabled)
    if not weight.is_cuda:
        return False
    return weight.dtype in (torch.float16, torch.bfloat16) or (weight.dtype == torch.float32 and tf32_allowed)


def _keep_output_layouts(state: PassState) -> None:
    graph = state.graph
    like = next((n for n in graph.nodes if n.op == "placeholder" and isinstance(n.meta.get("val"), torch.Tensor)),
                None)
    if like is None:
        return
    output = next(n for n in graph.nodes if n.op == "output")

    def wrap(value):
        if isinstance(value, (list, tuple)):
            return type(value)(wrap(v) for v in value)
        if not isinstance(value, fx.Node) or value is like or not isinstance(state.value_of(value), torch.Tensor):
            return value
        with graph.inserting_before(output):
            wrapped = graph.call_function(torch.ops.ifx.like_layout.default, (value, like))
        wrapped.meta["val"] = value.meta.get("val")
        return wrapped

    output.args = wrap(output.args)


def _views_as_reshapes(views) -> None:
    for view in views:
        view.target = aten.reshape.default


def use_channels_last_convs(state: PassState, layout: str, tf32_allowed: bool) -> int:
    views = nodes_calling(state.graph, aten.view.default)
    if any(state.is_written(view) or state.is_written(view.args[0]) for view in views):
        return 0  # a copy in place of that view would change what the program computes
    converted = 0
    for conv in nodes_calling(state.graph, torch.ops.ifx.conv2d_act.default, aten.conv2d.default,
                              aten.conv2d.padding):
        args = arguments(conv)
        weight = state.constant_tensor(args[1])
        if weight is None or not _should_convert(weight, conv.target is torch.ops.ifx.conv2d_act.default, layout,
                                                 tf32_allowed):
            continue
        args[1] = state.add_constant(weight.contiguous(memory_format=torch.channels_last), before=conv)
        conv.args, conv.kwargs = tuple(args), {}
        converted += 1
    if converted:
        _keep_output_layouts(state)
        _views_as_reshapes(views)
    return converted
