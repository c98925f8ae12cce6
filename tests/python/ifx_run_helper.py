"""Where the tests find the C++ program ifx_run (CMake target ifx_run)."""
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ifx_run_path():
    """IFX_RUN when set (`make test` sets it; then it must exist), else the default build
    directory; skips the calling test when ifx_run was not built."""
    path = os.environ.get("IFX_RUN") or os.path.join(ROOT, "build", "cmake", "ifx_run")
    if not os.path.exists(path):
        assert "IFX_RUN" not in os.environ, f"IFX_RUN={path} does not exist"
        pytest.skip("ifx_run is not built (make build-cpp)")
    return path
