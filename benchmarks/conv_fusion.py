"""Conv fusion on the GPU, whole models (per layer: benchmarks/conv_layers.py).

    python3 benchmarks/conv_fusion.py [--iters N] [--json PATH]

MobileNetV3-large (torchvision's and the seed-style one) and ResNet-50 at batch 1 and 64, fp32
NCHW with torch's default math (TF32 on) and with TF32 off, and fp16 channels_last: CUDA
kernels per forward (torch.profiler) and sync latency for eager, optimize_for_inference,
ifx_torch without graph replay and ifx_torch with it, measured in the same run, and the max
difference of each from eager. CUDA only.
"""
import argparse
import json
import sys

import torch

import ifx_torch
from ifx_torch import models
from ifx_torch.bench import kernel_profile, math_settings
from ifx_torch.graph_replay import CudaGraphModule
from ifx_torch.timing import median_latencies_ms

# (batch, dtype, memory format, TF32 as torch's default allows it)
CONFIGS = [(1, torch.float32, torch.contiguous_format, True), (64, torch.float32, torch.contiguous_format, True),
           (1, torch.float32, torch.contiguous_format, False), (64, torch.float32, torch.contiguous_format, False),
           (1, torch.float16, torch.channels_last, True), (64, torch.float16, torch.channels_last, True)]


def config_name(batch, dtype, memory_format, tf32):
    layout = " channels_last" if memory_format == torch.channels_last else ""
    math = (" (TF32 on)" if tf32 else " (TF32 off)") if dtype == torch.float32 else ""
    return f"batch {batch} {str(dtype).replace('torch.', '')}{layout}{math}"


def model_builders():
    try:
        import torchvision
        return {"mobilenet_v3_large": torchvision.models.mobilenet_v3_large,
                "resnet50": torchvision.models.resnet50,
                "mobilenet_v3_large_hand_written": lambda: models.mobilenet_v3_large(hand_written=True)}
    except ImportError:
        print("torchvision not importable: built-in model definitions instead", flush=True)
        return {"mobilenet_v3_large": models.mobilenet_v3_large, "resnet50": models.resnet50,
                "mobilenet_v3_large_hand_written": lambda: models.mobilenet_v3_large(hand_written=True)}


# --- whole models --------------------------------------------------------------------------------

def kernels_per_forward(fn, x):
    with torch.no_grad():
        fn(x)
        return kernel_profile(fn, x, x.device)[0]


def model_rows(iters):
    rows = []
    for name, build in model_builders().items():
        for batch, dtype, memory_format, tf32 in CONFIGS:
            with math_settings(tf32):
                rows.append(model_row(name, build, batch, dtype, memory_format, tf32, iters))
    return rows


def model_row(name, build, batch, dtype, memory_format, tf32, iters):
    torch.manual_seed(0)
    model = models.calibrate_batchnorm(build(), (8, 3, 224, 224))
    model = model.to("cuda", dtype).to(memory_format=memory_format)
    x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=dtype).contiguous(memory_format=memory_format)
    with torch.no_grad():
        optimized = ifx_torch.optimize(model, cuda_graphs=False)
        variants = {
            "eager": model,
            "optimize_for_inference": torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model))),
            "ifx_torch": optimized,
            "ifx_torch+graphs": CudaGraphModule(optimized),  # what optimize(model) returns on CUDA
        }
        reference = model(x).float()
        errors = {v: (fn(x).float() - reference).abs().max().item() for v, fn in variants.items()}
    kernels = {v: kernels_per_forward(fn, x) for v, fn in variants.items() if v != "ifx_torch+graphs"}
    kernels["ifx_torch+graphs"] = kernels["ifx_torch"]
    latency = median_latencies_ms(variants, x, iters, torch.device("cuda"))
    row = {"model": name, "config": config_name(batch, dtype, memory_format, tf32), "latency_ms": latency,
           "kernels": kernels, "max_abs_diff_vs_eager": errors, "fused": ifx_torch.report(variants["ifx_torch"]).fused}
    cells = "  ".join(f"{v} {latency[v]:.3f} ms/{kernels[v]}k" for v in variants)
    print(f"{name:32s} {row['config']:26s} {cells}  ifx vs OFI "
          f"{latency['optimize_for_inference'] / latency['ifx_torch']:.2f}x, with graphs "
          f"{latency['optimize_for_inference'] / latency['ifx_torch+graphs']:.2f}x; "
          f"max diff ifx {errors['ifx_torch']:.2e} OFI {errors['optimize_for_inference']:.2e}", flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("conv_fusion: needs a CUDA device")
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
              "cudnn": torch.backends.cudnn.version()}
    result["models"] = model_rows(args.iters)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
