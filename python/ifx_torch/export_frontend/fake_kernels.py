"""Fake kernels of the ifx ops that keep symbolic sizes symbolic, for tracing fused graphs with
torch.export and compiling them with AOTInductor.

The ops' C++ Meta kernels (and the CompositeExplicitAutograd kernels that serve Meta for linear_act
squeeze_excite and max_pool2d) read sizes as plain integers, which makes torch.export specialize a dynamic
batch dimension ("you marked batch as dynamic but your code specialized it"); their autograd
kernels read sizes too when parameters require grad. Inside ``symbolic_fake_kernels()`` the ops get
Python fake kernels, each the ATen composition the op's CPU kernel runs (so shapes, dtypes and
strides are those of the real CPU outputs), and grad mode is off. Leaving the block removes them
again: everything else (torch.library.opcheck, torch.compile) keeps seeing the C++ kernels.
"""
import contextlib
import inspect
import threading

import torch
import torch.nn.functional as F
from torch._prims_common import suggest_memory_format

from .. import _C

_lock = threading.RLock()
_depth = 0
_library = None


def _activation(name: str):
    for known, op in _C.activations():
        if known == name:
            return (lambda y: y) if not op else getattr(torch.ops.aten, op.split("::")[1])
    raise RuntimeError(f"ifx: unknown activation '{name}'")


def conv2d_output_memory_format(x, weight) -> torch.memory_format:
    """The layout every kernel of ifx::conv2d_act gives its output (conv2d_output_format in
    csrc/ops/conv2d_act.cpp): channels_last where the 4-D input or the weight is laid out so. torch's
    own fake conv may say otherwise: on CUDA, torch.export records NCHW outputs for convs whose input
    and weight are channels_last (docs/export.md, "Recorded layouts")."""
    if x.dim() != 4:
        return torch.contiguous_format
    channels_last = any(suggest_memory_format(t) == torch.channels_last for t in (x, weight))
    return torch.channels_last if channels_last else torch.contiguous_format


def _conv2d_act(x, weight, bias, stride, padding, dilation, groups, residual, activation):
    y = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    y = y.contiguous(memory_format=conv2d_output_memory_format(x, weight))
    if residual is not None:
        y = y + residual
    return _activation(activation)(y)


def _linear_act(x, weight, bias, activation):
    return _activation(activation)(F.linear(x, weight, bias))


def _squeeze_excite(x, w1, b1, act1, w2, b2, gate):
    hidden = _activation(act1)(F.linear(x.mean((2, 3)), w1, b1))
    scale = _activation(gate)(F.linear(hidden, w2, b2))
    return x * scale.view(x.shape[0], x.shape[1], 1, 1)


def _conv2d_act_squeeze_excite(x, weight, bias, stride, padding, dilation, groups, residual, activation, w1, b1, act1,
                               w2, b2, gate):
    return _squeeze_excite(_conv2d_act(x, weight, bias, stride, padding, dilation, groups, residual, activation),
                           w1, b1, act1, w2, b2, gate)


def _max_pool2d(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return torch.ops.aten.max_pool2d.default(x, kernel_size, stride, padding, dilation, ceil_mode)


def _activation_output(x):
    return torch.empty_like(x)  # dense inputs keep their strides, as the kernels' outputs do


KERNELS = {
    "conv2d_act": _conv2d_act,
    "linear_act": _linear_act,
    "squeeze_excite": _squeeze_excite,
    "conv2d_act_squeeze_excite": _conv2d_act_squeeze_excite,
    "max_pool2d": _max_pool2d,
    "hardswish": _activation_output,
    "hardsigmoid": _activation_output,
}


def _strided_like(kernel):
    """`kernel` with its output remade from its own sizes and strides, so that torch derives the
    tensor's contiguity flags from the strides. torch 2.11 records them wrongly for a symbolic
    fake tensor made in a memory format (contiguous/empty_like with memory_format=channels_last
    answer is_contiguous(memory_format=torch.channels_last) False; fixed in 2.13)."""
    def strided(*args, **kwargs):
        out = kernel(*args, **kwargs)
        return torch.empty_strided(out.size(), out.stride(), dtype=out.dtype, device=out.device).copy_(out)
    return strided


def _register_fake_can_override(library) -> bool:
    return "allow_override" in inspect.signature(library._register_fake).parameters


def _register_over_meta(library, name: str, kernel) -> None:
    """`kernel` as the fake kernel of ifx::`name` while `library` lives, over the op's C++ Meta
    kernel: through Library._register_fake(allow_override=True) where it takes that argument, else
    through the op's fake-kernel holder, asked to override."""
    if _register_fake_can_override(library):
        library._register_fake(name, kernel, allow_override=True)
        return
    holder = torch._library.simple_registry.singleton.find(f"ifx::{name}").fake_impl
    if "allow_override" not in inspect.signature(holder.register).parameters:
        raise RuntimeError(f"ifx_torch: torch {torch.__version__} cannot override the C++ Meta kernel of ifx::{name} "
                           "with a symbolic one; the export front end needs torch 2.11 or later")
    library._registration_handles.append(holder.register(kernel, "ifx_torch.export_frontend", library,
                                                         allow_override=True))


@contextlib.contextmanager
def symbolic_fake_kernels():
    """Python fake kernels for the ifx ops and grad mode off, for the duration of the block
    (re-entrant; thread-safe registration)."""
    global _depth, _library
    with _lock:
        if _depth == 0:
            library = torch.library.Library("ifx", "FRAGMENT")
            for name, kernel in KERNELS.items():
                _register_over_meta(library, name, _strided_like(kernel))
            _library = library
        _depth += 1
    try:
        with torch.no_grad():
            yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _library._destroy()
                _library = None
