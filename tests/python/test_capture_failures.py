"""Graph capture that fails: CUDA out of memory in the warm-up, in the capture or in getting its
buffers, and a capture invalidated by a host sync. Each falls back to running the module as it
is (README: "a failed capture warns once"), and leaves nothing behind: no capture in progress,
the caller's stream unchanged, random numbers, fresh allocations and later captures working,
and the allocator not stuck believing a capture is underway. In Python (ifx_torch.CudaGraphModule)
and in C++ (ifx_torch::CudaGraphModule through ifx_run --cuda-graphs; the GoogleTests in
tests/cpp/cuda_graph_module_test.cpp check the same on a GPU): one implementation, called from
both. On the CPU, the warning's text is checked here, and the order of the clean-up steps
against stand-ins for torch's capture calls in tests/cpp/capture_steps_test.cpp.
"""
import subprocess
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
from ifx_torch import graph_replay
from ifx_torch.graph_replay import CudaGraphModule
from ifx_run_helper import ifx_run_path

GIB = 1 << 30

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


# ---- the warning, on the CPU (the order of the clean-up steps: tests/cpp/capture_steps_test.cpp) --------------

def test_out_of_memory_inside_torchscript_is_named_in_the_warning():
    error = RuntimeError("The following operation failed in the TorchScript interpreter.\n"
                         "Traceback of TorchScript (most recent call last):\n  File \"<string>\", line 3\n"
                         "RuntimeError: CUDA out of memory. Tried to allocate 1024.00 TiB.\n")
    with pytest.warns(RuntimeWarning, match=r"failed \(RuntimeError: CUDA out of memory.*own memory pool"):
        graph_replay._warn_capture_failed(ifx_torch._C.capture_failure_message(str(error)))


def test_a_host_sync_is_named_as_the_usual_cause():
    message = ifx_torch._C.capture_failure_message("operation not permitted when stream is capturing\nmore")
    assert message.startswith("ifx_torch: CUDA graph capture failed (operation not permitted when stream is capturing)")
    assert "host synchronisation" in message


# ---- on a GPU ----------------------------------------------------------------------------------------


class FailsWhileCapturing(nn.Module):
    """Fails only inside a capture, after some GPU work: out of memory (2^48 floats, 1 PiB)
    or a host sync, which the warm-up's sync check cannot see and which invalidates the capture."""

    def __init__(self, failure: str):
        super().__init__()
        self.failure = failure

    def forward(self, x):
        y = x * 2
        if torch.cuda.is_current_stream_capturing():
            if self.failure == "oom":
                y = y + torch.empty(1 << 48, device=x.device)[:1]
            else:
                y = y * y.sum().item()
        return y


class FailsOnCall(nn.Module):
    """The scripted counterpart: TorchScript cannot ask whether a capture is underway, so the
    module counts its calls and fails on the `fail_on`-th (same failures as above)."""

    def __init__(self, fail_on: int, oom: bool):
        super().__init__()
        self.calls = 0
        self.fail_on = fail_on
        self.oom = oom

    def forward(self, x):
        self.calls += 1
        y = x * 2
        if self.calls == self.fail_on:
            if self.oom:
                y = y + torch.empty([1 << 48], device=x.device)[:1]
            else:
                y = y * float(y.sum())
        return y


def capture_warnings(runner, x, calls=3):
    """Calls runner(x) `calls` times, checking each output; returns our warnings."""
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        for _ in range(calls):
            assert torch.equal(runner(x), x * 2)
    return [str(w.message) for w in caught if "CUDA graph capture failed" in str(w.message)]


def assert_cuda_usable():
    """After a failed capture the device works as before."""
    assert not torch.cuda.is_current_stream_capturing()
    fresh = torch.randn(3 << 20, device="cuda")  # random numbers; an odd size: a new block, not a cached one
    assert torch.isfinite(fresh.sum()).item()
    torch.cuda.synchronize()
    runner = CudaGraphModule(nn.Hardswish())
    with torch.no_grad():
        for _ in range(3):
            x = torch.randn(2, 8, device="cuda") * 4
            assert torch.equal(runner(x), F.hardswish(x))
    assert runner.captured_graphs == 1


@requires_cuda
@pytest.mark.parametrize("failure", ["oom", "sync"])
def test_failure_inside_the_capture_falls_back_and_leaves_nothing_behind(failure):
    runner = CudaGraphModule(FailsWhileCapturing(failure))
    caller_stream = torch.cuda.Stream()
    with torch.cuda.stream(caller_stream):  # the caller's own stream stays current
        x = torch.randn(4, 8, device="cuda")
        ours = capture_warnings(runner, x)
        assert torch.cuda.current_stream() == caller_stream
    # (What the warning names is checked where the error is out of memory for sure: the
    # allocator's report of it queries the device, which a capture may refuse.)
    assert len(ours) == 1 and runner.captured_graphs == 0
    assert_cuda_usable()


@requires_cuda
@pytest.mark.parametrize("fail_on,oom", [(1, True), (2, True), (2, False)],
                         ids=["oom-in-warm-up", "oom-in-capture", "sync-in-capture"])
def test_scripted_model_failing_in_warm_up_or_capture_falls_back(fail_on, oom):
    scripted = torch.jit.script(FailsOnCall(fail_on, oom))
    # One warm-up call, then the capture: calls 1 and 2.
    runner = CudaGraphModule(scripted, warmup_calls=1)
    ours = capture_warnings(runner, torch.randn(4, 8, device="cuda"))
    assert len(ours) == 1 and runner.captured_graphs == 0
    if fail_on == 1:  # the op's own error, not TorchScript's "The following operation failed" header
        assert "out of memory" in ours[0] and "graph's own memory pool" in ours[0]
    assert_cuda_usable()


@pytest.fixture
def memory_limit():
    """limit(extra_bytes): from now on the process may hold only what it holds plus extra_bytes."""
    def limit(extra_bytes):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, (torch.cuda.memory_reserved() + extra_bytes) / total))
    yield limit
    torch.cuda.set_per_process_memory_fraction(1.0)


@requires_cuda
def test_allocator_frees_its_cache_again_after_an_invalidated_capture(memory_limit):
    # An invalidated capture makes torch's capture_end fail early; left as it was, the allocator
    # would count a capture underway for good, and never free its cache to satisfy an allocation.
    runner = CudaGraphModule(FailsWhileCapturing("sync"))
    assert len(capture_warnings(runner, torch.randn(4, 8, device="cuda"), calls=1)) == 1
    memory_limit(2 * GIB)
    cached = torch.empty(GIB + GIB // 4, dtype=torch.uint8, device="cuda")
    del cached  # 1.25 GiB in the allocator's cache
    big = torch.empty(GIB + GIB // 2, dtype=torch.uint8, device="cuda")  # fits only once the cache is freed
    assert big.numel() == GIB + GIB // 2


class Total(nn.Module):
    def forward(self, x):
        return x.sum(dim=0)


@requires_cuda
def test_capture_that_needs_more_memory_than_is_left_falls_back(memory_limit):
    # Replay needs a static copy of the input; a plain call does not. With 1 GiB of input and
    # 256 MiB to spare, capturing runs out of memory and the plain call still fits.
    model = torch.jit.script(Total())
    x = torch.randn(1 << 26, 4, device="cuda")  # 1 GiB of float32
    with torch.no_grad():
        want = model(x)
    memory_limit(GIB // 4)
    runner = CudaGraphModule(model)
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        for _ in range(2):
            torch.testing.assert_close(runner(x), want)
    ours = [str(w.message) for w in caught if "CUDA graph capture failed" in str(w.message)]
    assert len(ours) == 1 and "out of memory" in ours[0] and runner.captured_graphs == 0
    torch.cuda.set_per_process_memory_fraction(1.0)
    again = CudaGraphModule(model)  # with the memory back, the same model captures
    with torch.no_grad():
        for _ in range(2):
            torch.testing.assert_close(again(x), want)
    assert again.captured_graphs == 1
    del x, runner, again
    assert_cuda_usable()


@requires_cuda
def test_optimized_model_after_a_failed_capture_replays_bit_for_bit():
    # A failed capture elsewhere in the process does not disturb ifx_torch's own replay.
    capture_warnings(CudaGraphModule(FailsWhileCapturing("sync")), torch.randn(4, 8, device="cuda"), calls=1)
    from ifx_torch import models
    torch.manual_seed(0)
    model = models.calibrate_batchnorm(models.mobilenet_v3_small(num_classes=10).cuda(), (4, 3, 64, 64), "cuda")
    replayed = ifx_torch.optimize(model)
    with torch.no_grad():
        for _ in range(2):
            x = torch.randn(2, 3, 64, 64, device="cuda")
            assert torch.equal(replayed(x), replayed.module(x))
    assert replayed.captured_graphs == 1


# ---- C++: ifx_torch::CudaGraphModule through ifx_run --cuda-graphs ------------------------------

@requires_cuda
@pytest.mark.parametrize("fail_on,oom", [(1, True), (4, True), (4, False)],
                         ids=["oom-in-warm-up", "oom-in-capture", "sync-in-capture"])
def test_cpp_runner_falls_back_when_the_capture_fails(tmp_path, fail_on, oom):
    # ifx_torch::CudaGraphModule warms up 3 times by default: the 4th call is the capture.
    model_path, input_path, output_path = tmp_path / "m.pt", tmp_path / "x.pt", tmp_path / "out.pt"
    torch.jit.save(torch.jit.script(FailsOnCall(fail_on, oom)), str(model_path))
    x = torch.randn(4, 8)
    torch.save(x, str(input_path))
    result = subprocess.run([ifx_run_path(), str(model_path), "--input", str(input_path), "--device", "cuda",
                             "--cuda-graphs", "--warmup", "1", "--iters", "3", "--save-output", str(output_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "graph replay: 0 signature(s) captured" in result.stdout
    assert result.stderr.count("CUDA graph capture failed") == 1
    if fail_on == 1:
        assert "out of memory" in result.stderr
    torch.testing.assert_close(torch.load(str(output_path), map_location="cpu"), x * 2, rtol=0, atol=0)
