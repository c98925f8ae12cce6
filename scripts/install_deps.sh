#!/usr/bin/env bash
# Installs what `make test` / `make demo` need and the machine lacks; touches
# nothing that is present (the GPU machine has torch and no package registry).
set -euo pipefail
PYTHON=${PYTHON:-python3}

has_module() { "$PYTHON" -c "import $1" 2>/dev/null; }

# torch==2.13.0 resolves to the local CPU wheel on the dev/CI machines; a bare
# `torch` would pull a CUDA build with several GB of packages.
has_module torch || "$PYTHON" -m pip install torch==2.13.0
has_module pytest || "$PYTHON" -m pip install pytest
has_module setuptools || "$PYTHON" -m pip install setuptools
command -v cmake >/dev/null || "$PYTHON" -m pip install cmake
command -v ninja >/dev/null || "$PYTHON" -m pip install ninja
# CUTLASS's C++ headers for the kernels. --no-deps: its Python side (and the
# cuda-python it wants) is never used. IFX_CUTLASS_WHEEL may name a local copy
# of the wheel for machines without a package registry.
"$PYTHON" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('cutlass_library') is None)" ||
  "$PYTHON" -m pip install --no-deps "${IFX_CUTLASS_WHEEL:-nvidia-cutlass==4.2.0.0}"

# cudnn-frontend's C++ headers for the cudnn_graph conv path, where torch has CUDA (a CPU build
# compiles no CUDA op). 1.18.0: later releases also need NVRTC's headers. --no-deps: only the
# headers are used. IFX_CUDNN_FRONTEND_WHEEL may name a local copy.
if "$PYTHON" -c "import sys, torch; sys.exit(torch.version.cuda is None)"; then
  "$PYTHON" -c "import importlib.metadata as m; m.distribution('nvidia-cudnn-frontend')" 2>/dev/null ||
    "$PYTHON" -m pip install --no-deps "${IFX_CUDNN_FRONTEND_WHEEL:-nvidia-cudnn-frontend==1.18.0}"
fi

# Triton's own config.pbtxt schema for the tests: tritonclient ships it as
# tritonclient/grpc/model_config_pb2.py, generated code that needs protobuf >= 6.33.5 of major 6.
# --no-deps: nothing of the client side (grpcio, numpy, ...) is used.
has_module google.protobuf || "$PYTHON" -m pip install "protobuf>=6.33.5,<7"
"$PYTHON" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('tritonclient') is None)" ||
  "$PYTHON" -m pip install --no-deps "tritonclient==2.73.0"

if [ ! -f /usr/include/gtest/gtest.h ] && [ -z "${GTEST_ROOT:-}" ] && command -v apt-get >/dev/null; then
  # Offline machines fail fast here; the C++ tests are then skipped (an error on CI).
  if timeout 120 apt-get update -qq && timeout 300 apt-get install -y -qq libgtest-dev >/dev/null; then
    echo "installed libgtest-dev"
  else
    echo "note: could not install libgtest-dev (no package registry?)"
  fi
fi
