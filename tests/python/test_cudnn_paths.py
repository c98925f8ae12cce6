"""cmake/cudnn_paths.py, which setup.py and CMake ask where cuDNN and cudnn-frontend are: each
place it looks, and the error that says what to install when nothing is there."""
import importlib.machinery
import importlib.metadata
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def cudnn_paths():
    spec = importlib.util.spec_from_file_location("cudnn_paths", os.path.join(ROOT, "cmake", "cudnn_paths.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()


def test_cudnn_from_cudnn_home_takes_the_highest_versioned_library(cudnn_paths, tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # no nvidia-cudnn wheel
    _touch(tmp_path / "include" / "cudnn.h")
    for name in ("libcudnn.so.9", "libcudnn.so.10", "libcudnn.so.9.10.0", "libcudnn.so.11.gz"):  # the last: no library
        _touch(tmp_path / "lib64" / name)
    monkeypatch.setenv("CUDNN_HOME", str(tmp_path))
    assert cudnn_paths.cudnn_dirs() == (str(tmp_path / "include"), str(tmp_path / "lib64" / "libcudnn.so.10"))
    _touch(tmp_path / "lib64" / "libcudnn.so")
    assert cudnn_paths.cudnn_dirs()[1] == str(tmp_path / "lib64" / "libcudnn.so")


def test_cudnn_home_comes_before_the_wheel(cudnn_paths, tmp_path, monkeypatch):
    home, wheel = tmp_path / "home", tmp_path / "wheel"
    for root in (home, wheel):
        _touch(root / "include" / "cudnn.h")
        _touch(root / "lib" / "libcudnn.so.9")
    spec = importlib.machinery.ModuleSpec("nvidia.cudnn", None, is_package=True)  # the wheel's package
    spec.submodule_search_locations.append(str(wheel))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    monkeypatch.delenv("CUDNN_HOME", raising=False)
    assert cudnn_paths.cudnn_dirs()[1] == str(wheel / "lib" / "libcudnn.so.9")
    monkeypatch.setenv("CUDNN_HOME", str(home))
    assert cudnn_paths.cudnn_dirs()[1] == str(home / "lib" / "libcudnn.so.9")


def test_cudnn_without_its_library_is_not_found(cudnn_paths, tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(os.path, "isfile", lambda path, isfile=os.path.isfile: isfile(path) and
                        str(path).startswith(str(tmp_path)))  # nothing of /usr or CUDA_HOME counts
    _touch(tmp_path / "include" / "cudnn.h")  # headers, no library
    monkeypatch.setenv("CUDNN_HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match="cuDNN's headers and library not found.*CUDNN_HOME"):
        cudnn_paths.cudnn_dirs()


def test_cudnn_frontend_from_its_variable_or_an_install_hint(cudnn_paths, tmp_path, monkeypatch):
    def no_distribution(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", no_distribution)
    monkeypatch.delenv("CUDNN_FRONTEND_INCLUDE", raising=False)
    with pytest.raises(RuntimeError, match=r"pip install --no-deps nvidia-cudnn-frontend==1\.18\.0"):
        cudnn_paths.cudnn_frontend_include_dir()
    _touch(tmp_path / "cudnn_frontend.h")
    monkeypatch.setenv("CUDNN_FRONTEND_INCLUDE", str(tmp_path))
    assert cudnn_paths.cudnn_frontend_include_dir() == str(tmp_path)
