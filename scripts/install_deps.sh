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

if [ ! -f /usr/include/gtest/gtest.h ] && [ -z "${GTEST_ROOT:-}" ] && command -v apt-get >/dev/null; then
  # Offline machines fail fast here; the C++ tests are then skipped (an error on CI).
  if timeout 120 apt-get update -qq && timeout 300 apt-get install -y -qq libgtest-dev >/dev/null; then
    echo "installed libgtest-dev"
  else
    echo "note: could not install libgtest-dev (no package registry?)"
  fi
fi
