"""Where cuDNN's headers and library and cudnn-frontend's headers are, for the cudnn_graph conv path
(csrc/ops/cudnn_graph_conv_cuda.cpp). setup.py imports it; CMake runs it, and it prints the three
paths, one per line. cuDNN: $CUDNN_HOME where set, else the nvidia-cudnn wheel that torch's CUDA build
depends on (the library torch itself loads), else $CUDA_HOME or /usr. cudnn-frontend:
$CUDNN_FRONTEND_INCLUDE where set, else the nvidia-cudnn-frontend wheel."""
import glob
import importlib.metadata
import importlib.util
import os
import sys

FRONTEND_REQUIREMENT = "nvidia-cudnn-frontend==1.18.0"


def _library_in(directory):
    """libcudnn.so, or the highest libcudnn.so.N (the wheel ships only the versioned name)."""
    plain = os.path.join(directory, "libcudnn.so")
    if os.path.isfile(plain):
        return plain
    prefix = os.path.join(directory, "libcudnn.so.")
    versions = []
    for path in glob.glob(prefix + "*"):
        parts = path[len(prefix):].split(".")
        if all(part.isdigit() for part in parts):
            versions.append(([int(part) for part in parts], path))
    return max(versions)[1] if versions else None


def cudnn_dirs():
    """(include directory holding cudnn.h, path of the libcudnn shared library)."""
    roots = [os.environ["CUDNN_HOME"]] if os.environ.get("CUDNN_HOME") else []
    try:
        spec = importlib.util.find_spec("nvidia.cudnn")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        roots += list(spec.submodule_search_locations)
    roots += ([os.environ["CUDA_HOME"]] if os.environ.get("CUDA_HOME") else []) + ["/usr"]
    for root in roots:
        for include in (os.path.join(root, "include"), os.path.join(root, "include", "x86_64-linux-gnu")):
            if not os.path.isfile(os.path.join(include, "cudnn.h")):
                continue
            for lib in ("lib", "lib64", os.path.join("lib", "x86_64-linux-gnu")):
                library = _library_in(os.path.join(root, lib))
                if library:
                    return include, library
    raise RuntimeError("cuDNN's headers and library not found (looked in %s); torch's CUDA wheels bring them "
                       "as the nvidia-cudnn package, or set CUDNN_HOME" % ", ".join(roots))


def cudnn_frontend_include_dir():
    """cudnn-frontend's header directory (cudnn_frontend.h)."""
    candidates = [os.environ["CUDNN_FRONTEND_INCLUDE"]] if os.environ.get("CUDNN_FRONTEND_INCLUDE") else []
    try:
        candidates.append(str(importlib.metadata.distribution("nvidia-cudnn-frontend").locate_file("include")))
    except importlib.metadata.PackageNotFoundError:
        pass
    for include in candidates:
        if os.path.isfile(os.path.join(include, "cudnn_frontend.h")):
            return include
    raise RuntimeError("cudnn-frontend's headers not found; install them with: pip install --no-deps %s "
                       "(or set CUDNN_FRONTEND_INCLUDE)" % FRONTEND_REQUIREMENT)


if __name__ == "__main__":
    try:
        include, library = cudnn_dirs()
        print(include, library, cudnn_frontend_include_dir(), sep="\n")
    except RuntimeError as error:
        sys.exit(str(error))
