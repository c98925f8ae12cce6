"""Batch-1 latency with graph replay, side by side with the peers, in one run.

    python3 benchmarks/graph_replay_latency.py [--iters 300] [--no-compile] [--models NAME ...]

Per model (fp32, batch 1, 224x224, torch's default TF32 flags): median latency with a device
synchronize after every call, for eager, torch.jit.optimize_for_inference, the same under a
hand-made CUDA graph, torch.compile(mode="reduce-overhead"), ifx_torch without and with graph
replay. Also the build time of each variant and the max difference from eager. Variants take
turns in rounds so a passing slowdown cannot land on one of them. CUDA only.
"""
import argparse
import sys
import time
import warnings

import torch

import ifx_torch
from ifx_torch import models
from ifx_torch.bench import hand_made_graph
from ifx_torch.timing import median_latencies_ms


def model_zoo(names):
    zoo = {"ifx_mobilenet_v3_large_hand_written": lambda: models.mobilenet_v3_large(hand_written=True)}
    try:
        import torchvision
        zoo["torchvision_mobilenet_v3_large"] = lambda: torchvision.models.mobilenet_v3_large()
        zoo["torchvision_resnet50"] = lambda: torchvision.models.resnet50()
    except ImportError:
        print("torchvision not importable: its models are skipped", flush=True)
    unknown = set(names or []) - set(zoo)
    if unknown:
        sys.exit(f"graph_replay_latency: unknown models {sorted(unknown)}; known: {sorted(zoo)}")
    return {name: build for name, build in zoo.items() if not names or name in names}


def build_variants(model, x, with_compile):
    """(name -> callable, name -> build seconds, name -> error message)."""
    builders = {
        "eager": lambda: model,
        "optimize_for_inference": lambda: torch.jit.optimize_for_inference(torch.jit.script(model)),
        "ofi+cuda_graph": lambda: hand_made_graph(torch.jit.optimize_for_inference(torch.jit.script(model)), x),
        "ifx_torch": lambda: ifx_torch.optimize(model, cuda_graphs=False),
        "ifx_torch+graphs": lambda: ifx_torch.optimize(model),
    }
    if with_compile:
        builders["compile_reduce_overhead"] = lambda: torch.compile(model, mode="reduce-overhead")
    variants, build_s, failed = {}, {}, {}
    for name, build in builders.items():
        start = time.perf_counter()
        try:
            with torch.no_grad():
                fn = build()
                for _ in range(3):  # first calls compile / capture: part of the build
                    fn(x)
                torch.cuda.synchronize()
        except Exception as error:  # a peer that fails is reported and the run goes on
            failed[name] = str(error).strip().splitlines()[0][:120]
            print(f"  {name}: FAILED ({failed[name]})", flush=True)
            continue
        build_s[name] = time.perf_counter() - start
        variants[name] = fn
        print(f"  built {name} in {build_s[name]:.2f} s", flush=True)
    return variants, build_s, failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to build)")
    parser.add_argument("--models", nargs="*")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("graph_replay_latency: needs a CUDA device")
    warnings.simplefilter("ignore", DeprecationWarning)
    print(f"gpu={torch.cuda.get_device_name()} torch={torch.__version__} batch=1 fp32 iters={args.iters}", flush=True)
    rows = []
    for name, build in model_zoo(args.models).items():
        print(f"{name}:", flush=True)
        torch.manual_seed(0)
        model = models.calibrate_batchnorm(build().cuda(), (8, 3, 224, 224), "cuda")
        x = torch.randn(1, 3, 224, 224, device="cuda")
        variants, build_s, failed = build_variants(model, x, not args.no_compile)
        with torch.no_grad():
            reference = model(x)
            errors = {v: (fn(x) - reference).abs().max().item() for v, fn in variants.items()}
        latency = median_latencies_ms(variants, x, args.iters, torch.device("cuda"))
        rows.append((name, latency, build_s, errors, failed))

    names = ["eager", "optimize_for_inference", "ofi+cuda_graph", "compile_reduce_overhead", "ifx_torch",
             "ifx_torch+graphs"]
    print("\n| model | " + " | ".join(names) + " | ifx+graphs vs eager | vs best peer |")
    print("|---" * (len(names) + 3) + "|")
    for name, latency, _, _, failed in rows:
        cells = [f"{latency[v]:.3f}" if v in latency else ("failed" if v in failed else "-") for v in names]
        ours = latency.get("ifx_torch+graphs")
        peers = [latency[v] for v in names[:4] if v in latency]
        vs_eager = f"{latency['eager'] / ours:.1f}x" if ours else "-"
        vs_peer = f"{min(peers) / ours:.2f}x" if ours and peers else "-"
        print(f"| {name} | " + " | ".join(cells) + f" | {vs_eager} | {vs_peer} |")
    print("\nmedian ms per call (sync after each). Build seconds and max |variant - eager|:")
    for name, _, build_s, errors, _ in rows:
        print(f"  {name}: " + ", ".join(f"{v} {build_s[v]:.1f}s err {errors[v]:.1e}" for v in build_s))


if __name__ == "__main__":
    main()
