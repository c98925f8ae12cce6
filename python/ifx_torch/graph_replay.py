"""Graph replay: run a module as CUDA graphs, one per input signature.

At batch 1 a CNN forward is bound by per-op framework and launch work on the host;
replaying a captured CUDA graph makes it cost roughly the sum of its kernel times.
``CudaGraphModule`` is the Python face of the C++ runner ``ifx_torch::CudaGraphModule``
(csrc/api/cuda_graph_module.cpp), the one implementation for both languages. Per input
signature (the structure of the arguments and, per tensor, shape, strides, dtype and device)
it warms the module up on a side stream, captures one graph, keeps the most recently used
ones in a bounded cache sharing one memory pool, and replays them:

- inputs are copied into the graph's static buffers;
- outputs are returned as fresh tensors (or, with ``static_outputs=True``, as the graph's
  own buffers, which the next call with the same signature overwrites);
- calls that cannot be replayed run the module as it is: inputs that are not all CUDA
  tensors of one device, inputs that require grad while grad mode is on (replay has no
  autograd), arguments other than tensors, numbers, strings and None, and signatures whose
  capture failed (e.g. a host sync in the model, or CUDA running out of memory during the
  warm-up or the capture), which warn once per module. A failed capture is ended, whatever
  failed: nothing is left capturing, and the caller's current stream is unchanged.

A TorchScript module is called from C++ with the GIL released; any other callable (an
``nn.Module`` that exists only in Python) is called back through Python on its plain runs,
warm-ups and captures, its arguments and outputs flattened with ``torch.utils._pytree`` (a call of
positional tensors alone, the common ``model(x)``, skips that walk: about 1 us of Python per call
instead of about 11 us on the development machine).
Graphs are not saved with a model: a loaded model captures again on its first calls.
"""
import threading
import warnings
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch.utils import _pytree as pytree

from . import _C

# Arguments besides tensors that a signature holds by value.
_PLAIN_TYPES = (bool, int, float, str, type(None))


def _warn_capture_failed(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=4)


class CudaGraphModule(torch.nn.Module):
    """Replays ``module`` as CUDA graphs (see the module docstring). Thread-safe.

    ``save(path)`` saves the wrapped TorchScript module; graphs are captured anew after loading.
    ``backend`` replaces CUDA's capture and replay (an ``ifx_torch._C.GraphBackend``; tests use
    one that re-runs the module on the CPU).
    """

    def __init__(self, module: Callable, max_graphs: int = 8, static_outputs: bool = False, warmup_calls: int = 3,
                 backend: Optional[_C.GraphBackend] = None):
        super().__init__()
        if max_graphs < 1:
            raise ValueError(f"ifx_torch: max_graphs must be at least 1, got {max_graphs}")
        if warmup_calls < 1:
            raise ValueError(f"ifx_torch: warmup_calls must be at least 1, got {warmup_calls}")
        self.module = module
        self.max_graphs = max_graphs
        self.static_outputs = static_outputs
        self._scripted = isinstance(module, torch.jit.ScriptModule)
        target = module._c if self._scripted else self._call_flat
        self._backend = backend  # a backend written in Python lives as long as its Python object
        self._runner = _C.GraphRunner(target, max_graphs, warmup_calls, static_outputs, backend, _warn_capture_failed)
        # Python callables only: the argument structures seen, by id, and their output structures.
        self._specs: Dict[str, int] = {}
        self._input_specs: Dict[int, Any] = {}
        self._output_specs: Dict[int, Any] = {}
        self._last: Tuple[Any, int] = (None, -1)
        # Calls with n positional tensors and nothing else: the id of their structure, by n.
        self._positional_ids: Dict[int, int] = {}
        self._lock = threading.Lock()

    def save(self, path) -> None:
        torch.jit.save(self.module, path)

    @property
    def captured_graphs(self) -> int:
        """How many signatures have a captured graph now (failed captures not counted)."""
        return self._runner.captured_graphs

    def forward(self, *args, **kwargs):
        if self._scripted:
            return self._runner.forward(*args, **kwargs)
        if not kwargs and all(isinstance(arg, torch.Tensor) for arg in args):
            # The common call, model(x): its structure is known from the count alone, no tree walk.
            spec_id = self._positional_ids.get(len(args))
            if spec_id is None:
                spec_id = self._positional_ids.setdefault(len(args), self._spec_id(pytree.tree_flatten((args, {}))[1]))
            flat = self._runner.forward(spec_id, *args)
            output_spec = self._output_specs[spec_id]
            return flat[0] if output_spec.is_leaf() else pytree.tree_unflatten(list(flat), output_spec)
        leaves, spec = pytree.tree_flatten((args, kwargs))
        if not all(isinstance(leaf, (torch.Tensor, *_PLAIN_TYPES)) for leaf in leaves):
            return self.module(*args, **kwargs)
        spec_id = self._spec_id(spec)
        flat = self._runner.forward(spec_id, *leaves)
        return pytree.tree_unflatten(list(flat), self._output_specs[spec_id])

    def _spec_id(self, spec) -> int:
        """A small int per argument structure: part of the signature the C++ runner compares."""
        last_spec, last_id = self._last
        if spec == last_spec:
            return last_id
        with self._lock:
            key = str(spec)
            if key not in self._specs:
                self._specs[key] = len(self._specs)
                self._input_specs[self._specs[key]] = spec
            self._last = (spec, self._specs[key])
            return self._specs[key]

    def _call_flat(self, spec_id: int, *leaves):
        """The module on flattened arguments, with flattened outputs: what the C++ runner calls."""
        args, kwargs = pytree.tree_unflatten(list(leaves), self._input_specs[spec_id])
        flat, out_spec = pytree.tree_flatten(self.module(*args, **kwargs))
        self._output_specs[spec_id] = out_spec
        return tuple(flat)
