"""ifx_torch.export_triton: the repository layout, a config.pbtxt that Triton's own schema
(tritonclient's model_config_pb2, parsed by protobuf's text_format) and a strict protobuf text
format reader accept, and a model.pt that a plain libtorch program (one that knows nothing of
ifx_torch) runs once the op library is preloaded. The package form (frontend="export", model.pt2)
is tested in test_export_package.py, where its one AOTInductor compile is shared."""
import os
import subprocess

import pytest
import torch

from ifx_torch import models
from ifx_torch.triton import export_triton
from pbtxt import ParseError, parse_model_config, parse_with_triton_schema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("IFX_BUILD_DIR") or os.path.join(ROOT, "build", "cmake")


def small_model():
    torch.manual_seed(0)
    return models.calibrate_batchnorm(models.mobilenet_v3_small(hand_written=True, num_classes=10, width_mult=0.5),
                                      (2, 3, 64, 64))


def test_writes_repository_entry(tmp_path, capsys):
    x = torch.randn(2, 3, 64, 64)
    model_dir = export_triton(small_model(), str(tmp_path), "mnv3", max_batch_size=8, example_inputs=(x,))
    assert sorted(os.listdir(model_dir)) == ["1", "config.pbtxt"]
    text = open(os.path.join(model_dir, "config.pbtxt")).read()
    schema = parse_with_triton_schema(text)
    assert schema.name == "mnv3" and schema.platform == "pytorch_libtorch" and not schema.backend
    assert [(i.name, list(i.dims)) for i in schema.input] == [("INPUT__0", [3, 64, 64])]
    config = parse_model_config(text)
    assert config["name"] == "mnv3" and config["platform"] == "pytorch_libtorch" and config["max_batch_size"] == 8
    assert config["input"] == [{"name": "INPUT__0", "data_type": "TYPE_FP32", "dims": [3, 64, 64]}]
    assert config["output"] == [{"name": "OUTPUT__0", "data_type": "TYPE_FP32", "dims": [10]}]
    assert config["instance_group"] == [{"count": 1, "kind": "KIND_CPU"}]
    loaded = torch.jit.load(os.path.join(model_dir, "1", "model.pt"))
    assert "ifx::" in str(loaded.graph)
    assert "LD_PRELOAD=" in capsys.readouterr().out


def test_unbatched_config_keeps_every_dim(tmp_path):
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    model_dir = export_triton(small_model().double(), str(tmp_path), "m", max_batch_size=0, example_inputs=x)
    text = open(os.path.join(model_dir, "config.pbtxt")).read()
    assert parse_with_triton_schema(text).max_batch_size == 0
    config = parse_model_config(text)
    assert config["input"][0]["dims"] == [1, 3, 32, 32] and config["input"][0]["data_type"] == "TYPE_FP64"


@pytest.mark.parametrize("kwargs, message", [
    ({}, "pass example_inputs"),
    ({"example_inputs": (torch.randn(16, 3, 32, 32),)}, "batch dimension of at most 8"),
    ({"example_inputs": ([1, 2],)}, "tensor or a tuple of tensors"),
])
def test_bad_arguments_are_refused(tmp_path, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        export_triton(small_model(), str(tmp_path), "m", max_batch_size=8, **kwargs)


@pytest.mark.parametrize("text, message", [
    ('name: "m"\nplatfrom: "pytorch_libtorch"\n', "no field 'platfrom'"),
    ('name: "m"\nmax_batch_size: "8"\n', "does not fit"),
    ('name: "m"\nname: "n"\n', "given twice"),
    ('input [ { name: "x" data_type: TYPE_FLOAT dims: [ 3 ] } ]', "does not fit"),
    ('input [ { name: "x" dims: [ 3 4 ] } ]', "expected ',' or ']'"),
    ('name: "m" }', "found '}'"),
])
def test_strict_reader_rejects_what_triton_would(text, message):
    with pytest.raises(ParseError, match=message):
        parse_model_config(text)
    from google.protobuf import text_format
    with pytest.raises(text_format.ParseError):  # and so does Triton's schema
        parse_with_triton_schema(text)


@pytest.mark.parametrize("frontend", ["torchscript", "export"])
def test_every_config_form_fits_tritons_schema(frontend):
    # The text triton_config writes for each file form, without compiling anything.
    from ifx_torch.triton import PLATFORMS, triton_config
    x, y = torch.randn(4, 3, 8, 8), torch.randn(4, 10).half()
    text = triton_config("m", 4, (x, x.double()), (y,), "KIND_GPU", 2, PLATFORMS[frontend])
    schema = parse_with_triton_schema(text)
    assert schema.platform == PLATFORMS[frontend] and schema.backend == ("pytorch" if frontend == "export" else "")
    assert [(i.name, list(i.dims)) for i in schema.input] == [("INPUT__0", [3, 8, 8]), ("INPUT__1", [3, 8, 8])]
    assert schema.instance_group[0].count == 2 and schema.output[0].data_type == 10  # TYPE_FP16
    assert parse_model_config(text)["platform"] == PLATFORMS[frontend]


def _plain_loader():
    path = os.path.join(BUILD_DIR, "ifx_plain_loader")
    library = os.path.join(BUILD_DIR, "libifx_torch.so")
    if not (os.path.exists(path) and os.path.exists(library)):
        assert "IFX_BUILD_DIR" not in os.environ, f"{path} or {library} missing"
        pytest.skip("the C++ build is missing (make build-cpp)")
    return path, library


def test_plain_libtorch_program_runs_the_export_with_the_library_preloaded(tmp_path):
    loader, library = _plain_loader()
    x = torch.randn(1, 3, 64, 64)
    model = small_model()
    model_dir = export_triton(model, str(tmp_path), "m", max_batch_size=4, example_inputs=(x,))
    model_path = os.path.join(model_dir, "1", "model.pt")
    input_path, output_path = tmp_path / "in.pt", tmp_path / "out.pt"
    torch.save(x, str(input_path))  # read back with torch::pickle_load
    without = subprocess.run([loader, model_path, str(input_path), str(output_path)], capture_output=True, text=True)
    # The load fails on the marker call, which says how to load the library.
    assert without.returncode != 0 and "ifx::needs_op_library" in without.stderr
    assert "libifx_torch.so" in without.stderr
    env = dict(os.environ, LD_PRELOAD=library)
    result = subprocess.run([loader, model_path, str(input_path), str(output_path)], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr
    with torch.no_grad():
        torch.testing.assert_close(torch.load(str(output_path)), model(x), rtol=1e-5, atol=1e-5)
