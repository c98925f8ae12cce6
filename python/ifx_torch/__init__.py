"""ifx_torch: fused ops and TorchScript passes that make PyTorch CNNs faster.

    opt = ifx_torch.optimize(model.eval())
    print(ifx_torch.report(opt))

Importing the package registers the ``torch.ops.ifx`` operators, which a saved
optimized model needs when it is loaded with ``torch.jit.load``.
"""
import torch  # noqa: F401  (loads libtorch before the extension)

from . import _C  # noqa: F401  (registers torch.ops.ifx.*)
from .explain import Explanation, explain
from .graph_replay import CudaGraphModule
from .optimize import optimize
from .report import Report, report
from .triton import export_triton

__all__ = ["optimize", "report", "explain", "export_triton", "Report", "Explanation", "CudaGraphModule"]
__version__ = "0.1.0"
