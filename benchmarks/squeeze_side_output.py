"""What the squeeze side output saves in whole models: the optimized graph as it is ("side") against
the same graph with each ifx::conv2d_act_squeeze_excite split back into ifx::conv2d_act +
ifx::squeeze_excite ("split"), both with graph replay, measured in turns in one process.

    python3 benchmarks/squeeze_side_output.py [--models NAME ...] [--configs fp32 fp16-cl] [--batch 1 64]
                                              [--rounds 5] [--kernels] [--json PATH]

Per model, configuration and batch: kernels per forward, GPU busy time (torch.profiler, the union
of the kernels' intervals) and median sync latency, each the median of --rounds rounds that
alternate the variants; relative error of each against float64. --kernels also prints both
variants' kernels grouped by kind (benchmarks/kernel_breakdown.py's grouping). The two variants
tune separately: "split" times its convs alone, "side" each conv with its block.
On the CPU it checks the split and the errors only.
"""
import argparse
import json
import os
import statistics
import sys
import warnings

import torch

import ifx_torch
from ifx_torch import bench
from ifx_torch.graph_replay import CudaGraphModule

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kernel_breakdown import kernel_kind  # noqa: E402

_ARGS = ("%input, %weight, %bias, %stride, %padding, %dilation, %groups, %residual, %activation, "
         "%w1, %b1, %act1, %w2, %b2, %gate")
_FUSED = f"""graph({_ARGS}):
  %y = ifx::conv2d_act_squeeze_excite({_ARGS})
  return (%y)"""
_SPLIT = f"""graph({_ARGS}):
  %x = ifx::conv2d_act(%input, %weight, %bias, %stride, %padding, %dilation, %groups, %residual, %activation)
  %y = ifx::squeeze_excite(%x, %w1, %b1, %act1, %w2, %b2, %gate)
  return (%y)"""


def split_blocks(module: torch.jit.ScriptModule) -> int:
    """Rewrites the optimized module's graph in place; returns how many blocks it split."""
    graph = module.graph
    blocks = str(graph).count("ifx::conv2d_act_squeeze_excite(")
    torch._C._jit_pass_custom_pattern_based_rewrite_graph(_FUSED, _SPLIT, graph)
    if "ifx::conv2d_act_squeeze_excite(" in str(graph):
        raise RuntimeError("a block was left fused")
    return blocks


def measure(name, config, batch, args, device):
    dtype, memory_format, tf32 = bench.CONFIGS[config]
    torch.manual_seed(0)
    base = bench.load_model(name).eval()
    if not isinstance(base, torch.jit.ScriptModule):
        base = bench.builtin_models.calibrate_batchnorm(base, (4, 3, args.image_size, args.image_size))
    x32 = torch.randn(batch, 3, args.image_size, args.image_size)
    with torch.no_grad():
        reference = base.double()(x32.double())
    model = base.to(device=device, dtype=dtype).to(memory_format=memory_format)
    x = x32.to(device=device, dtype=dtype).contiguous(memory_format=memory_format)
    with torch.no_grad(), warnings.catch_warnings(), bench.math_settings(tf32):
        warnings.simplefilter("ignore")
        side = ifx_torch.optimize(model, (x,), cuda_graphs=False)
        split = ifx_torch.optimize(model, (x,), cuda_graphs=False)
        blocks = split_blocks(split)
        variants = {"side": side, "split": split}
        if device.type == "cuda":
            variants = {key: CudaGraphModule(module) for key, module in variants.items()}
        rows = {key: {"model": name, "config": config, "math": bench.math_description(config), "batch": batch,
                      "variant": key, "blocks": blocks} for key in variants}
        for key, fn in variants.items():
            for _ in range(3):
                out = fn(x)
            rows[key]["max_abs_err"], rows[key]["rel_err"] = bench.errors(out.float().cpu(), reference)
        if device.type == "cuda":
            samples = {key: {"latency_ms": [], "gpu_busy_ms": []} for key in variants}
            for _ in range(args.rounds):
                for key, fn in variants.items():
                    samples[key]["latency_ms"].append(bench.latency(fn, x, args.iters, device)["median"])
                    rows[key]["kernels"], busy = bench.kernel_profile(fn, x, device)
                    samples[key]["gpu_busy_ms"].append(busy)
            for key in variants:
                rows[key].update({k: statistics.median(v) for k, v in samples[key].items()})
            if args.kernels:
                print_kinds(name, config, batch, variants, x, device)
    return list(rows.values())


def print_kinds(name, config, batch, variants, x, device):
    kinds = {}
    for key, fn in variants.items():
        for kernel, start, end in bench.cuda_kernels(fn, x, device):
            entry = kinds.setdefault(kernel_kind(kernel)[:70], {k: [0, 0.0] for k in variants})[key]
            entry[0] += 1
            entry[1] += end - start
    print(f"{name} {config} batch {batch}: kernels, us per kind: " + " | ".join(variants), flush=True)
    for kind, entry in sorted(kinds.items(), key=lambda item: -max(v[1] for v in item[1].values())):
        print("  " + " | ".join(f"{entry[k][0]:3d} {entry[k][1]:8.1f}" for k in variants) + f"  {kind}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["mobilenet_v3_large", "torchvision:efficientnet_b0"])
    parser.add_argument("--configs", nargs="+", default=["fp32", "fp16-cl"], choices=sorted(bench.CONFIGS))
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--kernels", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    rows = []
    for name in args.models:
        for config in args.configs:
            for batch in args.batch:
                print(f"{name} {config} batch {batch} ...", flush=True)
                rows += measure(name, config, batch, args, device)
    print("| model | config | math | batch | blocks | kernels side / split | GPU busy ms side / split | split / side "
          "| latency ms side / split | split / side | rel. err side / split |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    cell = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    ratio = lambda a, b: "-" if a is None else f"{b / a:.3f}"  # noqa: E731
    for side, split in zip(rows[::2], rows[1::2]):
        print(f"| {side['model']} | {side['config']} | {side['math']} | {side['batch']} | {side['blocks']} "
              f"| {side.get('kernels', '-')} / {split.get('kernels', '-')} "
              f"| {cell(side.get('gpu_busy_ms'))} / {cell(split.get('gpu_busy_ms'))} "
              f"| {ratio(side.get('gpu_busy_ms'), split.get('gpu_busy_ms'))} "
              f"| {cell(side.get('latency_ms'))} / {cell(split.get('latency_ms'))} "
              f"| {ratio(side.get('latency_ms'), split.get('latency_ms'))} "
              f"| {side['rel_err']:.2g} / {split['rel_err']:.2g} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
