"""The main job: optimize the built-in MobileNetV3 and compare it with eager PyTorch.

    python -m ifx_torch.demo [--device auto|cpu|cuda] [--batch 1] [--iters N]

Runs on the GPU if there is one, else on the CPU. For each model variant it prints
what was fused, the largest difference from eager, and the median latency of eager,
torch.jit.freeze, torch.jit.optimize_for_inference, ifx_torch and (on CUDA) ifx_torch
with graph replay side by side.
"""
import argparse
import time

import torch

import ifx_torch
from ifx_torch import models
from ifx_torch.timing import median_latencies_ms


def build_variants(model, x):
    """The peers, each built from the same eval-mode model."""
    variants = {"eager": model}
    with torch.no_grad():
        variants["jit.freeze"] = torch.jit.freeze(torch.jit.script(model))
        try:
            variants["optimize_for_inference"] = torch.jit.optimize_for_inference(torch.jit.script(model))
        except Exception as error:  # a peer that fails is reported, not fatal
            print(f"  optimize_for_inference unavailable: {str(error).splitlines()[0]}")
        start = time.perf_counter()
        variants["ifx_torch"] = ifx_torch.optimize(model, cuda_graphs=False)
        print(f"  ifx_torch.optimize took {time.perf_counter() - start:.2f} s")
        if x.is_cuda:  # graph replay, optimize's default for a CUDA model
            variants["ifx_torch+graphs"] = ifx_torch.optimize(model)
    return variants


def run(device, batch, iters):
    torch.manual_seed(0)
    math = ""
    if device.type == "cuda":  # torch's defaults, as users run: say which
        math = f", cuDNN TF32 {'on' if torch.backends.cudnn.allow_tf32 else 'off'}"
    print(f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, "
          f"torch {torch.__version__}, batch {batch}, fp32{math}, {iters} timed calls per variant "
          "(median; the variants take turns)")
    rows = []
    for name, hand_written in (("MobileNetV3-large, seed-style x*relu6(x+3)/6", True),
                               ("MobileNetV3-large, nn.Hardswish", False)):
        print(f"{name}:")
        model = models.mobilenet_v3_large(hand_written=hand_written).to(device)
        models.calibrate_batchnorm(model, (8, 3, 224, 224), device)
        x = torch.randn(batch, 3, 224, 224, device=device)
        variants = build_variants(model, x)
        print("  " + str(ifx_torch.report(variants["ifx_torch"])).replace("\n", "\n  "))
        with torch.no_grad():
            reference = model(x)
            for variant in [v for v in variants if v.startswith("ifx_torch")]:
                error = (variants[variant](x) - reference).abs().max().item()
                print(f"  max |{variant} - eager| = {error:.3g} (output magnitude {reference.abs().max().item():.3g})")
        latencies = median_latencies_ms(variants, x, iters, device)
        for variant, latency in latencies.items():
            print(f"  {variant:<24} {latency:8.3f} ms")
        rows.append((name, latencies))

    print("\nmedian latency (ms) and speedup over eager")
    header = list(rows[0][1])
    print(f"{'model':<46}" + "".join(f"{h:>24}" for h in header))
    for name, latencies in rows:
        cells = "".join(f"{latencies[h]:>14.3f} ({latencies['eager'] / latencies[h]:4.2f}x)" if h in latencies
                        else f"{'n/a':>24}" for h in header)
        print(f"{name:<46}{cells}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=None, help="timed calls per variant (default 200 CUDA, 20 CPU)")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    name = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    name = "cpu" if name == "auto" else name
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but torch sees no CUDA device")
    iters = args.iters or (200 if device.type == "cuda" else 20)
    run(device, args.batch, iters)


if __name__ == "__main__":
    main()
