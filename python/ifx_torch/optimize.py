"""ifx_torch.optimize: script (or trace), freeze, and run the fusion passes."""
import warnings
from typing import Any, Optional, Sequence, Tuple, Union

import torch

from . import _C

ExampleInputs = Union[torch.Tensor, Sequence[Any]]


def optimize(model: torch.nn.Module, example_inputs: Optional[ExampleInputs] = None,
             fuse_aten_activations: bool = True) -> torch.jit.ScriptModule:
    """Return an optimized TorchScript version of ``model`` that computes the same outputs.

    The model must be in eval mode. It is scripted with ``torch.jit.script``; if that fails and
    ``example_inputs`` (a tensor or a tuple of positional arguments) is given, it is traced
    instead, with one warning. It is then frozen and the ifx fusion passes run on its graph.
    The result runs in Python, saves with ``torch.jit.save`` and loads (in Python after
    ``import ifx_torch``, or in C++ linked against libifx_torch). ``ifx_torch.report(result)``
    says what was fused.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"ifx_torch.optimize: expected a torch.nn.Module, got {type(model).__name__}")
    # A frozen ScriptModule (e.g. one optimize returned) has no `training` left: freezing needed eval.
    if getattr(model, "training", False):
        raise RuntimeError("ifx_torch.optimize: the model is in training mode; call model.eval() first "
                           "(the fused ops are for inference and freezing folds batch-norm statistics)")
    scripted = _to_torchscript(model, example_inputs)
    optimized = _C.optimize(scripted._c, fuse_aten_activations)
    return torch.jit._recursive.wrap_cpp_module(optimized)


def _to_torchscript(model: torch.nn.Module, example_inputs: Optional[ExampleInputs]) -> torch.jit.ScriptModule:
    if isinstance(model, torch.jit.ScriptModule):
        return model
    try:
        return torch.jit.script(model)
    except Exception as script_error:  # TorchScript raises several unrelated types
        if example_inputs is None:
            raise RuntimeError(
                f"ifx_torch.optimize: torch.jit.script could not compile {type(model).__name__}; pass "
                "example_inputs=(tensor, ...) with inputs of the shapes the model takes so it can be traced "
                f"instead. Scripting failed with: {_first_line(script_error)}") from script_error
        warnings.warn(f"ifx_torch.optimize: torch.jit.script failed for {type(model).__name__} "
                      f"({_first_line(script_error)}); tracing it with example_inputs instead. A traced model "
                      "follows the control flow those inputs took.", stacklevel=3)
        return torch.jit.trace(model, _as_tuple(example_inputs))


def _as_tuple(example_inputs: ExampleInputs) -> Tuple[Any, ...]:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    return tuple(example_inputs)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
