"""Op-level tests of torch.ops.ifx.hardswish / torch.ops.ifx.hardsigmoid.

Every numeric check compares against a float64 reference computed on the CPU
(both torch.nn.functional and the literal eager chain), so the CPU and CUDA
kernels are held to the same truth. CUDA cases skip when no GPU is usable.

    PYTHONPATH=python python3 -m pytest tests/python/test_ops.py -q    # from the repository root
"""
import zlib

import pytest
import torch
import torch.nn.functional as F

import ifx_torch  # noqa: F401  (registers torch.ops.ifx.*)

CUDA_REASON = "CUDA is not available (CPU-only torch or no GPU)"
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_REASON)

DEVICES = ["cpu", pytest.param("cuda", marks=requires_cuda)]
FLOAT_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
# One dtype per vector width of the CUDA kernel (4 x fp32, 8 x fp16, 2 x fp64).
LAYOUT_DTYPES = [torch.float32, torch.float16, torch.float64]


def _chain_hardswish(x):
    return x * torch.clamp(x + 3, 0, 6) / 6


def _chain_hardsigmoid(x):
    return torch.clamp(x + 3, 0, 6) / 6


# name -> (our op, aten functional, the literal eager chain)
OPS = {
    "hardswish": (torch.ops.ifx.hardswish, F.hardswish, _chain_hardswish),
    "hardsigmoid": (torch.ops.ifx.hardsigmoid, F.hardsigmoid, _chain_hardsigmoid),
}
OP_NAMES = list(OPS)

# Points where the piecewise definition switches branch, plus values far out
# on either side. 6e4 still fits in fp16 (max 65504), and x * 6 stays finite
# in every dtype, so the chain's intermediate cannot overflow.
SPECIAL_POINTS = [-3.0, 3.0, -3.0001, 2.9999, 0.0, -0.0, 6.0, -6.0, 1e4, -1e4, 6e4, -6e4]


def _generator(*key):
    """A generator seeded from the test case, so each case gets its own random
    data and a failure reproduces exactly."""
    return torch.Generator().manual_seed(zlib.crc32(repr(key).encode()))


def make_input(shape, dtype, device, *key):
    """Uniform values over [-8, 8] with the special points scattered at random
    positions (so they land in vector bodies and tails alike)."""
    gen = _generator(shape, dtype, device, *key)
    x = torch.rand(shape, generator=gen, dtype=torch.float64) * 16 - 8
    flat = x.view(-1)
    count = min(flat.numel(), len(SPECIAL_POINTS))
    if count:
        positions = torch.randperm(flat.numel(), generator=gen)[:count]
        flat[positions] = torch.tensor(SPECIAL_POINTS[:count], dtype=torch.float64)
        assert bool((flat != 0).any()), "test input must not be all zeros"
    return x.to(dtype).to(device)


def references(name, x):
    """The float64 references for `x`, computed on the CPU from the exact
    float64 copy of x (so input rounding is not counted as op error)."""
    _, functional, chain = OPS[name]
    x64 = x.detach().to("cpu", torch.float64)
    return functional(x64), chain(x64)


def max_abs_error(y, ref):
    if y.numel() == 0:
        return 0.0
    return (y.to("cpu", torch.float64) - ref).abs().max().item()


def assert_matches_reference(name, x, y):
    """Checks y = op(x) against the float64 references with a tolerance that
    fits x's dtype."""
    ref_functional, ref_chain = references(name, x)
    # The two references are the same function; if they ever differ, the
    # test itself is wrong.
    torch.testing.assert_close(ref_functional, ref_chain, rtol=0, atol=0)
    assert y.dtype == x.dtype and y.shape == x.shape and y.device == x.device
    y64 = y.to("cpu", torch.float64)
    if x.dtype == torch.float64:
        for ref in (ref_functional, ref_chain):
            torch.testing.assert_close(y64, ref, rtol=1e-15, atol=1e-15)
    elif x.dtype == torch.float32:
        for ref in (ref_functional, ref_chain):
            torch.testing.assert_close(y64, ref, rtol=1e-6, atol=1e-6)
    else:
        # fp16 / bf16: no worse than twice what eager aten achieves in the same
        # dtype on the same device, and within the dtype's usual tolerance.
        eager_error = max_abs_error(OPS[name][1](x), ref_functional)
        our_error = max_abs_error(y, ref_functional)
        assert our_error <= 2 * eager_error + 1e-12, (
            f"{name} {x.dtype} on {x.device}: max error {our_error} vs eager's {eager_error}")
        for ref in (ref_functional, ref_chain):
            torch.testing.assert_close(y64, ref, **_low_precision_tolerance(x.dtype))


def _low_precision_tolerance(dtype):
    # Half an ulp relative error after one rounding, with margin.
    return {torch.float16: dict(rtol=1e-3, atol=1e-5), torch.bfloat16: dict(rtol=8e-3, atol=1e-5)}[dtype]


def dtype_id(dtype):
    return str(dtype).replace("torch.", "")


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name", OP_NAMES)
def test_matches_float64_reference(name, dtype, device):
    x = make_input((4, 33, 7, 5), dtype, device, name)
    assert_matches_reference(name, x, OPS[name][0](x))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_exact_at_branch_points(dtype, device):
    # 37 elements: the points sit in the vector body and in the tail.
    points = torch.tensor([3.0, -3.0] * 18 + [3.0], dtype=dtype, device=device)
    is_three = points == 3
    swish = torch.ops.ifx.hardswish(points)
    sigmoid = torch.ops.ifx.hardsigmoid(points)
    assert torch.equal(swish[is_three], points[is_three])  # hardswish(3) == 3
    assert bool((swish[~is_three] == 0).all())  # hardswish(-3) == 0 (-0 counts)
    assert bool((sigmoid[is_three] == 1).all())  # hardsigmoid(3) == 1
    assert bool((sigmoid[~is_three] == 0).all())  # hardsigmoid(-3) == 0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", OP_NAMES)
def test_non_finite_like_eager(name, device):
    # The fused op replaces eager code, so NaN and infinities must come out as
    # eager gives them (hardswish(-inf) is NaN there: -inf * 0).
    ours, functional, chain = OPS[name]
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), 1.0, -4.0], device=device)
    y = ours(x).cpu()
    torch.testing.assert_close(y, functional(x.cpu()), equal_nan=True, rtol=0, atol=0)
    torch.testing.assert_close(y, chain(x.cpu()), equal_nan=True, rtol=0, atol=0)


# --------------------------------------------------------------------------- layouts


def _check_layout_case(name, x):
    y = OPS[name][0](x)
    assert_matches_reference(name, x, y)
    # Real kernels and the meta kernel must agree on the output layout, or
    # torch.compile / torch.export would trace wrong strides.
    y_meta = OPS[name][0](torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device="meta"))
    assert y.stride() == y_meta.stride()
    return y


def _misaligned(shape, dtype, device, *key):
    """A dense tensor whose data_ptr is one element past a 16-byte boundary,
    which forces the CUDA kernel's scalar path."""
    numel = 1
    for size in shape:
        numel *= size
    base = make_input((numel + 1,), dtype, device, "misaligned", *key)
    x = base.flatten()[1:1 + numel].view(shape)
    assert x.data_ptr() % 16 != 0
    return x


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", LAYOUT_DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name", OP_NAMES)
class TestLayouts:
    def test_contiguous(self, name, dtype, device):
        x = make_input((2, 5, 7, 9), dtype, device, name)
        y = _check_layout_case(name, x)
        assert y.is_contiguous()

    def test_channels_last_is_preserved(self, name, dtype, device):
        x = make_input((2, 6, 5, 7), dtype, device, name).to(memory_format=torch.channels_last)
        assert not x.is_contiguous()
        y = _check_layout_case(name, x)
        assert y.is_contiguous(memory_format=torch.channels_last)
        assert y.stride() == x.stride()

    def test_channels_last_batch1_seed_shape(self, name, dtype, device):
        # The seed's 1x960x7x7: size-1 batch makes channels_last strides ambiguous.
        x = make_input((1, 960, 7, 7), dtype, device, name).to(memory_format=torch.channels_last)
        y = _check_layout_case(name, x)
        assert y.is_contiguous(memory_format=torch.channels_last)
        assert y.stride() == x.stride()

    def test_strided_slice(self, name, dtype, device):
        x = make_input((3, 10, 6), dtype, device, name)[:, ::2]
        assert not x.is_contiguous()
        y = _check_layout_case(name, x)
        assert y.is_contiguous()

    def test_transposed_keeps_strides(self, name, dtype, device):
        x = make_input((6, 11, 4), dtype, device, name).transpose(0, 2)
        y = _check_layout_case(name, x)
        assert y.stride() == x.stride()

    def test_expanded_input(self, name, dtype, device):
        # Overlapping memory (stride 0) cannot be walked as a flat array.
        x = make_input((1, 9), dtype, device, name).expand(5, 9)
        y = _check_layout_case(name, x)
        assert y.is_contiguous()

    @pytest.mark.parametrize("shape", [(), (1,), (7,), (13,), (1031,), (3, 7, 13)])
    def test_tails(self, name, dtype, device, shape):
        _check_layout_case(name, make_input(shape, dtype, device, name))

    @pytest.mark.parametrize("shape", [(1,), (13,), (1031,), (4, 5, 6, 7)])
    def test_misaligned_data_ptr(self, name, dtype, device, shape):
        _check_layout_case(name, _misaligned(shape, dtype, device, name))

    def test_misaligned_channels_last(self, name, dtype, device):
        x = _misaligned((2, 2, 3, 5), dtype, device, name).permute(0, 3, 1, 2)  # dense, NHWC-like
        y = _check_layout_case(name, x)
        assert y.stride() == x.stride()

    @pytest.mark.parametrize("shape", [(0,), (2, 0, 3)])
    def test_zero_size(self, name, dtype, device, shape):
        x = torch.empty(shape, dtype=dtype, device=device)
        y = OPS[name][0](x)
        assert y.shape == x.shape and y.dtype == dtype and y.device == x.device


@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=dtype_id)
@pytest.mark.parametrize("name", OP_NAMES)
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_large_cuda(name, dtype, channels_last):
    # 64x960x14x14: more vectors than the grid has threads, so the
    # grid-stride loop runs several rounds.
    x = make_input((64, 960, 14, 14), dtype, "cuda", name)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    y = OPS[name][0](x)
    assert y.stride() == x.stride()
    assert_matches_reference(name, x, y)


@requires_cuda
def test_cuda_kernels_are_registered():
    # A CPU-only build of the extension on a GPU machine would otherwise show
    # up as a confusing dispatch error in every CUDA test.
    for name in OP_NAMES:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"ifx::{name}", "CUDA"), (
            f"ifx::{name} has no CUDA kernel: rebuild the extension with CUDA")


@requires_cuda
@pytest.mark.parametrize("name", OP_NAMES)
def test_cuda_runs_on_current_stream(name):
    # The kernel must be queued on the caller's current stream: the side
    # stream first sleeps, then fills x; a kernel launched on another stream
    # would read the zeros before the fill lands.
    x = torch.zeros(1 << 20, device="cuda")
    torch.cuda.synchronize()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        torch.cuda._sleep(20_000_000)  # ~10 ms of GPU time
        x.fill_(3.0)
        y = OPS[name][0](x)
    stream.synchronize()
    expected = 3.0 if name == "hardswish" else 1.0
    assert bool((y == expected).all())


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("device", DEVICES + ["meta"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool], ids=dtype_id)
@pytest.mark.parametrize("name", OP_NAMES)
def test_rejects_non_float(name, dtype, device):
    x = torch.zeros(4, 3, dtype=dtype, device=device)
    with pytest.raises(RuntimeError, match=f"ifx::{name}"):
        OPS[name][0](x)


# --------------------------------------------------------------------------- meta / fake


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name", OP_NAMES)
def test_meta_shape_dtype_strides(name, dtype):
    op = OPS[name][0]
    y = op(torch.empty(2, 3, dtype=dtype, device="meta"))
    assert y.device.type == "meta" and y.shape == (2, 3) and y.dtype == dtype and y.stride() == (3, 1)

    x = torch.empty(2, 3, 4, 5, dtype=dtype, device="meta").to(memory_format=torch.channels_last)
    y = op(x)
    assert y.is_contiguous(memory_format=torch.channels_last) and y.stride() == x.stride()

    x = torch.empty(3, 10, 6, dtype=dtype, device="meta")[:, ::2]
    assert op(x).stride() == (30, 6, 1)  # packed, as the real kernels return it

    assert op(torch.empty(2, 0, 3, dtype=dtype, device="meta")).shape == (2, 0, 3)


def _opcheck_samples(device):
    contiguous = make_input((2, 3, 4, 5), torch.float32, device, "opcheck")
    channels_last = make_input((2, 3, 4, 5), torch.float16, device, "opcheck").to(
        memory_format=torch.channels_last)
    strided = make_input((3, 8, 5), torch.float32, device, "opcheck")[:, ::2]
    needs_grad = make_input((2, 3, 4, 5), torch.float64, device, "opcheck").requires_grad_()
    return [contiguous, channels_last, strided, needs_grad]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", OP_NAMES)
def test_opcheck(name, device):
    # Schema, fake-tensor, autograd-registration and AOT-dispatch checks.
    op = getattr(torch.ops.ifx, name).default
    for x in _opcheck_samples(device):
        torch.library.opcheck(op, (x,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", OP_NAMES)
def test_gradient_matches_eager(name, device):
    x = make_input((2, 3, 4, 5), torch.float64, device, "grad", name)
    grad_out = make_input((2, 3, 4, 5), torch.float64, device, "grad_out", name)
    ours = x.clone().requires_grad_()
    eager = x.clone().requires_grad_()
    getattr(torch.ops.ifx, name)(ours).backward(grad_out)
    getattr(torch.nn.functional, name)(eager).backward(grad_out)
    torch.testing.assert_close(ours.grad, eager.grad)
    assert torch.autograd.gradcheck(getattr(torch.ops.ifx, name), (x[:1, :1].clone().requires_grad_(),))


def test_torch_compile_fullgraph_cpu():
    # FakeTensor tracing goes through the Meta kernel; fullgraph=True fails if
    # dynamo has to break the graph at our ops.
    def fn(x):
        return torch.ops.ifx.hardswish(x) * 2 + torch.ops.ifx.hardsigmoid(x)

    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    x = make_input((2, 8, 5, 5), torch.float32, "cpu", "compile").to(memory_format=torch.channels_last)
    torch.testing.assert_close(compiled(x), fn(x), rtol=0, atol=0)
