"""Graph replay: run a module as CUDA graphs, one per input signature.

At batch 1 a CNN forward is bound by per-op framework and launch work on the host;
replaying a captured CUDA graph makes it cost roughly the sum of its kernel times.
``CudaGraphModule`` captures one graph per input signature (the structure of the
arguments and, per tensor, shape, strides, dtype and device), keeps the most recently
used ones in a bounded cache sharing one memory pool, and replays them:

- inputs are copied into the graph's static buffers;
- outputs are returned as fresh tensors (or, with ``static_outputs=True``, as the graph's
  own buffers, which the next call with the same signature overwrites);
- calls that cannot be replayed run the module as it is: inputs that are not all CUDA
  tensors of one device, inputs that require grad while grad mode is on (replay has no
  autograd), and signatures whose capture failed (e.g. a host sync in the model, or CUDA
  running out of memory during the warm-up or the capture), which warn once per module. A
  failed capture is ended, whatever failed: nothing is left capturing, and the caller's
  current stream is unchanged.

Graphs are not saved with a model: a loaded model captures again on its first calls.
"""
import collections
import re
import threading
import warnings
from typing import Callable, Hashable, NamedTuple, Optional, Tuple

import torch
from torch.utils import _pytree as pytree


class Signature(NamedTuple):
    """What a captured graph is specialised to."""

    structure: str  # the pytree spec of (args, kwargs)
    leaves: Tuple[Hashable, ...]  # per tensor (shape, strides, dtype, device); other leaves as they are


def input_signature(args: tuple, kwargs: dict) -> Optional[Signature]:
    """The cache key for a call, or None when a non-tensor argument is unhashable."""
    leaves, spec = pytree.tree_flatten((args, kwargs))
    described = []
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            described.append(("tensor", tuple(leaf.shape), leaf.stride(), leaf.dtype, leaf.device))
        else:
            try:
                hash(leaf)
            except TypeError:
                return None
            described.append(("value", type(leaf).__name__, leaf))
    return Signature(str(spec), tuple(described))


def replayable_device(args: tuple, kwargs: dict) -> Optional[torch.device]:
    """The CUDA device of a call whose tensors can be copied into a graph, else None."""
    tensors = [leaf for leaf in pytree.tree_leaves((args, kwargs)) if isinstance(leaf, torch.Tensor)]
    if not tensors or any(not t.is_cuda for t in tensors):
        return None
    if len({t.device for t in tensors}) != 1:
        return None
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return None
    return tensors[0].device


class CapturedGraph:
    """One captured graph: its static inputs (aligned with the flattened call; None for
    non-tensor leaves), its static outputs, and the function that replays it."""

    def __init__(self, static_leaves, static_outputs, replay: Callable[[], None]):
        self.static_leaves = static_leaves
        self.static_outputs = static_outputs
        self.replay = replay

    def run(self, args: tuple, kwargs: dict):
        for static, leaf in zip(self.static_leaves, pytree.tree_leaves((args, kwargs))):
            if static is not None:
                static.copy_(leaf)
        self.replay()
        return self.static_outputs


def _call_failing_on_host_sync(module: Callable, args: tuple, kwargs: dict):
    """One call in which a host synchronisation raises. A sync would make the capture fail,
    and a capture that fails part-way leaves state behind in torch that must then be cleaned
    up (_clean_up_after_invalid_capture), so it had better fail here, before capture.
    The debug mode is process-wide, so other threads see it during this one call."""
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings():  # torch calls the mode a prototype on every switch
        warnings.filterwarnings("ignore", message="Synchronization debug mode is a prototype")
        torch.cuda.set_sync_debug_mode("error")
        try:
            module(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode(previous)


def _capture_call(graph, pool, stream, device: torch.device, call: Callable):
    """call() captured into `graph` on `stream` (what torch.cuda.graph does, less its failure
    modes: when capture_end raises, torch.cuda.graph's exit leaves the side stream current)."""
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()  # as torch.cuda.graph does: the cache's memory is free for the graph's pool
    with torch.cuda.stream(stream):
        try:
            graph.capture_begin(pool=pool)
        except BaseException:  # torch routes the allocator to the pool before it begins the capture
            _stop_allocating_to_pool(device, pool)
            raise
        try:
            outputs = call()
        except BaseException:
            _end_failed_capture(graph, stream, device, pool)
            raise  # the call's error (out of memory, a sync, ...) says more than capture_end's
        try:
            graph.capture_end()
        except BaseException:
            _clean_up_after_invalid_capture(stream, device, pool)
            raise
    return outputs


def _end_failed_capture(graph, stream, device: torch.device, pool) -> None:
    """Ends the capture of a call that raised. The graph it gives, if any, is never replayed."""
    try:
        graph.capture_end()
    except Exception:  # an invalidated capture: cudaStreamEndCapture has ended it all the same
        _clean_up_after_invalid_capture(stream, device, pool)


def _clean_up_after_invalid_capture(stream, device: torch.device, pool) -> None:
    """When capture_end fails in cudaStreamEndCapture (the capture was invalidated), torch
    skips the rest of it, which leaves state behind even though the capture itself is over."""
    _stop_allocating_to_pool(device, pool)
    _settle_generator(stream, device)


def _stop_allocating_to_pool(device: torch.device, pool) -> None:
    """Left routed to the graph's pool, the allocator counts a capture underway for good: it
    never again reclaims memory used across streams, nor frees its cache to satisfy a failing
    allocation. Where torch did end the routing, there is nothing to end and this does nothing."""
    try:
        torch._C._cuda_endAllocateToPool(device.index, pool)
    except Exception:
        pass


def _settle_generator(stream, device: torch.device) -> None:
    """Where the CUDA generator keeps one capturing flag (older torch), a capture that never
    reached its epilogue leaves it set, and every later random op on the device raises. A
    small capture that ends normally runs the prologue and epilogue again; with per-capture
    generator states (newer torch) it changes nothing."""
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.stream(stream):
            graph.capture_begin()  # its own private pool, released with the graph
            try:
                torch.zeros(1, device=device)
            finally:
                graph.capture_end()
    except Exception:  # best effort: the original error is the one to report
        pass


def _join_after_failure(side_stream, device: torch.device) -> None:
    """The caller's stream waits for the warm-up work still queued on the side stream, which
    reads the static inputs that are freed (to the caller's stream) once the failure unwinds."""
    try:
        torch.cuda.current_stream(device).wait_stream(side_stream)
    except Exception:  # a broken context: the original error is the one to report
        pass


class CudaGraphCapturer:
    """Captures graphs into one shared memory pool, and keeps replays from overlapping on
    the GPU (they share the pool's memory) even when callers use different streams."""

    def __init__(self, warmup_calls: int = 3):
        if warmup_calls < 1:
            raise ValueError(f"ifx_torch: warmup_calls must be at least 1, got {warmup_calls}")
        self.warmup_calls = warmup_calls
        self._pool = None
        self._last_replay: Optional[torch.cuda.Event] = None

    def replay_device(self, args: tuple, kwargs: dict) -> Optional[torch.device]:
        return replayable_device(args, kwargs)

    def capture(self, module: Callable, args: tuple, kwargs: dict, device: torch.device) -> CapturedGraph:
        """Warm `module` up on a side stream, then capture one call of it. When this raises (a
        host sync, CUDA out of memory, ...), no capture is left in progress and the caller's
        current stream is the one it was."""
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        leaves, spec = pytree.tree_flatten((args, kwargs))
        static_leaves = [leaf.clone() if isinstance(leaf, torch.Tensor) else None for leaf in leaves]
        static_args, static_kwargs = pytree.tree_unflatten(
            [s if s is not None else leaf for s, leaf in zip(static_leaves, leaves)], spec)
        side_stream = torch.cuda.Stream(device)
        side_stream.wait_stream(torch.cuda.current_stream(device))
        try:
            with torch.cuda.stream(side_stream):
                for _ in range(self.warmup_calls - 1):  # also lets TorchScript's profiling executor settle
                    module(*static_args, **static_kwargs)
                _call_failing_on_host_sync(module, static_args, static_kwargs)
            torch.cuda.current_stream(device).wait_stream(side_stream)
            graph = torch.cuda.CUDAGraph()
            static_outputs = _capture_call(graph, self._pool, side_stream, device,
                                           lambda: module(*static_args, **static_kwargs))
        except BaseException:
            _join_after_failure(side_stream, device)
            raise
        return CapturedGraph(static_leaves, static_outputs, graph.replay)

    def before_replay(self, device: torch.device):
        if self._last_replay is not None:
            torch.cuda.current_stream(device).wait_event(self._last_replay)

    def after_replay(self, device: torch.device):
        self._last_replay = torch.cuda.Event()
        self._last_replay.record(torch.cuda.current_stream(device))


def _error_summary(error: Exception) -> str:
    """The line of an error that says what failed. An op failing inside a TorchScript module
    raises a message whose first line only says that; the op's own error comes after
    TorchScript's traceback, as "SomeError: message"."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()] or [type(error).__name__]
    if lines[0].startswith("The following operation failed in the TorchScript interpreter"):
        for line in lines[1:]:
            if re.match(r"[\w.]*(Error|Exception): ", line):
                return line
    return lines[0]


class CudaGraphModule(torch.nn.Module):
    """Replays ``module`` as CUDA graphs (see the module docstring). Thread-safe.

    ``save(path)`` saves the wrapped TorchScript module; graphs are captured anew after loading.
    """

    def __init__(self, module: Callable, max_graphs: int = 8, static_outputs: bool = False,
                 capturer: Optional[CudaGraphCapturer] = None):
        super().__init__()
        if max_graphs < 1:
            raise ValueError(f"ifx_torch: max_graphs must be at least 1, got {max_graphs}")
        self.module = module
        self.max_graphs = max_graphs
        self.static_outputs = static_outputs
        self._capturer = capturer or CudaGraphCapturer()
        self._graphs: "collections.OrderedDict[Signature, Optional[CapturedGraph]]" = collections.OrderedDict()
        self._lock = threading.Lock()
        self._warned = False

    def save(self, path) -> None:
        torch.jit.save(self.module, path)

    @property
    def captured_graphs(self) -> int:
        """How many signatures have a captured graph now (failed captures not counted)."""
        with self._lock:
            return sum(graph is not None for graph in self._graphs.values())

    def forward(self, *args, **kwargs):
        device = self._capturer.replay_device(args, kwargs)
        signature = input_signature(args, kwargs) if device is not None else None
        if signature is not None:
            with self._lock:
                graph = self._lookup_or_capture(signature, args, kwargs, device)
                if graph is not None:
                    with torch.no_grad():
                        return self._replay(graph, args, kwargs, device)
        return self.module(*args, **kwargs)

    def _lookup_or_capture(self, signature, args, kwargs, device) -> Optional[CapturedGraph]:
        if signature in self._graphs:
            self._graphs.move_to_end(signature)
            return self._graphs[signature]
        try:
            # Static buffers must be ordinary tensors, also when called under inference_mode.
            with torch.inference_mode(False), torch.no_grad():
                graph = self._capturer.capture(self.module, args, kwargs, device)
        except Exception as error:  # any failure means: run this signature without replay
            graph = None
            self._warn_capture_failed(error)
        self._graphs[signature] = graph
        while len(self._graphs) > self.max_graphs:
            self._graphs.popitem(last=False)  # least recently used; its memory returns to the pool
        return graph

    def _replay(self, graph: CapturedGraph, args, kwargs, device):
        self._capturer.before_replay(device)
        outputs = graph.run(args, kwargs)
        if not self.static_outputs:
            outputs = pytree.tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) else t, outputs)
        self._capturer.after_replay(device)
        return outputs

    def _warn_capture_failed(self, error: Exception):
        if not self._warned:
            self._warned = True
            first_line = _error_summary(error)
            if isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in first_line:
                cause = ("The warm-up and the graph's own memory pool need memory besides what the model "
                         "uses without replay.")
            else:
                cause = ("A host synchronisation (.item(), .cpu(), data-dependent control flow) inside the model "
                         "is the usual cause.")
            warnings.warn(f"ifx_torch: CUDA graph capture failed ({first_line}); this input signature runs without "
                          f"graph replay. {cause}", RuntimeWarning, stacklevel=4)
