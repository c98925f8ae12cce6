"""Plugin mode: with auto fusion on, TorchScript's own graph executor runs the ifx passes, so a
plain scripted model (never passed to ifx_torch.optimize) runs the fused ops; in Python through
ifx_torch.enable_auto_fusion(), in C++ through ifx_run --auto-fusion."""
import subprocess

import pytest
import torch

import ifx_torch
from ifx_torch import models
from ifx_run_helper import ifx_run_path



def hand_written_model():
    torch.manual_seed(0)
    return models.calibrate_batchnorm(models.mobilenet_v3_small(hand_written=True, num_classes=10, width_mult=0.5),
                                      (2, 3, 64, 64))


@pytest.fixture
def auto_fusion():
    ifx_torch.enable_auto_fusion()
    yield
    ifx_torch.disable_auto_fusion()


def test_executor_runs_fused_chains_of_a_plain_scripted_model(auto_fusion):
    model = hand_written_model()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for _ in range(3):  # profiling run(s), then the optimized plan
            out = scripted(x)
        graph = str(torch.jit.last_executed_optimized_graph())
        assert "ifx::hardswish" in graph and "ifx::hardsigmoid" in graph
        assert "aten::relu6" not in graph
        torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-5)


def test_off_by_default_and_switchable():
    assert not ifx_torch.auto_fusion_enabled()
    ifx_torch.enable_auto_fusion()
    ifx_torch.enable_auto_fusion()  # idempotent
    assert ifx_torch.auto_fusion_enabled()
    ifx_torch.disable_auto_fusion()
    assert not ifx_torch.auto_fusion_enabled()


def test_cpp_program_fuses_a_plain_model_in_plugin_mode(tmp_path):
    path = ifx_run_path()
    model = hand_written_model()
    model_path, output_path = tmp_path / "plain.pt", tmp_path / "out.pt"
    torch.jit.save(torch.jit.script(model), str(model_path))
    result = subprocess.run([path, str(model_path), "--auto-fusion", "--shape", "1,3,64,64", "--seed", "4",
                             "--warmup", "2", "--iters", "2", "--save-output", str(output_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    executed = next(line for line in result.stdout.splitlines() if line.startswith("executed graph ops:"))
    assert '"ifx::hardswish"' in executed and '"aten::relu6_"' not in executed
    torch.manual_seed(4)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(torch.load(str(output_path)), model(x), rtol=1e-5, atol=1e-5)
