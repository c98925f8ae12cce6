"""Micro-benchmark of the fused activation ops against eager PyTorch.

For each shape, dtype and op (hardswish, hardsigmoid) three variants run side
by side in one process:

  chain  the seed's eager spelling: x * F.relu6(x + 3.) / 6.  (4 kernels)
                                    F.relu6(x + 3.) / 6.      (3 kernels)
  aten   torch.nn.functional.hardswish / hardsigmoid
  ifx    torch.ops.ifx.hardswish / hardsigmoid

Per variant it reports kernels per call and GPU time per call (torch.profiler:
device events only, so this is what a CUDA graph replay would cost), and wall
time per call (CUDA events around N back-to-back calls: what eager pays,
launch overhead included). Every variant's output is checked against a float64
reference first, so a broken kernel cannot win. Compare ratios within one run,
not absolute times across runs (docs/benchmarks.md, how we measure).

    python3 benchmarks/activation_micro.py [--iters N] [--json out.json]
    python3 benchmarks/activation_micro.py --allow-cpu   # smoke test without a GPU
"""
import argparse
import json
import platform
import statistics
import sys
import time
import warnings

import torch
import torch.nn.functional as F

try:
    import ifx_torch  # noqa: F401  (registers torch.ops.ifx.*)
except ImportError as error:  # the usual cause: PYTHONPATH=python was not set
    sys.exit(f"activation_micro: cannot import ifx_torch ({error}); run from the repository root with "
             "PYTHONPATH=python, or install the package")

SHAPES = [(1, 960, 7, 7), (64, 960, 14, 14)]  # the seed's tensor; a batch-64 one that is memory-bound
DTYPES = [torch.float32, torch.float16]
OPS = ["hardswish", "hardsigmoid"]
VARIANTS = ["chain", "aten", "ifx"]


def variant_fn(op, variant):
    """The callable of one variant. The chain is spelled as in the seed article,
    with Python float constants, so eager launches one kernel per operator."""
    if variant == "chain":
        if op == "hardswish":
            return lambda x: x * F.relu6(x + 3.) / 6.
        return lambda x: F.relu6(x + 3.) / 6.
    if variant == "aten":
        return getattr(F, op)
    return getattr(torch.ops.ifx, op)


# --------------------------------------------------------------------------- correctness


def float64_reference(op, x):
    # The literal formula in float64 is exact IEEE arithmetic on any device,
    # so the reference does not depend on how aten spells its kernel.
    x64 = x.double()
    clamped = torch.clamp(x64 + 3, 0, 6)
    return (x64 * clamped / 6) if op == "hardswish" else (clamped / 6)


def max_abs_error(y, ref):
    return (y.double() - ref).abs().max().item()


def check_outputs(op, x, fns):
    """Asserts every variant is close to the float64 reference, and that ifx is
    no worse than twice aten's own error (the fused kernel rounds once)."""
    ref = float64_reference(op, x)
    tol = {torch.float32: dict(rtol=1e-5, atol=1e-6),
           torch.float16: dict(rtol=4e-3, atol=1e-3)}[x.dtype]  # the fp16 chain rounds 3-4 times
    errors = {}
    for variant, fn in fns.items():
        y = fn(x)
        if y.shape != x.shape or y.dtype != x.dtype:
            raise AssertionError(f"{op}/{variant}: got {tuple(y.shape)} {y.dtype}, expected {tuple(x.shape)} {x.dtype}")
        torch.testing.assert_close(y.double(), ref, **tol, msg=lambda m: f"{op}/{variant} {x.dtype}: {m}")
        errors[variant] = max_abs_error(y, ref)
    limit = 2 * errors["aten"] + (1e-12 if x.dtype == torch.float16 else 1e-6)
    if errors["ifx"] > limit:
        raise AssertionError(f"{op}/ifx {x.dtype}: max error {errors['ifx']:.3g} exceeds twice aten's "
                             f"({errors['aten']:.3g})")
    return errors


# --------------------------------------------------------------------------- timing


def wall_time_us(fn, x, iters, repeats, device):
    """Median over `repeats` of (time of `iters` back-to-back calls) / iters.
    Back-to-back calls with one synchronize measure throughput: on the GPU it
    is max(launch overhead, kernel time) per call."""
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            for _ in range(iters):
                fn(x)
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) * 1e3 / iters)
        else:
            begin = time.perf_counter()
            for _ in range(iters):
                fn(x)
            samples.append((time.perf_counter() - begin) * 1e6 / iters)
    return statistics.median(samples)


def _device_time_us(event):
    # torch >= 2.4 names it device_time_total; older releases cuda_time_total.
    value = getattr(event, "device_time_total", None)
    return value if value is not None else event.cuda_time_total


def profile_gpu(fn, x, calls):
    """(kernels per call, GPU microseconds per call) from torch.profiler: every
    device-side event (kernels, and memcpy/memset if an op issued any) is
    counted and its device time summed."""
    torch.cuda.synchronize()
    # torch 2.11 warns that a profile without a schedule keeps one cycle; one is all we record.
    warnings.filterwarnings("ignore", message=".*Profiler clears events")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn(x)
        torch.cuda.synchronize()  # all kernels must finish inside the session
    device_events = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    if not device_events:
        raise RuntimeError("torch.profiler recorded no CUDA events (is CUPTI available?)")
    return len(device_events) / calls, sum(_device_time_us(e) for e in device_events) / calls


def bench_case(op, shape, dtype, device, args):
    gen = torch.Generator().manual_seed(0)
    # Uniform over [-8, 8]: every branch of the clamp is taken.
    x = (torch.rand(shape, generator=gen) * 16 - 8).to(device=device, dtype=dtype)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    fns = {variant: variant_fn(op, variant) for variant in VARIANTS}
    errors = check_outputs(op, x, fns)

    rows = []
    for variant, fn in fns.items():
        for _ in range(args.warmup):
            fn(x)
        kernels, gpu_us = (profile_gpu(fn, x, args.profile_calls) if device.type == "cuda" else (None, None))
        wall_us = wall_time_us(fn, x, args.iters, args.repeats, device)
        rows.append(dict(shape="x".join(map(str, shape)), dtype=str(dtype).replace("torch.", ""), op=op,
                         variant=variant, kernels_per_call=kernels, gpu_us_per_call=gpu_us,
                         wall_us_per_call=wall_us, max_abs_error=errors[variant]))
    add_ratios(rows)
    return rows


def add_ratios(rows):
    """Speedup of each variant over the chain and its time relative to aten,
    from GPU time when profiled, else from wall time."""
    key = "gpu_us_per_call" if rows[0]["gpu_us_per_call"] is not None else "wall_us_per_call"
    by_variant = {row["variant"]: row[key] for row in rows}
    for row in rows:
        row["ratio_basis"] = key
        row["speedup_vs_chain"] = by_variant["chain"] / row[key]
        row["ratio_vs_aten"] = row[key] / by_variant["aten"]


# --------------------------------------------------------------------------- report


def environment(device):
    env = dict(python=platform.python_version(), torch=torch.__version__, cuda=torch.version.cuda,
               device=str(device))
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, capability=f"{props.major}.{props.minor}", sms=props.multi_processor_count,
                   cudnn=torch.backends.cudnn.version())
    return env


def _fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def markdown_table(rows):
    lines = ["| shape | dtype | op | variant | kernels/call | GPU us/call | wall us/call | speedup vs chain | ratio vs aten |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['shape']} | {r['dtype']} | {r['op']} | {r['variant']} | {_fmt(r['kernels_per_call'], '.2f')} | "
                     f"{_fmt(r['gpu_us_per_call'], '.2f')} | {r['wall_us_per_call']:.2f} | "
                     f"{r['speedup_vs_chain']:.2f}x | {r['ratio_vs_aten']:.2f} |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=200, help="back-to-back calls per wall-time sample (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="wall-time samples per variant; the median is reported")
    parser.add_argument("--warmup", type=int, default=20, help="calls before measuring each variant")
    parser.add_argument("--profile-calls", type=int, default=50, help="calls recorded by torch.profiler per variant")
    parser.add_argument("--channels-last", action="store_true", help="use channels_last inputs (default: contiguous NCHW)")
    parser.add_argument("--json", metavar="PATH", help="also write environment and rows as JSON")
    parser.add_argument("--allow-cpu", action="store_true",
                        help="without CUDA, run the same code on the CPU with a tiny iteration count "
                             "(a smoke test of this script; no kernel counts or GPU times)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if torch.cuda.is_available():
        device = torch.device("cuda")
        if not torch._C._dispatch_has_kernel_for_dispatch_key("ifx::hardswish", "CUDA"):
            print("activation_micro: ifx_torch was built without CUDA kernels; rebuild it on this machine "
                  "(python3 setup.py build_ext --inplace)", file=sys.stderr)
            return 1
    elif args.allow_cpu:
        device = torch.device("cpu")
        # CPU numbers mean nothing here; keep the smoke test short.
        args.iters, args.repeats, args.warmup = min(args.iters, 3), 1, 1
    else:
        print("activation_micro: CUDA is not available; this benchmark measures GPU kernels. "
              "Pass --allow-cpu to smoke-test the script on the CPU.", file=sys.stderr)
        return 1

    env = environment(device)
    print(" ".join(f"{k}={v}" for k, v in env.items()))
    layout = "channels_last" if args.channels_last else "contiguous"
    print(f"layout={layout} iters={args.iters} repeats={args.repeats} warmup={args.warmup} "
          f"profile_calls={args.profile_calls if device.type == 'cuda' else 'n/a'}\n")

    begin = time.perf_counter()
    rows = []
    for shape in SHAPES:
        for dtype in DTYPES:
            for op in OPS:
                rows += bench_case(op, shape, dtype, device, args)
    print(markdown_table(rows))
    basis = "GPU time" if device.type == "cuda" else "wall time (CPU smoke test)"
    print(f"\nspeedup vs chain = chain time / variant time; ratio vs aten = variant time / aten time "
          f"(below 1 beats aten); both from {basis}. wall us/call = N back-to-back calls / N. "
          f"Total {time.perf_counter() - begin:.1f} s.")

    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(environment=env, layout=layout, rows=rows), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
