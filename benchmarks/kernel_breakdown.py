"""Where a model's GPU time goes: the kernels of one forward, grouped by kind, per variant.

    python3 benchmarks/kernel_breakdown.py [--models NAME ...] [--configs fp16-cl ...] [--batch 64]
                                           [--variants ifx_torch+graphs compile-reduce-overhead]
                                           [--top 14] [--json PATH]

For each model, configuration and batch, every variant (names as in ``python -m ifx_torch.bench``)
is built, warmed up, and one forward is profiled (torch.profiler). Kernels are grouped by kind
(``kernel_kind``: the name with template arguments and launch details cut, so that e.g. every
CUTLASS implicit GEMM is one row), and the groups are printed largest first with their count,
summed duration and share of the forward's GPU busy time (the union of the kernels' intervals),
variants side by side. It says which kernels to work on, not which variant is faster (that is
the A/B benchmark's job). CUDA only.
"""
import argparse
import json
import re
import sys
import warnings
from typing import Dict, List, Tuple

import torch

from ifx_torch.bench import CONFIGS, build_variant, covered_us, cuda_kernels, load_model, math_settings
from ifx_torch import models as builtin_models

def kernel_kind(name: str) -> str:
    """A kernel's name without template arguments, parameter lists and return type: the group it
    is counted in (every CUTLASS kernel, whose name is all template, is one group)."""
    name = re.sub(r"^void ", "", name)
    if name.startswith("cutlass::Kernel"):
        return "cutlass implicit GEMM"
    depth, kept = 0, []
    for ch in name:  # drop everything inside <...> and (...)
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth = max(0, depth - 1)
        elif depth == 0:
            kept.append(ch)
    kind = re.sub(r"(::)+", "::", re.sub(r"\s+", " ", "".join(kept).strip()))
    return kind or name[:60]


def group_kernels(events: List[Tuple[str, float, float]]) -> Tuple[List[Tuple[str, int, float]], float]:
    """(kind, count, summed us) per kind, largest first, and the busy us (union of intervals) of
    kernels given as (name, start_us, end_us)."""
    groups: Dict[str, List[float]] = {}
    for name, start, end in events:
        entry = groups.setdefault(kernel_kind(name), [0, 0.0])
        entry[0] += 1
        entry[1] += end - start
    rows = sorted(((kind, int(c), t) for kind, (c, t) in groups.items()), key=lambda r: -r[2])
    return rows, covered_us((start, end) for _, start, end in events)


def breakdown(name: str, config: str, batch: int, variants: List[str]) -> Dict[str, dict]:
    dtype, memory_format, tf32 = CONFIGS[config]
    torch.manual_seed(0)
    base = builtin_models.calibrate_batchnorm(load_model(name).eval(), (4, 3, 224, 224))
    model = base.to("cuda", dtype).to(memory_format=memory_format)
    x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=dtype).contiguous(memory_format=memory_format)
    result = {}
    for variant in variants:
        try:
            with torch.no_grad(), warnings.catch_warnings(), math_settings(tf32):
                warnings.simplefilter("ignore")
                fn = build_variant(variant, model, x)
                for _ in range(5):
                    fn(x)
                rows, busy = group_kernels(cuda_kernels(fn, x, x.device))
            result[variant] = {"busy_us": busy, "kernels": sum(r[1] for r in rows), "groups": rows}
        except Exception as error:  # a variant that fails is reported, the others still run
            result[variant] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"}
    return result


def print_breakdown(title: str, result: Dict[str, dict], top: int) -> None:
    print(f"\n## {title}")
    for variant, r in result.items():
        if "error" in r:
            print(f"{variant}: {r['error']}")
            continue
        print(f"{variant}: {r['kernels']} kernels, GPU busy {r['busy_us']:.0f} us")
        for kind, count, total in r["groups"][:top]:
            print(f"  {total:8.1f} us {100 * total / max(r['busy_us'], 1e-9):5.1f}%  x{count:<4d} {kind[:110]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["torchvision:efficientnet_b0", "torchvision:mobilenet_v3_large",
                                                        "torchvision:resnet50"])
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["fp16-cl", "fp32"])
    parser.add_argument("--batch", nargs="+", type=int, default=[64])
    parser.add_argument("--variants", nargs="+", default=["ifx_torch+graphs"],
                        help="names as in python -m ifx_torch.bench, e.g. compile-reduce-overhead, ifx_torch-export+graphs")
    parser.add_argument("--top", type=int, default=14)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("kernel_breakdown: needs a CUDA device")
    out = []
    for name in args.models:
        for config in args.configs:
            for batch in args.batch:
                result = breakdown(name, config, batch, args.variants)
                print_breakdown(f"{name} {config} batch {batch}", result, args.top)
                out.append({"model": name, "config": config, "batch": batch, "variants": result})
                if args.json:  # after every row, so a run stopped part-way keeps what it measured
                    with open(args.json, "w") as f:
                        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
