"""Serving through Triton Inference Server's PyTorch backend.

export_triton writes a model repository entry: <repo>/<name>/config.pbtxt and either
<repo>/<name>/1/model.pt, the optimized TorchScript module (the default; platform
"pytorch_libtorch", the backend's TorchScript runtime), or, with frontend="export",
<repo>/<name>/1/model.pt2, an AOTInductor package of the torch.export result (platform
"torch_aoti", the same PyTorch backend's AOTInductor runtime, in beta from Triton 26.03).
Both run once the ifx op library is preloaded into the server (LD_PRELOAD), which registers the
ifx:: ops the saved graph calls.
"""
import os
from typing import Optional, Sequence

import torch

from .graph_replay import CudaGraphModule
from .optimize import optimize, torchscript_warnings_silenced

# config.pbtxt's platform for each file form: Triton's PyTorch backend picks its runtime by it.
PLATFORMS = {"torchscript": "pytorch_libtorch", "export": "torch_aoti"}

TRITON_TYPES = {
    torch.float32: "TYPE_FP32", torch.float16: "TYPE_FP16", torch.bfloat16: "TYPE_BF16", torch.float64: "TYPE_FP64",
    torch.int64: "TYPE_INT64", torch.int32: "TYPE_INT32", torch.int16: "TYPE_INT16", torch.int8: "TYPE_INT8",
    torch.uint8: "TYPE_UINT8", torch.bool: "TYPE_BOOL",
}


def export_triton(model: torch.nn.Module, repo_dir: str, name: str, max_batch_size: int = 8,
                  example_inputs=None, instance_kind: Optional[str] = None, instance_count: int = 1,
                  frontend: str = "torchscript") -> str:
    """Optimize ``model`` (unless it already is an ifx_torch-optimized module) and write it as
    Triton model ``name`` under ``repo_dir``. ``example_inputs`` (a tensor or a tuple of tensors,
    batched when ``max_batch_size`` > 0) fix the inputs' dtypes and dims; the outputs' come from
    running the model on them. ``frontend="export"`` writes the AOTInductor package form
    (model.pt2, platform "torch_aoti"; with max_batch_size > 1 its batch dimension is exported
    dynamic); the default writes TorchScript (model.pt, platform "pytorch_libtorch"). Returns the
    model's directory and prints how to start Triton."""
    if frontend not in PLATFORMS:
        raise ValueError(f"ifx_torch.export_triton: frontend must be 'torchscript' or 'export', not {frontend!r}")
    if example_inputs is None:
        raise ValueError("ifx_torch.export_triton: pass example_inputs=(tensor, ...) so the config can state "
                         "the inputs' and outputs' dtypes and dims")
    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise TypeError("ifx_torch.export_triton: example_inputs must be a tensor or a tuple of tensors "
                        "(Triton's libtorch backend passes positional tensors)")
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"ifx_torch.export_triton: '{name}' is not a usable model name")
    if max_batch_size < 0:
        raise ValueError("ifx_torch.export_triton: max_batch_size must be >= 0 (0: no batching dimension)")
    if max_batch_size > 0 and any(t.dim() == 0 or t.shape[0] > max_batch_size for t in inputs):
        raise ValueError(f"ifx_torch.export_triton: with max_batch_size={max_batch_size} every example input needs "
                         f"a leading batch dimension of at most {max_batch_size}")
    module = _optimized(model, inputs) if frontend == "torchscript" else _exported(model, inputs, max_batch_size)
    with torch.no_grad():
        outputs = module(*inputs)
    outputs = (outputs,) if isinstance(outputs, torch.Tensor) else outputs
    if not isinstance(outputs, (tuple, list)) or not all(isinstance(t, torch.Tensor) for t in outputs):
        raise TypeError("ifx_torch.export_triton: the model must return a tensor or a tuple of tensors for "
                        f"Triton's libtorch backend, got {type(outputs).__name__}")
    kind = instance_kind or ("KIND_GPU" if inputs[0].is_cuda else "KIND_CPU")
    model_dir = os.path.join(repo_dir, name)
    os.makedirs(os.path.join(model_dir, "1"), exist_ok=True)
    if frontend == "torchscript":
        with torchscript_warnings_silenced():
            torch.jit.save(module, os.path.join(model_dir, "1", "model.pt"))
    else:
        from .export_frontend import save_package
        save_package(module, os.path.join(model_dir, "1", "model.pt2"))
    with open(os.path.join(model_dir, "config.pbtxt"), "w") as f:
        f.write(triton_config(name, max_batch_size, inputs, outputs, kind, instance_count, PLATFORMS[frontend]))
    server = "" if frontend == "torchscript" else " (26.03 or later: the PyTorch backend's torch_aoti platform)"
    print(f"wrote Triton model '{name}' to {model_dir}\n"
          f"start Triton{server} with the ifx op library preloaded (build it with `make build-cpp`, or install\n"
          "the C++ package with `cmake --install build/cmake --prefix PREFIX`):\n"
          f"  LD_PRELOAD=PREFIX/lib/libifx_torch.so tritonserver --model-repository={os.path.abspath(repo_dir)}")
    return model_dir


def _optimized(model: torch.nn.Module, inputs) -> torch.jit.ScriptModule:
    if isinstance(model, CudaGraphModule):  # graphs are not serialised: save the module inside
        return model.module
    if isinstance(model, torch.jit.ScriptModule) and model._c.hasattr("ifx_report"):
        return model
    return optimize(model, inputs, cuda_graphs=False)


def _exported(model: torch.nn.Module, inputs, max_batch_size: int):
    """The export front end's result, with a dynamic batch dimension when Triton may batch more
    than one request (an example batch of 1 is repeated to 2 for the export: torch.export
    specializes size 1)."""
    from .export_frontend import ExportedModule
    if isinstance(model, CudaGraphModule):
        model = model.module
    dynamic = max_batch_size > 1
    if isinstance(model, ExportedModule):
        if dynamic and model.dynamic_shapes is None:
            raise ValueError(f"ifx_torch.export_triton: with max_batch_size={max_batch_size} the batch dimension must "
                             "be dynamic, but this module was exported with a static one (optimize it with "
                             "frontend='export', dynamic_batch=True)")
        return model
    if dynamic and inputs[0].shape[0] == 1:
        inputs = tuple(torch.cat([t, t]) for t in inputs)
    return optimize(model, inputs, cuda_graphs=False, frontend="export", dynamic_batch=dynamic)


def _tensor_entries(prefix: str, tensors: Sequence[torch.Tensor], batched: bool) -> str:
    entries = []
    for index, tensor in enumerate(tensors):
        if tensor.dtype not in TRITON_TYPES:
            raise TypeError(f"ifx_torch.export_triton: {prefix}__{index} has dtype {tensor.dtype}, which Triton "
                            "does not take")
        dims = list(tensor.shape[1:] if batched else tensor.shape)
        entries.append("  {\n"
                       f"    name: \"{prefix}__{index}\"\n"
                       f"    data_type: {TRITON_TYPES[tensor.dtype]}\n"
                       f"    dims: [ {', '.join(str(d) for d in dims)} ]\n"
                       "  }")
    return ",\n".join(entries)


def triton_config(name: str, max_batch_size: int, inputs, outputs, kind: str, count: int,
                  platform: str = "pytorch_libtorch") -> str:
    """config.pbtxt in protobuf text format, with the PyTorch backend's ordinal INPUT__i / OUTPUT__i
    names (which its torch_aoti platform also takes, from Triton 26.05). The package form names the
    backend ("pytorch") as well, as the backend's own torch_aoti example does."""
    batched = max_batch_size > 0
    backend = "backend: \"pytorch\"\n" if platform == "torch_aoti" else ""
    return (f"name: \"{name}\"\n"
            f"{backend}platform: \"{platform}\"\n"
            f"max_batch_size: {max_batch_size}\n"
            f"input [\n{_tensor_entries('INPUT', inputs, batched)}\n]\n"
            f"output [\n{_tensor_entries('OUTPUT', outputs, batched)}\n]\n"
            f"instance_group [\n  {{\n    count: {count}\n    kind: {kind}\n  }}\n]\n")
