"""ifx_torch.save_package: an exported, optimized model as an AOTInductor package (.pt2) whose
graph calls the ifx ops, run by Python (ifx_torch.load_package) and by the C++ program ifx_run
(ifx_torch::load_package) with the same results, written as a Triton model repository entry
(platform torch_aoti) whose config Triton's own schema accepts, and refused with a message that
names the op library where the ops are missing. AOTInductor compiles C++ here, so one tiny model
is compiled once, without any torch.jit call, and shared by every test."""
import os
import subprocess
import sys
import types
import zipfile

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
from ifx_run_helper import ifx_run_path
from ifx_torch.triton import export_triton
from model_helpers import randomize_batchnorm
from pbtxt import parse_model_config, parse_with_triton_schema
from test_export_frontend import _refuse_torch_jit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Tiny(nn.Module):
    """conv + BN + hardswish, a squeeze-and-excitation block, a residual conv + relu, linear + relu:
    each of conv2d_act, squeeze_excite and linear_act once or more."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.Hardswish())
        self.reduce, self.expand = nn.Conv2d(8, 4, 1), nn.Conv2d(4, 8, 1)
        self.project = nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        y = self.stem(x)
        s = F.hardsigmoid(self.expand(F.relu(self.reduce(F.adaptive_avg_pool2d(y, 1)))))
        y = F.relu(self.project(y * s) + y)
        return F.relu(self.fc(y.mean((2, 3))))


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    torch.manual_seed(0)
    model = randomize_batchnorm(Tiny())
    x = torch.randn(2, 3, 16, 16)
    repo = tmp_path_factory.mktemp("repo")
    with pytest.MonkeyPatch.context() as patch:
        _refuse_torch_jit(patch)  # the whole export path, package included, makes no torch.jit call
        optimized = ifx_torch.optimize(model, (x,), frontend="export")
        model_dir = export_triton(optimized, str(repo), "tiny", max_batch_size=4, example_inputs=(x,),
                                  frontend="export")
    return types.SimpleNamespace(model=model, optimized=optimized, model_dir=model_dir,
                                 path=os.path.join(model_dir, "1", "model.pt2"))


def test_package_runs_in_python_like_the_optimized_module(package):
    loaded = ifx_torch.load_package(package.path)
    with torch.no_grad():
        for batch in (1, 2, 4):  # the batch dimension was exported dynamic
            x = torch.randn(batch, 3, 16, 16)
            out = loaded(x)
            torch.testing.assert_close(out, package.optimized(x), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(out, package.model(x), rtol=1e-4, atol=1e-4)
    saved, original = ifx_torch.report(loaded), ifx_torch.report(package.optimized)
    assert saved == original and saved.dynamic_batch
    assert saved.fused["squeeze_excite"] == 1 and saved.fused["linear+relu"] == 1


def test_package_graph_calls_the_ifx_ops(package):
    with zipfile.ZipFile(package.path) as archive:
        wrapper = [archive.read(n).decode() for n in archive.namelist() if n.endswith(".wrapper.json")]
    assert len(wrapper) == 1  # the proxy executor's list of the custom-op calls it makes
    for op in ("ifx::conv2d_act", "ifx::squeeze_excite", "ifx::linear_act"):
        assert f'"{op}"' in wrapper[0], op
    metadata = ifx_torch.load_package(package.path).loader.get_metadata()
    ops = ["ifx::conv2d_act", "ifx::linear_act", "ifx::squeeze_excite"]
    if torch.backends.mkldnn.is_available():  # fused fp32 convs run channels_last on the CPU; outputs get their layout back
        ops.append("ifx::like_layout")
    assert metadata["ifx_torch.ops"] == ", ".join(sorted(ops))
    assert metadata["AOTI_DEVICE_KEY"] == "cpu"


def run_cpp(*args):
    return subprocess.run([ifx_run_path(), *args], capture_output=True, text=True, timeout=300)


def test_cpp_program_runs_the_package_like_python(package, tmp_path):
    loaded = ifx_torch.load_package(package.path)
    x = torch.randn(3, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    torch.save(x, str(tmp_path / "x.pt"))
    for flags in ([], ["--cuda-graphs"]):  # the graph-replay runner runs it as it is on the CPU
        result = run_cpp(package.path, "--input", str(tmp_path / "x.pt"), "--save-output", str(tmp_path / "y.pt"),
                         "--iters", "2", *flags)
        assert result.returncode == 0, result.stderr
        assert '"frontend": "export"' in result.stdout and "output: shape [3, 10]" in result.stdout
        with torch.no_grad():
            torch.testing.assert_close(torch.load(str(tmp_path / "y.pt")), loaded(x), rtol=0, atol=0)
    assert "graph replay: 0 signature(s) captured" in result.stdout
    # Seeded inputs as Python draws them, batch 1.
    result = run_cpp(package.path, "--shape", "1,3,16,16", "--seed", "7", "--iters", "0", "--save-output",
                     str(tmp_path / "z.pt"))
    assert result.returncode == 0, result.stderr
    torch.manual_seed(7)
    with torch.no_grad():
        torch.testing.assert_close(torch.load(str(tmp_path / "z.pt")), loaded(torch.randn(1, 3, 16, 16)), rtol=0,
                                   atol=0)


def test_cpp_flags_for_torchscript_files_are_refused_for_a_package(package):
    result = run_cpp(package.path, "--shape", "1,3,16,16", "--optimize")
    assert result.returncode == 2 and "apply to TorchScript files" in result.stderr


def _without(package_path, op, destination):
    """A copy of the package whose graph calls ``op`` + "_v9", which no library registers: what a
    package saved by a newer ifx_torch looks like to an older library."""
    with zipfile.ZipFile(package_path) as source, zipfile.ZipFile(destination, "w", zipfile.ZIP_STORED) as copy:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith(".wrapper.json"):
                data = data.replace(f'"{op}"'.encode(), f'"{op}_v9"'.encode())
            copy.writestr(info, data)
    return str(destination)


def test_missing_op_is_refused_with_how_to_load_the_library(package, tmp_path):
    tampered = _without(package.path, "ifx::squeeze_excite", tmp_path / "newer.pt2")
    result = run_cpp(tampered, "--shape", "1,3,16,16")
    assert result.returncode == 1
    assert "ifx::squeeze_excite_v9" in result.stderr and "libifx_torch.so" in result.stderr
    assert "import ifx_torch" in result.stderr
    with pytest.raises(RuntimeError, match=r"ifx::squeeze_excite_v9.*import ifx_torch.*libifx_torch"):
        ifx_torch.load_package(tampered)
    not_a_package = tmp_path / "junk.pt2"
    not_a_package.write_text("not a zip archive")
    result = run_cpp(str(not_a_package), "--shape", "1,3,16,16")
    assert result.returncode == 1 and "could not read" in result.stderr and "AOTInductor package" in result.stderr


def test_python_without_import_ifx_torch_names_the_op(package):
    # torch's own loader says which op is missing; docs/export.md: `import ifx_torch` first.
    script = f"import torch\ntorch._inductor.aoti_load_package({package.path!r})\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "Could not find schema for ifx::" in result.stderr


def test_triton_entry_is_the_package_with_a_config_triton_accepts(package):
    assert sorted(os.listdir(package.model_dir)) == ["1", "config.pbtxt"]
    assert os.listdir(os.path.join(package.model_dir, "1")) == ["model.pt2"]
    text = open(os.path.join(package.model_dir, "config.pbtxt")).read()
    config = parse_with_triton_schema(text)  # Triton's ModelConfig, protobuf's own parser
    assert config.platform == "torch_aoti" and config.backend == "pytorch" and config.max_batch_size == 4
    assert [(i.name, list(i.dims)) for i in config.input] == [("INPUT__0", [3, 16, 16])]
    assert [(o.name, list(o.dims)) for o in config.output] == [("OUTPUT__0", [10])]
    assert parse_model_config(text)["platform"] == "torch_aoti"  # and the strict hand-written reader


def test_save_package_refuses_what_it_cannot_save(tmp_path):
    scripted = ifx_torch.optimize(nn.Hardswish().eval())
    with pytest.raises(TypeError, match="frontend='export'"):
        ifx_torch.save_package(scripted, str(tmp_path / "m.pt2"))
    exported = ifx_torch.optimize(nn.Hardswish().eval(), (torch.randn(2, 3),), frontend="export")
    with pytest.raises(ValueError, match="must end in .pt2"):
        ifx_torch.save_package(exported, str(tmp_path / "m.pt"))
    with pytest.raises(ValueError, match="exported with a static one"):
        static = ifx_torch.optimize(nn.Hardswish().eval(), (torch.randn(2, 3),), frontend="export",
                                    dynamic_batch=False)
        export_triton(static, str(tmp_path), "m", max_batch_size=4, example_inputs=(torch.randn(2, 3),),
                      frontend="export")


def test_calls_from_several_threads_take_turns_and_stay_right(package):
    # The package runs on AOTInductor's single-threaded runner (so graph replay can capture it);
    # load_package's lock keeps concurrent callers apart.
    import threading
    loaded = ifx_torch.load_package(package.path)
    inputs = [torch.randn(batch, 3, 16, 16) for batch in (1, 2, 3, 4) for _ in range(2)]
    with torch.no_grad():
        expected = [package.optimized(x) for x in inputs]
    results, errors = [None] * len(inputs), []

    def call(i):
        try:
            with torch.no_grad():
                for _ in range(5):
                    results[i] = loaded(inputs[i])
        except Exception as error:  # surfaced below: a thread's exception is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for result, want in zip(results, expected):
        torch.testing.assert_close(result, want, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_package_is_captured_and_replayed_from_python_and_cpp(tmp_path):
    import warnings
    torch.manual_seed(0)
    model = randomize_batchnorm(Tiny()).cuda()
    x = torch.randn(2, 3, 16, 16, device="cuda")
    optimized = ifx_torch.optimize(model, (x,), frontend="export", cuda_graphs=False)
    path = ifx_torch.save_package(optimized, str(tmp_path / "tiny_cuda.pt2"))
    loaded = ifx_torch.load_package(path, device_index=0)
    runner = ifx_torch.CudaGraphModule(loaded)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed capture warns and falls back: that must not happen
        eager = loaded(x)
        for _ in range(5):  # warm-up calls, then the capture, then replays
            replayed = runner(x)
    assert runner.captured_graphs == 1
    torch.testing.assert_close(replayed, eager, rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(eager, model(x), rtol=1e-4, atol=1e-4)
    torch.save(x.cpu(), str(tmp_path / "x.pt"))
    result = run_cpp(path, "--device", "cuda", "--cuda-graphs", "--input", str(tmp_path / "x.pt"), "--save-output",
                     str(tmp_path / "y.pt"), "--iters", "3")
    assert result.returncode == 0, result.stderr
    assert "graph replay: 1 signature(s) captured" in result.stdout, result.stdout
    assert "capture" not in result.stderr, result.stderr  # no fallback warning
    torch.testing.assert_close(torch.load(str(tmp_path / "y.pt")).cuda(), eager, rtol=0, atol=0)
