"""ifx_torch.optimize end to end: whole models, the report, save/load, the C++
program, and the errors a user gets for bad input."""
import os
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
from ifx_torch import models
from ifx_run_helper import ifx_run_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def small_mobilenet(hand_written):
    torch.manual_seed(0)
    model = models.mobilenet_v3_small(hand_written=hand_written, num_classes=10, width_mult=0.5)
    # Random BN statistics, so folding them is exercised with non-trivial values.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def activation_counts(report):
    return {key: report.fused[key] for key in ("hardswish", "hardsigmoid")}


@pytest.mark.parametrize("hand_written", [True, False], ids=["hand_written", "nn_modules"])
@pytest.mark.parametrize("builder", [models.mobilenet_v3_small, models.mobilenet_v3_large], ids=["small", "large"])
def test_mobilenet_every_chain_fused_and_outputs_match(builder, hand_written):
    torch.manual_seed(1)
    model = builder(hand_written=hand_written, num_classes=10).eval()
    # Activation chains alone: with layer fusion on, convs absorb the fused activations.
    optimized = ifx_torch.optimize(model, fuse_layers=False)
    report = ifx_torch.report(optimized)
    assert report.fused == models.count_activation_modules(model)
    assert report.ops_after.get("ifx::hardswish") == report.fused["hardswish"]
    assert report.ops_after.get("ifx::hardsigmoid") == report.fused["hardsigmoid"]
    assert report.total_ops_after < report.total_ops_before or not hand_written
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(optimized(x), model(x), rtol=1e-5, atol=1e-5)


def test_float64_model_matches_eager_tightly():
    model = small_mobilenet(hand_written=True).double()
    optimized = ifx_torch.optimize(model)
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(optimized(x), model(x), rtol=1e-12, atol=1e-12)


def test_hand_written_report_counts_removed_ops():
    model = small_mobilenet(hand_written=True)
    report = ifx_torch.report(ifx_torch.optimize(model, fuse_layers=False))
    chains = models.count_activation_modules(model)
    # A hardswish chain is add, relu6_, mul, div -> 1 op. The baseline (torch.jit.freeze) already
    # folds the SE gate's `+ 3` into the conv bias, so a hardsigmoid there is relu6_, div -> 1 op.
    assert report.ops_before["aten::relu6_"] == chains["hardswish"] + chains["hardsigmoid"]
    assert "aten::relu6_" not in report.ops_after and "aten::relu6" not in report.ops_after
    assert report.total_ops_before - report.total_ops_after == 3 * chains["hardswish"] + chains["hardsigmoid"]
    assert "fused hardswish" in str(report)


def test_save_and_load_round_trip(tmp_path):
    model = small_mobilenet(hand_written=True)
    optimized = ifx_torch.optimize(model)
    path = tmp_path / "optimized.pt"
    torch.jit.save(optimized, str(path))
    loaded = torch.jit.load(str(path))
    assert "ifx::conv2d_act" in str(loaded.graph) and "ifx::linear_act" in str(loaded.graph)
    assert ifx_torch.report(loaded) == ifx_torch.report(optimized)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), optimized(x), rtol=0, atol=0)


def _load_without_op_library(path):
    """torch.jit.load of `path` in a fresh Python that never imports ifx_torch."""
    return subprocess.run([sys.executable, "-c", f"import torch; torch.jit.load({str(path)!r})"],
                          capture_output=True, text=True)


def test_saved_model_loaded_without_the_op_library_says_how_to_load_it(tmp_path):
    path = tmp_path / "optimized.pt"
    torch.jit.save(ifx_torch.optimize(small_mobilenet(hand_written=True)), str(path))
    done = _load_without_op_library(path)
    assert done.returncode != 0
    assert "Unknown builtin op: ifx::needs_op_library" in done.stderr
    assert "import ifx_torch" in done.stderr and "libifx_torch.so" in done.stderr
    # Loaded with the library, the marker is gone from the graph that runs.
    loaded = torch.jit.load(str(path))
    assert "needs_op_library" not in str(loaded.graph) and "ifx::conv2d_act" in str(loaded.graph)


def test_model_with_nothing_fused_needs_no_op_library(tmp_path):
    # No bias: a conv with one would fuse alone ("conv2d+bias").
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.LeakyReLU()).eval()
    optimized = ifx_torch.optimize(model)
    assert "ifx::" not in str(optimized.graph)
    path = tmp_path / "plain.pt"
    torch.jit.save(optimized, str(path))
    done = _load_without_op_library(path)
    assert done.returncode == 0, done.stderr


def test_optimizing_twice_is_harmless():
    model = small_mobilenet(hand_written=False)
    once = ifx_torch.optimize(model)
    twice = ifx_torch.optimize(once)
    assert str(twice.graph).count("ifx::") == str(once.graph).count("ifx::")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(twice(x), once(x), rtol=0, atol=0)


def test_accepts_scripted_module():
    model = small_mobilenet(hand_written=True)
    optimized = ifx_torch.optimize(torch.jit.script(model))
    assert activation_counts(ifx_torch.report(optimized)) == models.count_activation_modules(model)


def test_training_mode_is_refused():
    with pytest.raises(RuntimeError, match="training mode.*eval"):
        ifx_torch.optimize(models.mobilenet_v3_small())


def test_scripted_module_in_training_mode_is_refused():
    with pytest.raises(RuntimeError, match="training mode"):
        ifx_torch.optimize(torch.jit.script(nn.Hardswish()))


def test_not_a_module_is_refused():
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        ifx_torch.optimize(lambda x: x)


class Unscriptable(nn.Module):
    """TorchScript cannot compile a lambda attribute; tracing can run it."""

    def __init__(self):
        super().__init__()
        self.activation = lambda t: t * F.relu6(t + 3.) / 6.

    def forward(self, x):
        return self.activation(x)


def test_unscriptable_model_without_example_inputs_says_what_to_pass():
    with pytest.raises(RuntimeError, match="example_inputs"):
        ifx_torch.optimize(Unscriptable().eval())


def test_unscriptable_model_is_traced_with_one_warning():
    model = Unscriptable().eval()
    x = torch.randn(2, 8, 4, 4) * 4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optimized = ifx_torch.optimize(model, example_inputs=(x,))
    ours = [w for w in caught if "ifx_torch.optimize" in str(w.message)]
    assert len(ours) == 1 and "tracing" in str(ours[0].message)
    assert ifx_torch.report(optimized).fused["hardswish"] == 1
    fresh = torch.randn(3, 8, 4, 4) * 4
    torch.testing.assert_close(optimized(fresh), model(fresh))


def test_report_of_plain_module_is_an_error():
    with pytest.raises(ValueError, match="not produced by ifx_torch.optimize"):
        ifx_torch.report(torch.jit.script(nn.Hardswish().eval()))



def run_cpp(args):
    result = subprocess.run([ifx_run_path(), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def seeded_input(seed, shape):
    torch.manual_seed(seed)
    return torch.randn(shape)


def test_cpp_program_reproduces_python_output(tmp_path):
    optimized = ifx_torch.optimize(small_mobilenet(hand_written=True))
    model_path, output_path = tmp_path / "optimized.pt", tmp_path / "out.pt"
    torch.jit.save(optimized, str(model_path))
    stdout = run_cpp([str(model_path), "--shape", "2,3,64,64", "--seed", "7", "--iters", "2",
                      "--save-output", str(output_path)])
    assert "latency over 2 runs" in stdout and "throughput:" in stdout
    with torch.no_grad():
        expected = optimized(seeded_input(7, (2, 3, 64, 64)))
    torch.testing.assert_close(torch.load(str(output_path)), expected, rtol=0, atol=0)


def test_cpp_optimize_matches_python_optimize(tmp_path):
    model = small_mobilenet(hand_written=True)
    scripted_path, output_path = tmp_path / "scripted.pt", tmp_path / "out.pt"
    saved_optimized = tmp_path / "cpp_optimized.pt"
    torch.jit.save(torch.jit.script(model), str(scripted_path))
    stdout = run_cpp([str(scripted_path), "--optimize", "--shape", "1,3,64,64", "--seed", "3", "--iters", "1",
                      "--save-output", str(output_path), "--save-optimized", str(saved_optimized)])
    assert '"hardswish": ' in stdout
    cpp_optimized = torch.jit.load(str(saved_optimized))
    assert ifx_torch.report(cpp_optimized).fused == ifx_torch.report(ifx_torch.optimize(model)).fused
    assert activation_counts(ifx_torch.report(cpp_optimized)) == models.count_activation_modules(model)
    x = seeded_input(3, (1, 3, 64, 64))
    with torch.no_grad():
        torch.testing.assert_close(torch.load(str(output_path)), ifx_torch.optimize(model)(x), rtol=0, atol=0)
        torch.testing.assert_close(torch.load(str(output_path)), model(x), rtol=1e-5, atol=1e-5)


def test_cpp_program_runs_saved_inputs_as_they_are(tmp_path):
    # float64 and channels_last: --input keeps both (--dtype's float32 default is not applied).
    optimized = ifx_torch.optimize(small_mobilenet(hand_written=True).double())
    model_path, input_path, output_path = tmp_path / "optimized.pt", tmp_path / "x.pt", tmp_path / "out.pt"
    torch.jit.save(optimized, str(model_path))
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64).to(memory_format=torch.channels_last)
    torch.save((x,), str(input_path))
    stdout = run_cpp([str(model_path), "--input", str(input_path), "--iters", "2", "--save-output", str(output_path)])
    assert "batch 2" in stdout and "dtype double" in stdout
    with torch.no_grad():
        torch.testing.assert_close(torch.load(str(output_path)), optimized(x), rtol=0, atol=0)
    # The strides reach the model: a module that reports them.
    probe = torch.jit.script(ChannelsLastProbe())
    torch.jit.save(probe, str(model_path))
    for saved, expected in ((x, True), ([x.contiguous()], False)):
        torch.save(saved, str(input_path))
        run_cpp([str(model_path), "--input", str(input_path), "--iters", "1", "--save-output", str(output_path)])
        assert torch.load(str(output_path)).item() is expected


class ChannelsLastProbe(nn.Module):
    def forward(self, x):
        return torch.tensor(x.is_contiguous(memory_format=torch.channels_last))


def test_cpp_program_rejects_bad_input_files(tmp_path):
    model_path, input_path = tmp_path / "m.pt", tmp_path / "x.pt"
    torch.jit.save(torch.jit.script(nn.Hardswish()), str(model_path))
    torch.save((torch.randn(2), 3), str(input_path))
    result = subprocess.run([ifx_run_path(), str(model_path), "--input", str(input_path)], capture_output=True,
                            text=True)
    assert result.returncode == 1 and "expected a tensor or a tuple or list of tensors, found Int" in result.stderr
    result = subprocess.run([ifx_run_path(), str(model_path), "--input", str(input_path), "--shape", "2"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "give --shape or --input, not both" in result.stderr
    result = subprocess.run([ifx_run_path(), str(model_path), "--input", str(tmp_path / "missing.pt")],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "could not read --input" in result.stderr


def test_cpp_program_rejects_bad_arguments(tmp_path):
    result = subprocess.run([ifx_run_path(), "missing.pt", "--shape", "1,x"], capture_output=True, text=True)
    assert result.returncode == 2 and "bad --shape" in result.stderr
    result = subprocess.run([ifx_run_path(), str(tmp_path / "missing.pt"), "--shape", "1,3"],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "ifx_run:" in result.stderr


def test_gradients_through_optimized_model_match_eager():
    model = small_mobilenet(hand_written=True).double()
    optimized = ifx_torch.optimize(model)
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    ours, eager = x.clone().requires_grad_(), x.clone().requires_grad_()
    optimized(ours).sum().backward()
    model(eager).sum().backward()
    torch.testing.assert_close(ours.grad, eager.grad)


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def calibrated_mobilenet(hand_written, device):
    torch.manual_seed(2)
    model = models.mobilenet_v3_large(hand_written=hand_written, num_classes=100).to(device)
    return models.calibrate_batchnorm(model, (8, 3, 96, 96), device)


@requires_cuda
@pytest.mark.parametrize("hand_written", [True, False], ids=["hand_written", "nn_modules"])
def test_cuda_fp32_model_matches_eager(hand_written, no_tf32):
    model = calibrated_mobilenet(hand_written, "cuda")
    optimized = ifx_torch.optimize(model)
    assert activation_counts(ifx_torch.report(optimized)) == models.count_activation_modules(model)
    x = torch.randn(4, 3, 96, 96, device="cuda")
    with torch.no_grad():
        reference = model.double()(x.double())
        model.float()
        ours, eager = optimized(x).double(), model(x).double()
    scale = reference.abs().max()
    assert (ours - reference).abs().max() / scale < 1e-4
    torch.testing.assert_close(ours, eager, rtol=1e-4, atol=1e-4 * scale.item())


@requires_cuda
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
def test_cuda_fp16_model_error_within_eager_fp16_error(memory_format, no_tf32):
    model = calibrated_mobilenet(True, "cuda")
    x = torch.randn(8, 3, 96, 96, device="cuda")
    with torch.no_grad():
        reference = model.double()(x.double())
        model.half().to(memory_format=memory_format)
        optimized = ifx_torch.optimize(model)
        x16 = x.half().to(memory_format=memory_format)
        ours, eager = optimized(x16).double(), model(x16).double()
    assert torch.isfinite(ours).all()
    ours_error, eager_error = (ours - reference).abs().max(), (eager - reference).abs().max()
    assert ours_error <= 2 * eager_error + 1e-3 * reference.abs().max()


@requires_cuda
def test_cpp_program_reproduces_python_output_on_cuda(tmp_path, no_tf32):
    model = calibrated_mobilenet(True, "cpu")
    optimized = ifx_torch.optimize(model)
    model_path, output_path = tmp_path / "optimized.pt", tmp_path / "out.pt"
    torch.jit.save(optimized, str(model_path))
    run_cpp([str(model_path), "--device", "cuda", "--no-tf32", "--shape", "2,3,96,96", "--seed", "5",
             "--iters", "3", "--save-output", str(output_path)])
    cuda_model = torch.jit.load(str(model_path), map_location="cuda")
    with torch.no_grad():
        expected = cuda_model(seeded_input(5, (2, 3, 96, 96)).cuda()).cpu()
    torch.testing.assert_close(torch.load(str(output_path)).cpu(), expected, rtol=1e-5, atol=1e-5)


@requires_cuda
def test_cpp_program_with_graph_replay_matches_python(tmp_path, no_tf32):
    model = calibrated_mobilenet(True, "cpu")
    model_path, output_path = tmp_path / "optimized.pt", tmp_path / "out.pt"
    torch.jit.save(ifx_torch.optimize(model), str(model_path))
    stdout = run_cpp([str(model_path), "--device", "cuda", "--cuda-graphs", "--no-tf32", "--shape", "1,3,96,96",
                      "--seed", "9", "--iters", "5", "--save-output", str(output_path)])
    assert "graph replay: 1 signature(s) captured" in stdout
    cuda_model = torch.jit.load(str(model_path), map_location="cuda")
    with torch.no_grad():
        expected = cuda_model(seeded_input(9, (1, 3, 96, 96)).cuda()).cpu()
    torch.testing.assert_close(torch.load(str(output_path)).cpu(), expected, rtol=1e-5, atol=1e-5)


def test_external_cmake_project_runs_python_saved_model(tmp_path):
    """tests/cmake_consumer links the installed package but calls nothing of it: the
    model's ifx:: ops resolve only if linking kept the op registrations."""
    path = os.environ.get("IFX_CONSUMER") or os.path.join(ROOT, "build", "consumer", "ifx_consumer")
    if not os.path.exists(path):
        assert "IFX_CONSUMER" not in os.environ, f"IFX_CONSUMER={path} does not exist"
        pytest.skip("the consumer project is not built (make build-consumer)")
    optimized = ifx_torch.optimize(small_mobilenet(hand_written=True))
    assert "ifx::conv2d_act" in str(optimized.graph)
    model_path, output_path = tmp_path / "optimized.pt", tmp_path / "out.pt"
    torch.jit.save(optimized, str(model_path))
    result = subprocess.run([path, str(model_path), str(output_path), "4", "1", "3", "64", "64"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with torch.no_grad():
        expected = optimized(seeded_input(4, (1, 3, 64, 64)))
    torch.testing.assert_close(torch.load(str(output_path)), expected, rtol=0, atol=0)


class NeitherScriptNorTrace(nn.Module):
    def forward(self, x):
        return {"not": [x, "a tensor"]}, x.tolist()  # unscriptable, and tracing refuses strings


def test_model_that_neither_scripts_nor_traces_gets_both_reasons():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="neither scripted nor traced.*Scripting failed.*tracing"):
            ifx_torch.optimize(NeitherScriptNorTrace().eval(), example_inputs=(torch.randn(2, 3),))


@pytest.mark.parametrize("layout", ["zero_batch", "strided_view", "channels_last", "unbatched_error"])
def test_unusual_inputs_give_eager_results(layout):
    model = small_mobilenet(hand_written=False)
    optimized = ifx_torch.optimize(model)
    x = torch.randn(3, 3, 128, 96)
    if layout == "zero_batch":
        x = x[:0]
    elif layout == "strided_view":
        x = x[:, :, ::2, ::2]
    elif layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    else:  # eager refuses a 3-D input too (the pooling / flatten head needs a batch)
        x = x[0]
        with pytest.raises(Exception):
            model(x)
        with pytest.raises(Exception):
            optimized(x)
        return
    with torch.no_grad():
        torch.testing.assert_close(optimized(x), model(x), rtol=1e-4, atol=1e-4)


def test_spurious_scripting_error_is_retried_once(monkeypatch):
    real_script, calls = torch.jit.script, []

    def fails_first(module, *args, **kwargs):
        calls.append(module)
        if len(calls) == 1:
            raise RuntimeError("builtin cannot be used as a value:")
        return real_script(module, *args, **kwargs)

    monkeypatch.setattr(torch.jit, "script", fails_first)
    optimized = ifx_torch.optimize(small_mobilenet(hand_written=True))
    assert ifx_torch.report(optimized).fused["hardswish"] > 0


def test_other_scripting_errors_are_not_retried(monkeypatch):
    calls = []

    def always_fails(module, *args, **kwargs):
        calls.append(module)
        raise RuntimeError("Unknown type annotation")

    monkeypatch.setattr(torch.jit, "script", always_fails)
    with pytest.raises(RuntimeError, match="could not compile.*Unknown type annotation"):
        ifx_torch.optimize(small_mobilenet(hand_written=True))
    assert len(calls) == 1
