"""Max pooling: torch.ops.ifx.max_pool2d equals aten::max_pool2d (values, layout, errors, gradients)
on the CPU and, through its NHWC kernel, on a GPU; both front ends move a model's max pools onto it
and leave max pools with indices alone.

    PYTHONPATH=python python3 -m pytest tests/python/test_max_pool.py -q    # from the repository root
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

# (kernel, stride, padding, dilation, ceil_mode) as aten::max_pool2d takes them: resnet's stem pool,
# the default stride, one-element lists, ceil_mode with a partial last window, dilation, a
# rectangular window.
POOLS = [
    ([3, 3], [2, 2], [1, 1], [1, 1], False),
    ([2, 2], [], [0, 0], [1, 1], False),
    ([3], [2], [1], [1], True),
    ([3, 3], [2, 2], [1, 1], [2, 2], False),
    ([5, 3], [1, 2], [2, 0], [1, 1], True),
]


def fresh_input(shape, dtype, device="cpu", channels_last=True, generator=None):
    x = torch.randn(shape, dtype=torch.float64, generator=generator).to(device=device, dtype=dtype)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def assert_same_as_aten(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.stride() == want.stride()
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


# --- the op, CPU ------------------------------------------------------------------------------------

@pytest.mark.parametrize("pool", POOLS, ids=str)
@pytest.mark.parametrize("channels_last", [True, False], ids=["nhwc", "nchw"])
def test_op_equals_aten_on_the_cpu(pool, channels_last):
    x = fresh_input((2, 5, 11, 9), torch.float64, channels_last=channels_last,
                    generator=torch.Generator().manual_seed(3))
    assert_same_as_aten(torch.ops.ifx.max_pool2d(x, *pool), torch.ops.aten.max_pool2d(x, *pool))


def test_opcheck():
    x = fresh_input((2, 4, 7, 7), torch.float32, generator=torch.Generator().manual_seed(4))
    torch.library.opcheck(torch.ops.ifx.max_pool2d.default, (x, [3, 3], [2, 2], [1, 1], [1, 1], True))


def test_bad_arguments_raise_atens_errors():
    x = fresh_input((1, 2, 6, 6), torch.float32)
    with pytest.raises(RuntimeError, match="pad should be"):
        torch.ops.ifx.max_pool2d(x, [3, 3], [1, 1], [2, 2])


def test_gradients_equal_eager():
    x = fresh_input((2, 3, 8, 8), torch.float64, generator=torch.Generator().manual_seed(5)).requires_grad_()
    ours = x.detach().clone().requires_grad_()
    torch.ops.ifx.max_pool2d(ours, [3, 3], [2, 2], [1, 1]).square().sum().backward()
    F.max_pool2d(x, 3, 2, 1).square().sum().backward()
    torch.testing.assert_close(ours.grad, x.grad, rtol=0, atol=0)


# --- the passes -------------------------------------------------------------------------------------

class Stem(nn.Module):
    """A resnet stem: conv, relu, the 3x3 stride-2 max pool."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return F.max_pool2d(F.relu(self.conv(x)), 3, 2, 1)


class StemWithIndices(Stem):
    """The same pool asked for its indices: aten::max_pool2d_with_indices, which stays."""

    def forward(self, x):
        values, indices = F.max_pool2d(F.relu(self.conv(x)), 3, 2, 1, return_indices=True)
        return values, indices


def optimized_stem(model_class, frontend, seed):
    """``model_class`` in float64 and its optimized form through ``frontend``, with a fresh input."""
    model = model_class().double().eval()
    x = fresh_input((2, 3, 16, 16), torch.float64, channels_last=False, generator=torch.Generator().manual_seed(seed))
    options = {"frontend": "export", "example_inputs": (x,)} if frontend == "export" else {}
    return model, ifx_torch.optimize(model, **options), x


@pytest.mark.parametrize("frontend", ["torchscript", "export"])
def test_both_front_ends_move_max_pools_onto_the_op(frontend):
    model, optimized, x = optimized_stem(Stem, frontend, seed=6)
    assert ifx_torch.report(optimized).fused.get("max_pool2d") == 1
    with torch.no_grad():
        assert_same_as_aten(optimized(x.clone()), model(x.clone()))


@pytest.mark.parametrize("frontend", ["torchscript", "export"])
def test_max_pool_with_indices_is_left_alone(frontend):
    model, optimized, x = optimized_stem(StemWithIndices, frontend, seed=7)
    assert "max_pool2d" not in ifx_torch.report(optimized).fused
    with torch.no_grad():
        for got, want in zip(optimized(x.clone()), model(x.clone())):
            assert torch.equal(got, want)


# --- the NHWC kernel, CUDA ---------------------------------------------------------------------------

@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("channels", [64, 13], ids=["vectors", "scalars"])
@pytest.mark.parametrize("pool", POOLS, ids=str)
def test_nhwc_kernel_equals_aten(dtype, channels, pool):
    g = torch.Generator().manual_seed(channels)
    x = fresh_input((3, channels, 17, 15), dtype, "cuda", generator=g)
    flat = x.permute(0, 2, 3, 1).view(-1)  # x's own memory, NHWC order
    flat[::97] = float("nan")  # NaN wins its windows, as in ATen
    flat[5::89] = float("-inf")
    got = torch.ops.ifx.max_pool2d(x, *pool)
    assert ifx_torch._C.last_kernel_path("max_pool2d") == "channels_last"
    assert_same_as_aten(got, torch.ops.aten.max_pool2d(x, *pool))


@requires_cuda
def test_nhwc_kernel_on_unaligned_memory_and_resnets_stem_shape():
    g = torch.Generator().manual_seed(8)
    n, c, h, w = 2, 64, 21, 19
    storage = torch.randn(n * h * w * c + 1, generator=g).to(device="cuda", dtype=torch.float16)
    x = storage[1:].view(n, h, w, c).permute(0, 3, 1, 2)  # channels_last and dense, 2 bytes off 16-byte alignment
    assert x.is_contiguous(memory_format=torch.channels_last) and x.data_ptr() % 16 != 0
    got = torch.ops.ifx.max_pool2d(x, [3, 3], [2, 2], [1, 1])
    assert ifx_torch._C.last_kernel_path("max_pool2d") == "channels_last"
    assert_same_as_aten(got, F.max_pool2d(x, 3, 2, 1))
    stem = fresh_input((8, 64, 112, 112), torch.float16, "cuda", generator=g)
    got = torch.ops.ifx.max_pool2d(stem, [3, 3], [2, 2], [1, 1])
    assert ifx_torch._C.last_kernel_path("max_pool2d") == "channels_last"
    assert_same_as_aten(got, F.max_pool2d(stem, 3, 2, 1))


@requires_cuda
def test_nchw_inputs_take_aten():
    x = fresh_input((2, 8, 9, 9), torch.float16, "cuda", channels_last=False)
    got = torch.ops.ifx.max_pool2d(x, [3, 3], [2, 2], [1, 1])
    assert ifx_torch._C.last_kernel_path("max_pool2d") == "aten"
    assert_same_as_aten(got, F.max_pool2d(x, 3, 2, 1))
