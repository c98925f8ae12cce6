"""How close ifx::squeeze_excite's kernels come to the memory floor, per SE block of a model, with
the gates in the excite kernel's blocks (two_kernels) and in a kernel of their own (three_kernels).

    python3 benchmarks/squeeze_excite_bandwidth.py [--model torchvision:efficientnet_b0] [--batch 64]
                                                   [--dtype fp16] [--json PATH]

For each squeeze-and-excitation block (torchvision's SqueezeExcitation) of the model, at the given
batch in channels_last: the op's kernels (torch.profiler, GPU time per call, median of 20 calls),
once forced to two kernels (squeeze, excite) and once to three (squeeze, gate, scale), beside two
streaming floors over the same x: torch's `x * gate` with a [N, C, 1, 1] gate (one read, one
write, as the excite and scale kernels' pass) and `x.sum((2, 3))` (one read, as the squeeze).
Bandwidth is bytes moved / kernel time. Needs torchvision (its models' SE blocks give the shapes);
on a CPU it lists the shapes only.
"""
import argparse
import json
import statistics

import torch
from torch.profiler import ProfilerActivity, profile

import ifx_torch  # noqa: F401  (loads the ops)
from ifx_torch import bench

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def se_shapes(model_name, image_size=224):
    """(channels, hidden, height, width, act1, gate) of each SqueezeExcitation, in forward order."""
    try:
        from torchvision.ops.misc import SqueezeExcitation
    except ImportError:
        raise SystemExit("squeeze_excite_bandwidth.py needs torchvision (pip install torchvision)")

    model = bench.load_model(model_name).eval()
    shapes, hooks = [], []
    for module in model.modules():
        if isinstance(module, SqueezeExcitation):
            def hook(m, inputs, _out):
                x = inputs[0]
                shapes.append((x.shape[1], m.fc1.out_channels, x.shape[2], x.shape[3],
                               type(m.activation).__name__.lower(), type(m.scale_activation).__name__.lower()))
            hooks.append(module.register_forward_hook(hook))
    with torch.no_grad():
        model(torch.randn(1, 3, image_size, image_size))
    for h in hooks:
        h.remove()
    return shapes


def kernel_us(fn, calls=20):
    """{kernel name: median GPU time per call in us} of `fn` over `calls` calls, after warm-up."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    times = {}
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            times.setdefault(event.name, []).append(event.device_time)
    return {name: statistics.median(t) for name, t in times.items()}


KERNELS = ("squeeze_kernel", "excite_kernel", "gate_kernel", "scale_kernel")


def short(name):
    for key in KERNELS:
        if key in name:
            return key
    return name[:40]


def op_kernels_us(fn, gate_kernel):
    """{kernel kind: GPU us per call} of the op with the gate kernel forced `gate_kernel`."""
    ifx_torch._C.set_kernel_override(se_gate_kernel=gate_kernel)
    try:
        by_kind = {}
        for name, us in kernel_us(fn).items():
            by_kind[short(name)] = by_kind.get(short(name), 0.0) + us
        return by_kind
    finally:
        ifx_torch._C.reset_kernel_override()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="torchvision:efficientnet_b0")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp16")
    parser.add_argument("--json")
    args = parser.parse_args()
    shapes = se_shapes(args.model)
    if not shapes:
        raise SystemExit(f"{args.model} has no torchvision SqueezeExcitation block")
    if not torch.cuda.is_available():
        for s in shapes:
            print(s)
        return
    dtype = DTYPES[args.dtype]
    rows = []
    print(f"{args.model} {args.dtype} channels_last batch {args.batch}, {torch.cuda.get_device_name()}")
    print("C | hidden | HxW | MB of x | squeeze us | excite us | gate us | scale us | gate+scale / excite | "
          "x*gate us | x.sum us | excite GB/s | scale GB/s")
    for channels, hidden, h, w, act1, gate in shapes:
        x = torch.randn(args.batch, channels, h, w, device="cuda", dtype=dtype).contiguous(
            memory_format=torch.channels_last)
        w1 = torch.randn(hidden, channels, device="cuda", dtype=dtype) / channels ** 0.5
        w2 = torch.randn(channels, hidden, device="cuda", dtype=dtype) / hidden ** 0.5
        b1 = torch.randn(hidden, device="cuda", dtype=dtype)
        b2 = torch.randn(channels, device="cuda", dtype=dtype)
        g = torch.rand(args.batch, channels, 1, 1, device="cuda", dtype=dtype)
        block = lambda: torch.ops.ifx.squeeze_excite(x, w1, b1, act1, w2, b2, gate)  # noqa: E731
        two = op_kernels_us(block, "never")
        three = op_kernels_us(block, "always")
        mul = sum(kernel_us(lambda: x * g).values())
        total = sum(kernel_us(lambda: x.sum((2, 3))).values())
        x_bytes = x.numel() * x.element_size()
        nan = float("nan")
        row = {"channels": channels, "hidden": hidden, "h": h, "w": w, "x_mb": x_bytes / 1e6,
               "squeeze_us": two.get("squeeze_kernel", nan), "excite_us": two.get("excite_kernel", nan),
               "gate_us": three.get("gate_kernel", nan), "scale_us": three.get("scale_kernel", nan),
               "three_kernels_squeeze_us": three.get("squeeze_kernel", nan),
               "mul_us": mul, "sum_us": total,
               "other_kernels": {k: v for k, v in {**two, **three}.items() if k not in KERNELS}}
        rows.append(row)
        after_squeeze = row["gate_us"] + row["scale_us"]
        print(f"{channels} | {hidden} | {h}x{w} | {x_bytes / 1e6:.1f} | {row['squeeze_us']:.1f} | "
              f"{row['excite_us']:.1f} | {row['gate_us']:.1f} | {row['scale_us']:.1f} | "
              f"{after_squeeze / row['excite_us']:.2f} | {mul:.1f} | {total:.1f} | "
              f"{2 * x_bytes / row['excite_us'] / 1e3:.0f} | {2 * x_bytes / row['scale_us'] / 1e3:.0f}")
    sums = {k: sum(r[k] for r in rows) for k in ("squeeze_us", "excite_us", "gate_us", "scale_us", "mul_us", "sum_us")}
    print("total: " + ", ".join(f"{k} {v:.1f}" for k, v in sums.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "batch": args.batch, "dtype": args.dtype,
                       "device": torch.cuda.get_device_name(), "rows": rows, "totals": sums}, f, indent=1)


if __name__ == "__main__":
    main()
