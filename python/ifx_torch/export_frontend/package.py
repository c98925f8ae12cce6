"""ifx_torch.save_package / load_package: an optimized (exported) module as an AOTInductor package.

The fused graph is exported again (its ifx ops under symbolic fake kernels, so a dynamic batch
stays dynamic) and compiled with ``torch._inductor.aoti_compile_and_package``. AOTInductor runs
the ifx ops through its proxy executor: the package's wrapper calls them by name
("ifx::conv2d_act") through the dispatcher, so the process that loads it must have registered them
(``import ifx_torch`` in Python; libifx_torch linked or dlopen-ed in C++, as
``ifx_torch::load_package`` is). The report rides in the package's metadata.
"""
import os
import threading
from typing import Any, Dict, Optional

import torch

from .fake_kernels import symbolic_fake_kernels
from .frontend import ExportedModule, torch_internal_notices_silenced

REPORT_KEY = "ifx_torch.report"
OPS_KEY = "ifx_torch.ops"
HOW_TO_LOAD = ("this package calls ifx_torch's fused ops: load the op library first, with `import ifx_torch` in "
               "Python, or by linking (or dlopen-ing) libifx_torch.so in C++ (ifx_torch::load_package does), "
               "before loading the package")


def _exported_module(optimized) -> ExportedModule:
    from ..graph_replay import CudaGraphModule
    if isinstance(optimized, CudaGraphModule):  # graphs are not saved: save the module inside
        optimized = optimized.module
    if not isinstance(optimized, ExportedModule):
        raise TypeError("ifx_torch.save_package: expected a module from ifx_torch.optimize(..., frontend='export'), "
                        f"got {type(optimized).__name__} (a TorchScript result saves with torch.jit.save)")
    return optimized


def export_program(optimized) -> torch.export.ExportedProgram:
    """The fused graph as an ExportedProgram (custom ops ``torch.ops.ifx.*`` in it), with the
    dynamic batch dimension the module was optimized with."""
    module = _exported_module(optimized)
    with symbolic_fake_kernels(), torch_internal_notices_silenced():
        return torch.export.export(module.graph_module, module.example_inputs, dynamic_shapes=module.dynamic_shapes)


def save_package(optimized, path: str, inductor_configs: Optional[Dict[str, Any]] = None) -> str:
    """Compile ``optimized`` (what ``ifx_torch.optimize(model, example_inputs, frontend="export")``
    returned, or a CudaGraphModule around it) into an AOTInductor package at ``path`` (``.pt2``)
    for the device its weights are on; returns the path. Python loads it with
    ``ifx_torch.load_package`` (or ``torch._inductor.aoti_load_package`` after ``import ifx_torch``),
    C++ with ``ifx_torch::load_package``, Triton's PyTorch backend with ``platform: "torch_aoti"``.
    AOTInductor compiles C++ (and, for CUDA, kernels) here: seconds to minutes."""
    module = _exported_module(optimized)
    if not str(path).endswith(".pt2"):
        raise ValueError(f"ifx_torch.save_package: the path must end in .pt2, got {path!r}")
    program = export_program(module)
    ops = sorted({node.target._schema.name for node in program.graph.nodes
                  if node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload)
                  and node.target._schema.name.startswith("ifx::")})
    configs = dict(inductor_configs or {})
    metadata = dict(configs.get("aot_inductor.metadata", {}))
    metadata.update({REPORT_KEY: module.ifx_report, OPS_KEY: ", ".join(ops), "ifx_torch.how_to_load": HOW_TO_LOAD})
    configs["aot_inductor.metadata"] = metadata
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with symbolic_fake_kernels(), torch_internal_notices_silenced():
        return torch._inductor.aoti_compile_and_package(program, package_path=str(path), inductor_configs=configs)


class LoadedPackage:
    """A loaded package (torch's AOTICompiledModel, whose attributes it passes through) whose calls
    take turns. It runs on AOTInductor's single-threaded runner: the thread-aware one asks the GPU
    whether the previous run finished (cudaEventQuery), which a stream being captured into a CUDA
    graph does not permit, so graph replay could never capture a package. The lock gives back the
    thread safety the single-threaded runner lacks."""

    def __init__(self, compiled):
        self._compiled = compiled
        self._turn = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self._turn:
            return self._compiled(*args, **kwargs)

    def __getattr__(self, name):  # loader, get_metadata, load_constants, ...
        return getattr(self._compiled, name)


def load_package(path: str, device_index: int = -1) -> LoadedPackage:
    """The package at ``path`` as a callable (``torch._inductor.aoti_load_package``), with the ifx
    ops registered (importing this module did). Calls from several threads take turns; graph replay
    (``ifx_torch.CudaGraphModule``) captures it. ``ifx_torch.report`` reads its report."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"ifx_torch.load_package: no such file {path!r}")
    try:
        return LoadedPackage(torch._inductor.aoti_load_package(str(path), run_single_threaded=True,
                                                               device_index=device_index))
    except RuntimeError as error:
        if "Could not find schema for ifx::" in str(error):
            raise RuntimeError(f"ifx_torch.load_package: {path}: {error} ({HOW_TO_LOAD}; this ifx_torch lacks "
                               "that op: the package was saved by another version)") from error
        raise
