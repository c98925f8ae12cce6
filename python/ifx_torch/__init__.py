"""ifx_torch: fused ops and TorchScript passes that make PyTorch CNNs faster.

    opt = ifx_torch.optimize(model.eval())
    print(ifx_torch.report(opt))

    opt = ifx_torch.optimize(model.eval(), (x,), frontend="export")   # torch.export, no TorchScript
    ifx_torch.save_package(opt, "model.pt2")                           # AOTInductor; C++: ifx_torch::load_package

Importing the package registers the ``torch.ops.ifx`` operators, which a saved
optimized model needs when it is loaded with ``torch.jit.load``.
"""
import ctypes

import torch  # noqa: F401  (loads libtorch before the extension)


def _load_cxx_runtime_globally():
    """Puts libstdc++ in the process's global symbol scope before the extension loads.

    Built with a newer g++ than torch's (GCC 13 on the GPU machine), the extension carries its own
    copies of some libstdc++ template statics, such as the locale facet ids. Python loads
    extensions with RTLD_LOCAL, so without the runtime in the global scope the extension's
    references bind to those copies, and formatting a number (an error message naming a size)
    crashed with SIGSEGV inside std::num_put. Seen with torch 2.11 on Ubuntu 24.04; a no-op
    elsewhere."""
    try:
        ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)
    except OSError:  # not a glibc / libstdc++ system: nothing to share
        pass


_load_cxx_runtime_globally()
from . import _C  # noqa: E402,F401  (registers torch.ops.ifx.*)
from ._C import auto_fusion_enabled, disable_auto_fusion, enable_auto_fusion  # noqa: E402  (plugin mode)
from .explain import Explanation, explain
from .export_frontend import ExportedModule, load_package, save_package
from .graph_replay import CudaGraphModule
from .optimize import optimize
from .report import Report, report
from .triton import export_triton

__all__ = ["optimize", "report", "explain", "export_triton", "Report", "Explanation", "CudaGraphModule",
           "enable_auto_fusion", "disable_auto_fusion", "auto_fusion_enabled", "save_package", "load_package",
           "ExportedModule"]
__version__ = "0.1.0"
