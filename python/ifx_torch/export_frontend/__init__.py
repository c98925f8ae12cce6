"""The torch.export front end of ifx_torch.optimize (``frontend="export"``): FX passes that make the
same fusions as the TorchScript passes, one per module, and the AOTInductor package form
(``save_package`` / ``load_package``). docs/export.md describes both and where they differ from the
TorchScript path."""
from .fake_kernels import symbolic_fake_kernels
from .frontend import ExportedModule, optimize_exported
from .package import export_program, load_package, save_package

__all__ = ["ExportedModule", "optimize_exported", "save_package", "load_package", "export_program",
           "symbolic_fake_kernels"]
