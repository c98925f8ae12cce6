"""Runs a fused op once per kernel path that covers the call (csrc/ops/kernel_choice.h), each
forced in turn and checked to be the path that ran, so the CUDA tests cover every kernel
whatever the choice rules prefer."""
import contextlib
from typing import Dict

import torch

import ifx_torch


@contextlib.contextmanager
def forced_paths(conv_path: str = "", linear_path: str = "", pointwise: str = "auto", se_gate_kernel: str = "auto"):
    """The kernel override for the duration of a block, then the environment's again."""
    ifx_torch._C.set_kernel_override(conv_path, linear_path, pointwise, se_gate_kernel)
    try:
        yield
    finally:
        ifx_torch._C.reset_kernel_override()


def conv2d_act_every_path(*args) -> Dict[str, torch.Tensor]:
    """{path: torch.ops.ifx.conv2d_act(*args) through that path}, for every path covering the
    call on the current CUDA setup, plus "auto" for the op's own choice (the rules', or the
    fastest candidate where the first call of a shape timed them)."""
    _, covering = ifx_torch._C.conv_paths(*args)
    outputs = {"auto": torch.ops.ifx.conv2d_act(*args)}
    assert ifx_torch._C.last_kernel_path("conv2d_act") in covering
    for path in covering:
        with forced_paths(conv_path=path):
            outputs[path] = torch.ops.ifx.conv2d_act(*args)
        assert ifx_torch._C.last_kernel_path("conv2d_act") == path, f"forced {path}, ran another path"
    return outputs


def linear_act_every_path(*args) -> Dict[str, torch.Tensor]:
    """As conv2d_act_every_path, for torch.ops.ifx.linear_act."""
    chosen, covering = ifx_torch._C.linear_paths(*args)
    outputs = {"auto": torch.ops.ifx.linear_act(*args)}
    assert ifx_torch._C.last_kernel_path("linear_act") == chosen
    for path in covering:
        with forced_paths(linear_path=path):
            outputs[path] = torch.ops.ifx.linear_act(*args)
        assert ifx_torch._C.last_kernel_path("linear_act") == path, f"forced {path}, ran another path"
    return outputs
