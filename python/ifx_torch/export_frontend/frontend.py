"""The torch.export front end of ifx_torch.optimize: the same fusions as the TorchScript pipeline
(csrc/passes/pipeline.cpp), on an FX graph, without any torch.jit call.

    torch.export.export (a dynamic batch dimension where the model allows it)
    -> run_decompositions({})        functional ATen ops; composite ops kept as the model wrote
                                     them (conv2d, linear, hardswish, relu6, ...), which is what the
                                     passes match; batch_norm becomes _native_batch_norm_legit_no_training
    -> .module()                     weights and buffers as get_attr constants
    -> drop_identity_clones           eval-mode dropout's clone, which TorchScript's freeze removes
    -> fuse_hardswish, fuse_hardsigmoid, fold_conv_batchnorm, fuse_conv_epilogue,
       fuse_linear_activation, fuse_squeeze_excitation, channels_last_convs, fuse_depthwise_squeeze,
       use_ifx_max_pool (one file each)
    -> refresh_recorded_values       each node's fake output again, as the rewritten graph produces it
    -> fuse_multiply_add             add(a, mul(b, c)) as one addcmul, which TorchScript's NNC fuses on CUDA
    -> _detach_parameters            the weights it reads as detached buffers, as frozen constants
    -> ExportedModule                runs the fused graph; ifx_torch.report / explain read its report,
                                     ifx_torch.save_package compiles it into an AOTInductor .pt2
"""
import contextlib
import json
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import fx

from .channels_last_convs import use_channels_last_convs
from .drop_identity_clones import drop_identity_clones
from .fold_conv_batchnorm import fold_conv_batchnorm
from .fuse_conv_epilogue import fuse_conv_epilogue
from .fuse_depthwise_squeeze import fuse_depthwise_squeeze
from .fuse_hardsigmoid import fuse_hardsigmoid
from .fuse_hardswish import fuse_hardswish
from .fuse_linear_activation import fuse_linear_activation
from .fuse_multiply_add import fuse_multiply_add
from . import fuse_squeeze_excitation as squeeze_excitation
from .graph import PassState, op_histogram
from .refresh_recorded_values import refresh_recorded_values
from .use_ifx_max_pool import use_ifx_max_pool

# Nothing decomposed beyond what functionalization needs: CompositeImplicit ops that are
# functional (conv2d, linear, hardswish, hardsigmoid, relu6, hardtanh, silu, adaptive_avg_pool2d,
# ...) stay as the model spelled them, so the passes see what the TorchScript passes see.
DECOMPOSITIONS: Dict[Any, Any] = {}


class ExportedModule(torch.nn.Module):
    """What ``ifx_torch.optimize(model, example_inputs, frontend="export")`` returns: an
    ``nn.Module`` that runs the fused FX graph (``graph_module``; its ``graph`` and ``code`` are
    here too). ``ifx_report`` is the JSON report ``ifx_torch.report`` reads; ``example_inputs`` and
    ``dynamic_shapes`` are what ``ifx_torch.save_package`` exports the graph with again."""

    def __init__(self, graph_module: fx.GraphModule, report_json: str, example_inputs: Tuple[Any, ...],
                 dynamic_shapes: Optional[Tuple[Any, ...]]):
        super().__init__()
        self.graph_module = graph_module
        self.ifx_report = report_json
        self.example_inputs = example_inputs
        self.dynamic_shapes = dynamic_shapes
        self.training = False  # not .eval(): an exported graph module refuses train() / eval()

    def train(self, mode: bool = True) -> "ExportedModule":
        if mode:
            raise RuntimeError("ifx_torch: an optimized module is for inference; it has no training mode")
        return self

    @property
    def graph(self) -> fx.Graph:
        return self.graph_module.graph

    @property
    def code(self) -> str:
        return self.graph_module.code

    def forward(self, *args, **kwargs):
        return self.graph_module(*args, **kwargs)


def _as_tuple(example_inputs) -> Tuple[Any, ...]:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    return tuple(example_inputs)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _batch_dynamic_shapes(args: Sequence[Any]) -> Optional[Tuple[Any, ...]]:
    """One shared dynamic batch dimension for every tensor argument, when they all have a leading
    dimension of one size of at least 2 (export specializes sizes 0 and 1); else None."""
    sizes = {a.shape[0] for a in args if isinstance(a, torch.Tensor) and a.dim() > 0}
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if len(sizes) != 1 or next(iter(sizes)) < 2 or any(t.dim() == 0 for t in tensors):
        return None
    batch = torch.export.Dim("batch", min=1)
    return tuple({0: batch} if isinstance(a, torch.Tensor) else None for a in args)


@contextlib.contextmanager
def torch_internal_notices_silenced():
    """Drops a deprecation notice torch 2.13's own export code raises about itself (its pytree
    specs' LeafSpec check), which says nothing about the user's model."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
        yield


def _export(model: torch.nn.Module, args: Tuple[Any, ...], dynamic_batch: Optional[bool]):
    name = type(model).__name__
    dynamic_shapes = _batch_dynamic_shapes(args) if dynamic_batch is not False else None
    if dynamic_batch and dynamic_shapes is None:
        raise ValueError("ifx_torch.optimize: dynamic_batch=True needs every example input to be a tensor with a "
                         "leading batch dimension, all of one size of at least 2 (torch.export specializes 1)")
    if dynamic_shapes is not None:
        try:
            return torch.export.export(model, args, dynamic_shapes=dynamic_shapes), dynamic_shapes
        except Exception as error:  # the model fixes its batch size (a view to [2, ...], say)
            if dynamic_batch:
                raise RuntimeError(f"ifx_torch.optimize: {name} does not allow a dynamic batch dimension under "
                                   f"torch.export: {_first_line(error)}") from error
    try:
        return torch.export.export(model, args), None
    except Exception as error:
        raise RuntimeError(
            f"ifx_torch.optimize(frontend='export'): torch.export cannot export {name}: {_first_line(error)}. "
            "Data-dependent control flow needs torch.cond, and Python-side effects must go; or leave "
            "frontend='torchscript' (the default) to script or trace the model instead.") from error


def _owner_and_attribute(gm: fx.GraphModule, name: str) -> Tuple[torch.nn.Module, str]:
    """The submodule holding the parameter or buffer ``name`` ("layer1.0.conv.weight"), and its
    attribute name there."""
    owner_path, _, attribute = name.rpartition(".")
    return (gm.get_submodule(owner_path) if owner_path else gm), attribute


def _remove_unused_constants(gm: fx.GraphModule) -> None:
    """Drops get_attr nodes nothing reads any more (weights a batch norm was folded into) and the
    parameters and buffers no get_attr reads, so a saved package holds only what it uses."""
    for node in list(gm.graph.nodes):
        if node.op == "get_attr" and not node.users:
            gm.graph.erase_node(node)
    used = {node.target for node in gm.graph.nodes if node.op == "get_attr"}
    for name, _ in list(gm.named_parameters()) + list(gm.named_buffers()):
        if name not in used:
            delattr(*_owner_and_attribute(gm, name))


def _detach_parameters(gm: fx.GraphModule) -> None:
    """The weights the graph still reads become buffers holding detached tensors (the same
    memory), as a frozen TorchScript module's constants are: a call then records autograd only
    where an input requires grad. Recording the parameters' ops on every call kept each
    intermediate alive for a backward that never came. The user's model keeps its parameters."""
    detached: Dict[int, torch.Tensor] = {}  # tied weights stay one tensor
    for name, parameter in list(gm.named_parameters(remove_duplicate=False)):
        owner, attribute = _owner_and_attribute(gm, name)
        delattr(owner, attribute)
        owner.register_buffer(attribute, detached.setdefault(id(parameter), parameter.detach()))


def run_passes(state: PassState, fuse_layers: bool, fuse_squeeze_excitation: bool, conv_layout: str) -> Dict[str, int]:
    """The passes in the TorchScript pipeline's order; returns {pattern: count}."""
    drop_identity_clones(state)  # what freeze does to dropout on the TorchScript side
    state.renumber()
    # Hardswish first: it absorbs the hardsigmoid inside x * hardsigmoid(x).
    fused = {"hardswish": fuse_hardswish(state), "hardsigmoid": fuse_hardsigmoid(state)}
    if fuse_layers:
        # After the activation fusions, so a conv's hardswish is one node to absorb.
        folded = fold_conv_batchnorm(state)
        if folded:
            fused["conv+batch_norm"] = folded
        state.renumber()
        fused.update(fuse_conv_epilogue(state))
        state.renumber()
        fused.update(fuse_linear_activation(state))
        if fuse_squeeze_excitation:
            state.renumber()
            blocks = squeeze_excitation.fuse_squeeze_excitation(state)
            if blocks:
                fused["squeeze_excite"] = blocks
        use_channels_last_convs(state, conv_layout, torch.backends.cudnn.allow_tf32)
        taken = fuse_depthwise_squeeze(state)
        if taken:
            fused["squeeze_in_depthwise_conv"] = taken
        pools = use_ifx_max_pool(state)  # last, as in the TorchScript pipeline
        if pools:
            fused["max_pool2d"] = pools
    # Not a pass of the TorchScript pipeline: what its executor's NNC does to mul + add on CUDA at
    # run time, whatever the options. After the conv epilogue fusion, which takes a conv's residual
    # add (the residual may be a mul) first; not counted in the report, as the clones above.
    state.renumber()
    refresh_recorded_values(state)  # the layouts the rewritten graph produces, which the next pass reads
    fuse_multiply_add(state)
    return dict(sorted(fused.items()))


def optimize_exported(model: torch.nn.Module, example_inputs, fuse_aten_activations: bool = True,
                      fuse_layers: bool = True, fuse_squeeze_excitation: bool = True, conv_layout: str = "auto",
                      dynamic_batch: Optional[bool] = None) -> ExportedModule:
    """The export front end; ``ifx_torch.optimize(..., frontend="export")`` calls it after its
    common checks (eval mode, an nn.Module)."""
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError("ifx_torch.optimize(frontend='export'): this is a TorchScript module; torch.export takes "
                        "the eager nn.Module it came from")
    if example_inputs is None:
        raise ValueError("ifx_torch.optimize(frontend='export'): pass example_inputs=(tensor, ...): torch.export "
                         "traces the model on them (a tensor, or a tuple of positional arguments)")
    args = _as_tuple(example_inputs)
    with torch_internal_notices_silenced():
        exported, dynamic_shapes = _export(model, args, dynamic_batch)
        gm = exported.run_decompositions(DECOMPOSITIONS).module()
    ops_before = op_histogram(gm.graph)
    state = PassState(gm, fuse_aten_activations)
    fused = run_passes(state, fuse_layers, fuse_squeeze_excitation, conv_layout)
    unfused: List[List[str]] = state.take_refusals()
    _remove_unused_constants(gm)
    _detach_parameters(gm)
    gm.graph.lint()
    gm.recompile()
    report = {"ops_before": ops_before, "ops_after": op_histogram(gm.graph), "fused": fused, "unfused": unfused,
              "frontend": "export", "dynamic_batch": dynamic_shapes is not None}
    kept = tuple(a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args)
    return ExportedModule(gm, json.dumps(report), kept, dynamic_shapes)
