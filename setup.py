"""Builds the ifx_torch Python package and its extension ifx_torch._C.

CUDA sources are compiled when the installed torch has CUDA and nvcc is found
(IFX_TORCH_CPU_ONLY=1 forces a CPU-only build). torch is not declared as a
dependency on purpose: installing must never replace the torch already there.
"""
import glob
import importlib.util
import os

import torch
from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def sources(pattern):
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))


def with_cuda():
    if os.environ.get("IFX_TORCH_CPU_ONLY") == "1":
        return False
    return torch.version.cuda is not None and CUDA_HOME is not None


def cutlass_include_dir():
    """CUTLASS's C++ headers, from the nvidia-cutlass wheel (the implicit-GEMM convolution kernels
    instantiate its templates). Found without importing cutlass_library, which pulls in cuda-python."""
    spec = importlib.util.find_spec("cutlass_library")
    if spec is not None and spec.submodule_search_locations:
        include = os.path.join(list(spec.submodule_search_locations)[0], "source", "include")
        if os.path.isfile(os.path.join(include, "cutlass", "cutlass.h")):
            return include
    raise RuntimeError("CUTLASS headers not found; install them with: "
                       "pip install --no-deps nvidia-cutlass==4.2.0.0")


def cudnn_paths():
    """cmake/cudnn_paths.py, the one place that finds cuDNN and cudnn-frontend (CMake runs it too)."""
    spec = importlib.util.spec_from_file_location("cudnn_paths", os.path.join(ROOT, "cmake", "cudnn_paths.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def use_hopper_arch_variant():
    """The Hopper GEMM kernels (csrc/kernels/hopper_gemm_*.cu) exist only as sm_90a code, which
    runs on the same GPUs as sm_90 code: every 9.0 in TORCH_CUDA_ARCH_LIST becomes 9.0a. Unset, the
    list is this machine's GPUs, or 9.0a where none is visible (torch's own default would name
    plain 9.0, which those kernels refuse to build for)."""
    arch_list = os.environ.get("TORCH_CUDA_ARCH_LIST", "").replace(";", " ").split()
    if not arch_list:
        arch_list = sorted({"%d.%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())}
                           or {"9.0"})
    arch_list = ["9.0a" + arch[3:] if arch.startswith("9.0") and not arch.startswith("9.0a") else arch
                 for arch in arch_list]
    os.environ["TORCH_CUDA_ARCH_LIST"] = " ".join(arch_list)
    print("ifx_torch: building CUDA kernels for TORCH_CUDA_ARCH_LIST=%s" % os.environ["TORCH_CUDA_ARCH_LIST"])


def extension():
    cpu_sources = [s for s in sources("csrc/ops/*.cpp") if not s.endswith("_cuda.cpp")]
    cpu_sources += sources("csrc/passes/*.cpp") + sources("csrc/api/*.cpp") + ["csrc/python/module.cpp"]
    include_dirs = [os.path.join(ROOT, "csrc"), os.path.join(ROOT, "csrc", "include")]
    # No -std flag: torch.utils.cpp_extension picks the standard this torch's headers need.
    cxx_flags = ["-O3"]
    if not with_cuda():
        return CppExtension("ifx_torch._C", cpu_sources, include_dirs=include_dirs,
                            extra_compile_args={"cxx": cxx_flags})
    cuda_sources = sources("csrc/ops/*_cuda.cpp") + sources("csrc/kernels/*.cu")
    use_hopper_arch_variant()
    # CUTLASS's headers call constexpr host functions from device code. NDEBUG: CUTLASS's device
    # asserts are calls, which make ptxas serialize the Hopper kernels' warp-group MMAs.
    nvcc_flags = ["-O3", "-DNDEBUG", "--expt-relaxed-constexpr"]
    include_dirs.append(cutlass_include_dir())
    # The cudnn_graph conv path: cuDNN's graph API through cudnn-frontend's headers, linked against
    # the libcudnn torch loads.
    paths = cudnn_paths()
    cudnn_include, cudnn_library = paths.cudnn_dirs()
    include_dirs += [cudnn_include, paths.cudnn_frontend_include_dir()]
    return CUDAExtension("ifx_torch._C", cpu_sources + cuda_sources, include_dirs=include_dirs,
                         define_macros=[("IFX_TORCH_WITH_CUDA", "1")], extra_objects=[cudnn_library],
                         extra_compile_args={"cxx": cxx_flags, "nvcc": nvcc_flags})


setup(
    name="ifx_torch",
    version="0.1.0",
    description="TorchScript fusion passes and fused CUDA ops that make PyTorch CNNs faster",
    package_dir={"": "python"},
    packages=find_packages("python"),
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    python_requires=">=3.9",
    zip_safe=False,
)
