"""GPU time of ifx::linear_act's kernel paths on the classifier layers of the A/B models, fp32.

    python3 benchmarks/linear_layers.py [--rows 1 8 16 32 64 128 256 512] [--tf32] [--json PATH]

For each linear layer of torchvision's mobilenet_v3_large (960 -> 1280 + hardswish, 1280 -> 1000),
resnet50 (2048 -> 1000) and efficientnet_b0 (1280 -> 1000), at each row count (the batch): the op's
own choice ("chosen") and every path that covers the call, forced (kernel_choice.h's names:
cublas / cublas+activation, implicit_gemm_split_k, few_rows_matmul), in fp32 with torch's default
matmul math (TF32 off; --tf32 turns it on). Two times per call, as benchmarks/conv_layers.py takes
them: GPU busy time (torch.profiler, the kernels of 20 calls, per call; the gap between a path's
kernels is not in it) and stream time (CUDA events around 5 calls queued behind a spinning kernel,
best of 3; gaps included), with the kernels one call runs.
"""
import argparse
import json
import sys

import torch

import ifx_torch
from ifx_torch.bench import covered_us, cuda_kernels, environment
from ifx_torch.timing import queued_call_us

LAYERS = {  # name: (in_features, out_features, activation)
    "mobilenet_v3_large.hidden": (960, 1280, "hardswish"),
    "mobilenet_v3_large.classes": (1280, 1000, "none"),
    "resnet50.fc": (2048, 1000, "none"),
    "efficientnet_b0.classes": (1280, 1000, "none"),
}


def busy_us(fn, calls=20):
    kernels = cuda_kernels(lambda _: [fn() for _ in range(calls)], None, torch.device("cuda"))
    return covered_us((start, end) for _, start, end in kernels) / calls, len(kernels) // calls


def measure(layer, rows, generator):
    in_features, out_features, activation = LAYERS[layer]
    x = torch.randn(rows, in_features, generator=generator).cuda()
    w = (torch.randn(out_features, in_features, generator=generator) / in_features ** 0.5).cuda()
    b = torch.randn(out_features, generator=generator).cuda()
    chosen, covering = ifx_torch._C.linear_paths(x, w, b, activation)
    row = {"layer": layer, "rows": rows, "in": in_features, "out": out_features, "activation": activation,
           "chosen": chosen, "paths": {}}
    for path in ["chosen"] + [p for p in covering if p != "aten"]:
        ifx_torch._C.set_kernel_override("", "" if path == "chosen" else path, "auto", "auto")
        try:
            fn = lambda: torch.ops.ifx.linear_act(x, w, b, activation)  # noqa: E731
            fn()
            busy, kernels = busy_us(fn)
            row["paths"][path] = {"busy_us": round(busy, 2), "stream_us": round(queued_call_us(fn), 2),
                                  "kernels": kernels}
        finally:
            ifx_torch._C.reset_kernel_override()
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 8, 16, 32, 64, 128, 256, 512])
    parser.add_argument("--layers", nargs="+", choices=sorted(LAYERS), default=list(LAYERS))
    parser.add_argument("--tf32", action="store_true", help="let cuBLAS use TF32 (torch's default: off)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("linear_layers.py needs a CUDA GPU")
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    generator = torch.Generator().manual_seed(0)
    rows = []
    try:
        print(f"fp32, matmul TF32 {'on' if args.tf32 else 'off'}; us per call: busy / stream (kernels)", flush=True)
        for layer in args.layers:
            for count in args.rows:
                row = measure(layer, count, generator)
                rows.append(row)
                cells = "  ".join(f"{path} {m['busy_us']:.1f} / {m['stream_us']:.1f} ({m['kernels']})"
                                  for path, m in row["paths"].items())
                print(f"{layer:28s} rows {count:4d}  chosen={row['chosen']:22s} {cells}", flush=True)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": environment(torch.device("cuda")), "tf32": args.tf32, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
