"""Graph replay (ifx_torch.CudaGraphModule, the Python face of the C++ ifx_torch::CudaGraphModule).

The runner's logic (signatures, the LRU cache, the fallback path, output ownership, threads)
is tested on the CPU through the one C++ implementation, with a backend that "replays" by
re-running the module into static buffers. The real CUDA-graph behaviour is tested where a GPU
is present.
"""
import os
import subprocess
import sys
import threading
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import _pytree as pytree

import ifx_torch
from ifx_torch import models
from ifx_torch.graph_replay import CudaGraphModule


class RecomputingBackend(ifx_torch._C.GraphBackend):
    """Stands in for CUDA graph capture on the CPU: a replay re-runs the call on the static inputs
    and copies the result into the static outputs, like a graph would."""

    def __init__(self, fail=False):
        super().__init__()
        self.fail = fail
        self.captures = 0

    def replay_device(self, tensors):
        if not tensors or (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)):
            return None
        return tensors[0].device

    def capture(self, call, static_inputs, device, warmup_calls):
        self.captures += 1
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing\nmore detail")
        static_output = call(static_inputs)

        def replay():
            fresh = call(static_inputs)
            for static, value in zip(pytree.tree_leaves(static_output), pytree.tree_leaves(fresh)):
                if isinstance(static, torch.Tensor):
                    static.copy_(value)

        return ifx_torch._C.CapturedGraph(static_output, replay)

    def before_replay(self, device):
        pass

    def after_replay(self, device):
        pass


class Structured(nn.Module):
    """Takes and returns nested containers of tensors."""

    def forward(self, pair, extra):
        a, b = pair
        return {"sum": a + extra["scale"] * b, "parts": [a * 2, F.hardswish(b)]}


def structured_inputs(batch=2):
    return (torch.randn(batch, 3), torch.randn(batch, 3)), {"scale": torch.randn(batch, 3)}


def expected(pair, extra):
    return Structured()(pair, extra)


class Echo(nn.Module):
    def forward(self, x, *rest, flag: bool = False):
        return x * 2


def test_signature_depends_on_shape_dtype_layout_and_structure():
    backend = RecomputingBackend()
    runner = CudaGraphModule(Echo(), max_graphs=16, backend=backend)
    x = torch.randn(2, 3, 4, 5)

    def captures_after(*args, **kwargs):
        runner(*args, **kwargs)
        return backend.captures

    assert captures_after(x) == 1
    assert captures_after(torch.randn(2, 3, 4, 5)) == 1  # values do not matter
    assert captures_after(torch.randn(1, 3, 4, 5)) == 2
    assert captures_after(x.double()) == 3
    assert captures_after(x.to(memory_format=torch.channels_last)) == 4
    assert captures_after(x, x) == 5  # another structure
    assert captures_after(x, flag=True) == 6 and captures_after(x, flag=False) == 7
    assert captures_after(x, [1, 2]) == 8 and captures_after(x, [1, 2]) == 8
    assert captures_after(x, {1: set()}) == 8  # an argument no signature holds: no replay


def test_scripted_module_signatures_in_the_runner():
    backend = RecomputingBackend()
    runner = CudaGraphModule(torch.jit.script(nn.Hardswish()), backend=backend)
    for batch in (2, 2, 3, 2):
        x = torch.randn(batch, 4)
        torch.testing.assert_close(runner(x), F.hardswish(x))
    assert backend.captures == 2 and runner.captured_graphs == 2


class TwoInputs(nn.Module):
    def forward(self, x, y, scale: float = 2.0):
        return x * scale + y


class TwoTensors(nn.Module):
    def forward(self, x, y):
        return x - y


def test_scripted_module_arguments_positional_keyword_and_wrong():
    """Positional tensors take the runner's direct path, anything else is matched to the schema:
    both give the module's result, and wrong arguments its errors."""
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    tensors_only = CudaGraphModule(torch.jit.script(TwoTensors()), backend=RecomputingBackend())
    torch.testing.assert_close(tensors_only(x, y), x - y)
    torch.testing.assert_close(tensors_only(x, y=y), x - y)
    with pytest.raises(RuntimeError, match="argument"):
        tensors_only(x)
    with pytest.raises(RuntimeError, match="Tensor"):
        tensors_only(x, 3.0)
    with_default = CudaGraphModule(torch.jit.script(TwoInputs()), backend=RecomputingBackend())
    torch.testing.assert_close(with_default(x, y), x * 2 + y)
    torch.testing.assert_close(with_default(x, y, 3.0), x * 3 + y)
    torch.testing.assert_close(with_default(x, y, scale=0.5), x * 0.5 + y)


class SplitOutputs(nn.Module):
    def forward(self, *tensors):
        return {"sum": sum(tensors), "first": [tensors[0] * 3]} if len(tensors) > 1 else tensors[0] + 1


def test_python_callable_positional_tensors_keep_their_output_structures():
    """Calls of n positional tensors skip the tree walk of their arguments: each count still gets
    its own signature and its own output structure, leaf or nested, and mixes with other calls."""
    backend = RecomputingBackend()
    runner = CudaGraphModule(SplitOutputs(), backend=backend)
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    for _ in range(2):
        torch.testing.assert_close(runner(a), a + 1)
        out = runner(a, b)
        torch.testing.assert_close(out["sum"], a + b)
        torch.testing.assert_close(out["first"][0], a * 3)
        torch.testing.assert_close(runner(*(a, b)), {"sum": a + b, "first": [a * 3]})
    torch.testing.assert_close(runner(a, b, a), {"sum": a + b + a, "first": [a * 3]})
    assert backend.captures == 3


def test_nested_inputs_and_outputs_replay_correctly():
    runner = CudaGraphModule(Structured(), backend=RecomputingBackend())
    for _ in range(3):
        pair, extra = structured_inputs()
        out = runner(pair, extra)
        want = expected(pair, extra)
        torch.testing.assert_close(out["sum"], want["sum"])
        torch.testing.assert_close(out["parts"], want["parts"])
    assert runner.captured_graphs == 1


def test_cache_is_bounded_and_evicts_least_recently_used():
    capturer = RecomputingBackend()
    runner = CudaGraphModule(nn.Hardswish(), max_graphs=2, backend=capturer)
    a, b, c = torch.randn(1, 4), torch.randn(2, 4), torch.randn(3, 4)
    for x in (a, b, a):  # a is now the most recently used
        torch.testing.assert_close(runner(x), F.hardswish(x))
    assert capturer.captures == 2
    runner(c)  # evicts b
    assert capturer.captures == 3 and runner.captured_graphs == 2
    runner(a)
    assert capturer.captures == 3  # still cached
    torch.testing.assert_close(runner(b), F.hardswish(b))
    assert capturer.captures == 4  # b was evicted and is captured again


def test_alternating_signatures_give_each_its_own_result():
    runner = CudaGraphModule(nn.Hardswish(), max_graphs=3, backend=RecomputingBackend())
    for _ in range(3):
        for batch in (1, 2, 3):
            x = torch.randn(batch, 8) * 4
            torch.testing.assert_close(runner(x), F.hardswish(x))
    assert runner.captured_graphs == 3


def test_failed_capture_falls_back_with_one_warning():
    capturer = RecomputingBackend(fail=True)
    runner = CudaGraphModule(nn.Hardswish(), backend=capturer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for batch in (1, 1, 2, 2):
            x = torch.randn(batch, 4)
            torch.testing.assert_close(runner(x), F.hardswish(x))
    ours = [w for w in caught if "CUDA graph capture failed" in str(w.message)]
    assert len(ours) == 1 and "operation not permitted" in str(ours[0].message)
    assert capturer.captures == 2  # one attempt per signature, never retried
    assert runner.captured_graphs == 0


def test_outputs_are_fresh_tensors_by_default():
    runner = CudaGraphModule(nn.Hardswish(), backend=RecomputingBackend())
    x1, x2 = torch.randn(2, 4), torch.randn(2, 4)
    y1 = runner(x1)
    y2 = runner(x2)
    torch.testing.assert_close(y1, F.hardswish(x1))  # not overwritten by the second call
    assert y1.data_ptr() != y2.data_ptr()


def test_static_outputs_are_the_graph_buffers():
    runner = CudaGraphModule(nn.Hardswish(), static_outputs=True, backend=RecomputingBackend())
    x1, x2 = torch.randn(2, 4), torch.randn(2, 4)
    y1 = runner(x1)
    y2 = runner(x2)
    assert y1 is y2  # the same buffer, overwritten by the second call
    torch.testing.assert_close(y1, F.hardswish(x2))


def test_inputs_requiring_grad_run_without_replay():
    capturer = RecomputingBackend()
    runner = CudaGraphModule(nn.Hardswish(), backend=capturer)
    x = torch.randn(3, 4, requires_grad=True)
    runner(x).sum().backward()
    assert capturer.captures == 0
    torch.testing.assert_close(x.grad, torch.ops.aten.hardswish_backward(torch.ones(3, 4), x.detach()))


def test_threads_get_their_own_results():
    runner = CudaGraphModule(nn.Hardswish(), backend=RecomputingBackend())
    errors = []

    def work(seed):
        generator = torch.Generator().manual_seed(seed)
        for _ in range(50):
            x = torch.randn(2, 16, generator=generator) * 4
            if not torch.equal(runner(x), F.hardswish(x)):
                errors.append(seed)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_max_graphs_must_be_positive():
    with pytest.raises(ValueError, match="max_graphs"):
        CudaGraphModule(nn.Hardswish(), max_graphs=0)


def test_optimize_keeps_cpu_models_plain_and_refuses_graphs_on_cpu():
    model = models.mobilenet_v3_small(num_classes=10, width_mult=0.5).eval()
    assert isinstance(ifx_torch.optimize(model), torch.jit.ScriptModule)
    with pytest.raises(ValueError, match="cuda_graphs=True needs a model on a CUDA device"):
        ifx_torch.optimize(model, cuda_graphs=True)


# ---- on a GPU ----------------------------------------------------------------------------

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def cuda_mobilenet(dtype=torch.float32):
    torch.manual_seed(0)
    model = models.mobilenet_v3_small(hand_written=True, num_classes=100).cuda()
    return models.calibrate_batchnorm(model, (8, 3, 64, 64), "cuda").to(dtype)


@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_cuda_replay_equals_plain_execution_bit_for_bit(dtype):
    replayed = ifx_torch.optimize(cuda_mobilenet(dtype))
    assert isinstance(replayed, CudaGraphModule)
    plain = replayed.module
    with torch.no_grad():
        for _ in range(3):  # new data each call: no stale buffers
            x = torch.randn(2, 3, 64, 64, device="cuda", dtype=dtype)
            assert torch.equal(replayed(x), plain(x))
    report = ifx_torch.report(replayed)
    assert report.graph_replay and report.captured_graphs == 1
    assert "graph replay: on, 1 input signature(s) captured" in str(report)


@requires_cuda
def test_cuda_three_signatures_alternating_and_eviction():
    replayed = ifx_torch.optimize(cuda_mobilenet(), max_graphs=2)
    plain = replayed.module
    with torch.inference_mode():
        for _ in range(2):
            for batch in (1, 2, 3):
                x = torch.randn(batch, 3, 64, 64, device="cuda")
                assert torch.equal(replayed(x), plain(x))
    assert replayed.captured_graphs == 2


@requires_cuda
def test_cuda_static_outputs_are_overwritten_by_the_next_call():
    replayed = ifx_torch.optimize(cuda_mobilenet(), static_outputs=True)
    x1, x2 = torch.randn(2, 2, 3, 64, 64, device="cuda")
    with torch.no_grad():
        y1 = replayed(x1)
        first = y1.clone()
        y2 = replayed(x2)
        assert y1.data_ptr() == y2.data_ptr() and not torch.equal(first, y2)
        assert torch.equal(y2, replayed.module(x2))


class HostSync(nn.Module):
    def forward(self, x):
        if bool(x.sum() > 0):  # a host synchronisation: cannot be captured
            return F.hardswish(x)
        return F.hardsigmoid(x)


@requires_cuda
def test_cuda_model_with_host_sync_falls_back_with_one_warning():
    model = HostSync().eval()
    replayed = ifx_torch.optimize(model, example_inputs=(torch.randn(2, 8, device="cuda"),))
    assert isinstance(replayed, CudaGraphModule)
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        for batch in (2, 2, 3):
            x = torch.randn(batch, 8, device="cuda")
            torch.testing.assert_close(replayed(x), model(x))
    assert len([w for w in caught if "CUDA graph capture failed" in str(w.message)]) == 1
    assert replayed.captured_graphs == 0


@requires_cuda
def test_cuda_two_threads_concurrently():
    replayed = ifx_torch.optimize(cuda_mobilenet())
    plain = replayed.module
    errors = []

    def work(seed):
        generator = torch.Generator(device="cuda").manual_seed(seed)
        with torch.no_grad(), torch.cuda.stream(torch.cuda.Stream()):  # each thread on its own stream
            for _ in range(30):
                x = torch.randn(2, 3, 64, 64, device="cuda", generator=generator)
                if not torch.equal(replayed(x), plain(x)):
                    errors.append(seed)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


@requires_cuda
def test_cuda_memory_does_not_grow_over_10000_calls():
    replayed = ifx_torch.optimize(cuda_mobilenet())
    x = torch.randn(1, 3, 64, 64, device="cuda")
    with torch.no_grad():
        for _ in range(10):
            replayed(x)
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        for _ in range(10_000):
            y = replayed(x)
        del y
        torch.cuda.synchronize()
        assert torch.cuda.memory_allocated() == before


def _memory_under_callers(run, threads, rounds=3):
    """memory_allocated after each round of `threads` callers (half on their own streams), each
    calling `run` on batch sizes cycling over more signatures than the runner keeps."""
    after_round = []
    for _ in range(rounds):
        def work(index):
            stream = torch.cuda.Stream() if index % 2 else torch.cuda.current_stream()
            with torch.no_grad(), torch.cuda.stream(stream):
                for batch in [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]:
                    run(torch.randn(batch, 3, 96, 96, device="cuda"))
            stream.synchronize()
        workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        torch.cuda.synchronize()
        after_round.append(torch.cuda.memory_allocated())
    return after_round


@requires_cuda
def test_cuda_eight_callers_hold_what_one_caller_holds():
    model = ifx_torch.optimize(cuda_mobilenet(), cuda_graphs=False)
    base = torch.cuda.memory_allocated()
    eager = [m - base for m in _memory_under_callers(model, threads=8)]
    replayed = CudaGraphModule(model, max_graphs=4)  # 6 batch sizes: evictions all the time
    one = [m - base for m in _memory_under_callers(replayed, threads=1)]
    eight = [m - base for m in _memory_under_callers(replayed, threads=8)]
    assert max(eight) <= 1.5 * max(one), (one, eight)
    # Which signatures the cache holds at a round's end depends on how the threads interleaved,
    # so rounds may differ by a graph's worth; growth would show as more than that.
    assert eight[-1] - eight[0] <= max(0, eager[-1] - eager[0]) + 0.1 * max(one), (eight, eager)


@requires_cuda
def test_cuda_inputs_needing_grad_or_on_cpu_do_not_replay():
    replayed = ifx_torch.optimize(cuda_mobilenet())
    x = torch.randn(1, 3, 64, 64, device="cuda", requires_grad=True)
    out = replayed(x)  # grad mode on: runs the module as it is, so autograd works
    assert out.requires_grad and replayed.captured_graphs == 0
    with pytest.raises(RuntimeError):  # a CPU input to a CUDA model: torch's own clear error
        with torch.no_grad():
            replayed(torch.randn(1, 3, 64, 64))


@requires_cuda
def test_cuda_saved_model_loads_and_captures_again(tmp_path):
    replayed = ifx_torch.optimize(cuda_mobilenet())
    x = torch.randn(1, 3, 64, 64, device="cuda")
    with torch.no_grad():
        want = replayed(x)
        replayed.save(str(tmp_path / "m.pt"))
        again = CudaGraphModule(torch.jit.load(str(tmp_path / "m.pt")))
        assert torch.equal(again(x), want) and again.captured_graphs == 1


@requires_cuda
def test_programmatic_launch_is_off_unless_ifx_pdl_is_one():
    # csrc/kernels/launch.h: PDL showed no gain in the replay benchmark, so it is opt-in.
    script = "import ifx_torch; print(ifx_torch._C.programmatic_launch())"
    for value, expected in ((None, "False"), ("0", "False"), ("1", "True"), ("yes", "False")):
        env = {k: v for k, v in os.environ.items() if k != "IFX_PDL"}
        if value is not None:
            env["IFX_PDL"] = value
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == expected, (value, done.stdout)
        assert ("is not a setting" in done.stderr) == (value == "yes"), done.stderr
