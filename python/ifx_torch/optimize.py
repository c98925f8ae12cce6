"""ifx_torch.optimize: script (or trace), freeze, and run the fusion passes; or, with
frontend="export", torch.export and the same passes on its FX graph (ifx_torch.export_frontend)."""
import contextlib
import itertools
import warnings
from typing import Any, Optional, Sequence, Tuple, Union

import torch

from . import _C
from .graph_replay import CudaGraphModule

ExampleInputs = Union[torch.Tensor, Sequence[Any]]


def optimize(model: torch.nn.Module, example_inputs: Optional[ExampleInputs] = None,
             fuse_aten_activations: bool = True, cuda_graphs: Optional[bool] = None, max_graphs: int = 8,
             static_outputs: bool = False, fuse_layers: bool = True, fuse_squeeze_excitation: bool = True,
             conv_layout: str = "auto", frontend: str = "torchscript",
             dynamic_batch: Optional[bool] = None) -> Union[torch.jit.ScriptModule, torch.nn.Module, CudaGraphModule]:
    """Return an optimized TorchScript version of ``model`` that computes the same outputs.

    The model must be in eval mode. It is scripted with ``torch.jit.script``; if that fails and
    ``example_inputs`` (a tensor or a tuple of positional arguments) is given, it is traced
    instead, with one warning. It is then frozen and the ifx fusion passes run on its graph:
    hardswish / hardsigmoid chains become ``ifx::hardswish`` / ``ifx::hardsigmoid``, and, unless
    ``fuse_layers=False``, batch norms fold into convs and each conv2d / linear with its residual
    add and activation becomes one ``ifx::conv2d_act`` / ``ifx::linear_act``, and (unless
    ``fuse_squeeze_excitation=False``) each squeeze-and-excitation block one ``ifx::squeeze_excite``.
    ``conv_layout`` ("auto", "channels_last" or "keep"): with "auto", convs run channels_last
    where the kernels are NHWC: on CUDA 16-bit models, and fp32 ones while
    ``torch.backends.cudnn.allow_tf32`` is on (torch's default); on the CPU the fused fp32 convs
    while torch's oneDNN (``torch.backends.mkldnn``) is available and enabled. Outputs keep eager's layout.
    The result runs in Python, saves with ``torch.jit.save`` and loads (in Python after
    ``import ifx_torch``, or in C++ linked against libifx_torch). ``ifx_torch.report(result)``
    says what was fused.

    ``cuda_graphs`` (default: on for a model on a CUDA device, off otherwise) wraps the result in
    a :class:`ifx_torch.graph_replay.CudaGraphModule`, which captures one CUDA graph per input
    signature (at most ``max_graphs``, least recently used evicted) and replays it. Outputs are
    fresh tensors unless ``static_outputs=True``, which returns the graph's own buffers,
    overwritten by the next call with the same signature. Save it with ``result.save(path)``;
    graphs are captured again after loading.

    ``frontend="export"`` optimizes through ``torch.export`` instead, with no torch.jit call (the
    TorchScript front end, deprecated with TorchScript, says so once per process): ``example_inputs``
    are then required, the same passes run on the exported FX graph, and the result is an
    ``ifx_torch.export_frontend.ExportedModule`` (in a CudaGraphModule on CUDA) that
    ``ifx_torch.save_package`` compiles into an AOTInductor ``.pt2``. ``dynamic_batch`` (export only;
    default: where the model allows it) exports the leading dimension of the tensor inputs as one
    dynamic batch dimension. docs/export.md lists where the two front ends differ.
    """
    if isinstance(model, CudaGraphModule):
        model = model.module
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"ifx_torch.optimize: expected a torch.nn.Module, got {type(model).__name__}")
    # A frozen ScriptModule (e.g. one optimize returned) has no `training` left: freezing needed eval.
    if getattr(model, "training", False):
        raise RuntimeError("ifx_torch.optimize: the model is in training mode; call model.eval() first "
                           "(the fused ops are for inference and freezing folds batch-norm statistics)")
    if frontend not in ("torchscript", "export"):
        raise ValueError(f"ifx_torch.optimize: frontend must be 'torchscript' or 'export', not {frontend!r}")
    if dynamic_batch is not None and frontend != "export":
        raise ValueError("ifx_torch.optimize: dynamic_batch applies to frontend='export' (a TorchScript graph "
                         "takes any batch size)")
    on_cuda = _device_of(model, example_inputs).type == "cuda"
    if cuda_graphs and not on_cuda:
        raise ValueError("ifx_torch.optimize: cuda_graphs=True needs a model on a CUDA device (move it with "
                         "model.cuda(), or pass CUDA example_inputs for a model without parameters)")
    if conv_layout not in _C.OptimizeOptions.Layout.__members__:
        raise ValueError(f"ifx_torch.optimize: conv_layout must be one of "
                         f"{', '.join(_C.OptimizeOptions.Layout.__members__)}, not {conv_layout!r}")
    if frontend == "export":
        from .export_frontend import optimize_exported
        optimized = optimize_exported(model, example_inputs, fuse_aten_activations=fuse_aten_activations,
                                      fuse_layers=fuse_layers, fuse_squeeze_excitation=fuse_squeeze_excitation,
                                      conv_layout=conv_layout, dynamic_batch=dynamic_batch)
    else:
        _warn_torchscript_deprecated()
        with torchscript_warnings_silenced():
            scripted = _to_torchscript(model, example_inputs)
            options = _C.OptimizeOptions()
            options.fuse_aten_activations = fuse_aten_activations
            options.fuse_layers = fuse_layers
            options.fuse_squeeze_excitation = fuse_squeeze_excitation
            options.conv_layout = _C.OptimizeOptions.Layout.__members__[conv_layout]
            optimized = torch.jit._recursive.wrap_cpp_module(_C.optimize(scripted._c, options))
    if cuda_graphs is None:
        cuda_graphs = on_cuda
    if cuda_graphs:
        return CudaGraphModule(optimized, max_graphs=max_graphs, static_outputs=static_outputs)
    return optimized


# torch's notices for its own deprecated TorchScript API (torch 2.13: DeprecationWarning, hidden by
# default; 2.14 and 2.15: FutureWarning, shown on every torch.jit.script / trace / freeze). They are
# about calls this module makes, not the user: optimize says it once, in its own words, instead.
_TORCH_JIT_NOTICE = r"(?s).*(torch\.jit|TorchScript|jit\.)"
_TORCHSCRIPT_NOTICE = (
    "ifx_torch: the TorchScript front end (optimize's default, frontend='torchscript') is built on "
    "torch.jit.script / trace / freeze, which PyTorch has deprecated in favour of torch.export (from torch 2.14 "
    "each call warns; a later release may remove them). Pass frontend='export' (with example_inputs) to get "
    "the same fusions through torch.export, and save the result with ifx_torch.save_package as an "
    "AOTInductor .pt2 that C++ loads with ifx_torch::load_package (docs/export.md).")
_warned_torchscript = False


@contextlib.contextmanager
def torchscript_warnings_silenced():
    """torch's deprecation notices for torch.jit calls made inside the block are dropped; any
    other warning passes. (warnings.catch_warnings swaps the process's filters: not thread-safe.)"""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", message=_TORCH_JIT_NOTICE, category=category)
        yield


def _warn_torchscript_deprecated() -> None:
    """Once per process: a FutureWarning, shown by default, since it replaces torch's own notices,
    which optimize silences, and the action (switching front ends) is the caller's."""
    global _warned_torchscript
    if not _warned_torchscript:
        _warned_torchscript = True
        warnings.warn(_TORCHSCRIPT_NOTICE, FutureWarning, stacklevel=3)


def _device_of(model: torch.nn.Module, example_inputs: Optional[ExampleInputs]) -> torch.device:
    """Where the model's weights live; for a model without any (or a frozen one), where the
    example inputs are; CPU when neither says."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    if example_inputs is not None:
        for leaf in torch.utils._pytree.tree_leaves(_as_tuple(example_inputs)):
            if isinstance(leaf, torch.Tensor):
                return leaf.device
    return torch.device("cpu")


def _to_torchscript(model: torch.nn.Module, example_inputs: Optional[ExampleInputs]) -> torch.jit.ScriptModule:
    if isinstance(model, torch.jit.ScriptModule):
        return model
    try:
        return _script(model)
    except Exception as script_error:  # TorchScript raises several unrelated types
        if example_inputs is None:
            raise RuntimeError(
                f"ifx_torch.optimize: torch.jit.script could not compile {type(model).__name__}; pass "
                "example_inputs=(tensor, ...) with inputs of the shapes the model takes so it can be traced "
                f"instead. Scripting failed with: {_first_line(script_error)}") from script_error
        warnings.warn(f"ifx_torch.optimize: torch.jit.script failed for {type(model).__name__} "
                      f"({_first_line(script_error)}); tracing it with example_inputs instead. A traced model "
                      "follows the control flow those inputs took.", stacklevel=3)
        try:
            return torch.jit.trace(model, _as_tuple(example_inputs))
        except Exception as trace_error:
            raise RuntimeError(
                f"ifx_torch.optimize: {type(model).__name__} can be neither scripted nor traced. Scripting "
                f"failed with: {_first_line(script_error)}; tracing with the example_inputs failed with: "
                f"{_first_line(trace_error)}") from trace_error


def _script(model: torch.nn.Module) -> torch.jit.ScriptModule:
    """torch.jit.script, tried a second time with torch's scripting caches cleared when it fails
    with "... cannot be used as a value". Once (in CI, torch 2.13) that error came from inside
    torch's own nn.Conv2d for a model the same process had scripted three times before; it never
    reproduced. A model with a real error fails the second attempt the same way."""
    try:
        return torch.jit.script(model)
    except RuntimeError as error:
        if "cannot be used as a value" not in str(error):
            raise
    torch.jit._recursive.concrete_type_store = torch.jit._recursive.ConcreteTypeStore()
    return torch.jit.script(model)


def _as_tuple(example_inputs: ExampleInputs) -> Tuple[Any, ...]:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    return tuple(example_inputs)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
