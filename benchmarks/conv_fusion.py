"""Conv fusion on the GPU: per-layer GPU time and whole-model kernels and latency.

    python3 benchmarks/conv_fusion.py [--layers] [--models] [--json PATH]

--layers: every distinct conv shape of MobileNetV3-large and ResNet-50 (torchvision's when
importable, the built-in ones otherwise), at batch 1 and 64, fp32 NCHW (TF32 off) and fp16 channels_last:
GPU time of ifx::conv2d_act against aten's conv followed by the separate activation (what
optimize_for_inference runs), each as 20 calls captured in one CUDA graph, so launch gaps
count as they do under graph replay and host overhead does not.

--models: whole models at batch 1 and 64, fp32 (TF32 off) and fp16 channels_last: CUDA
kernels per forward (torch.profiler) and sync latency for eager, optimize_for_inference,
ifx_torch without graph replay and ifx_torch with it, measured in the same run, and the max
difference of each from eager. CUDA only.
"""
import argparse
import json
import statistics
import sys

import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
from ifx_torch import models
from ifx_torch.bench import kernel_profile
from ifx_torch.graph_replay import CudaGraphModule
from ifx_torch.timing import median_latencies_ms

CONFIGS = [(1, torch.float32, torch.contiguous_format), (64, torch.float32, torch.contiguous_format),
           (1, torch.float16, torch.channels_last), (64, torch.float16, torch.channels_last)]


def config_name(batch, dtype, memory_format):
    return f"batch {batch} {str(dtype).replace('torch.', '')}{' channels_last' if memory_format == torch.channels_last else ''}"


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


# --- per layer ---------------------------------------------------------------------------------

def conv_layers(model, activation):
    """(conv module, input height, input width, activation) for each distinct conv configuration."""
    seen, layers = set(), []

    def hook(module, inputs, _output):
        h, w = inputs[0].shape[-2:]
        key = (module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,
               module.dilation, module.groups, h, w)
        if key not in seen:
            seen.add(key)
            layers.append((module, h, w, activation))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, 224, 224))
    for handle in handles:
        handle.remove()
    return layers


def graph_time_us(fn, calls=20, replays=20):
    """GPU time per call: `calls` calls captured in one CUDA graph, replayed `replays` times."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls):
            fn()
    graph.replay()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(replays):
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3 / calls)
    return statistics.median(times)


def layer_rows():
    # fp32 means fp32, as in the model rows: cuDNN would otherwise pick TF32 for the aten side
    # and for the cuDNN paths of ours, while our own kernels never use it.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    builders = model_builders()
    layers = conv_layers(builders["mobilenet_v3_large"](), "hardswish") + conv_layers(builders["resnet50"](), "relu")
    rows = []
    for batch, dtype, memory_format in CONFIGS:
        for conv, h, w, activation in layers:
            x = torch.randn(batch, conv.in_channels, h, w, device="cuda", dtype=dtype).contiguous(
                memory_format=memory_format)
            weight = conv.weight.detach().to("cuda", dtype)
            bias = torch.randn(conv.out_channels, device="cuda", dtype=dtype)
            args = (list(conv.stride), list(conv.padding), list(conv.dilation), conv.groups)
            act = F.hardswish if activation == "hardswish" else F.relu
            aten = lambda: act(F.conv2d(x, weight, bias, *args))  # noqa: E731
            fused = lambda: torch.ops.ifx.conv2d_act(x, weight, bias, *args, None, activation)  # noqa: E731
            torch.testing.assert_close(fused(), aten(), rtol=2e-2, atol=2e-2)
            aten_us, ifx_us = graph_time_us(aten), graph_time_us(fused)
            rows.append({"config": config_name(batch, dtype, memory_format),
                         "layer": f"{conv.in_channels}->{conv.out_channels} k{conv.kernel_size[0]} s{conv.stride[0]} "
                                  f"g{conv.groups} {h}x{w} +{activation}",
                         "aten_us": aten_us, "ifx_us": ifx_us, "speedup": aten_us / ifx_us})
            print(f"{rows[-1]['config']:26s} {rows[-1]['layer']:40s} aten {aten_us:8.1f} us  ifx {ifx_us:8.1f} us  "
                  f"{rows[-1]['speedup']:5.2f}x", flush=True)
    print("\nGeometric mean speedup of ifx::conv2d_act over conv + activation, per configuration:")
    for batch, dtype, memory_format in CONFIGS:
        name = config_name(batch, dtype, memory_format)
        ratios = [row["speedup"] for row in rows if row["config"] == name]
        total_aten = sum(row["aten_us"] for row in rows if row["config"] == name)
        total_ifx = sum(row["ifx_us"] for row in rows if row["config"] == name)
        print(f"  {name:26s} geomean {statistics.geometric_mean(ratios):5.2f}x  sum of layers "
              f"{total_aten:8.1f} us -> {total_ifx:8.1f} us  slower layers: {sum(r < 1 for r in ratios)}/{len(ratios)}")
    return rows


# --- whole models --------------------------------------------------------------------------------

def kernels_per_forward(fn, x):
    with torch.no_grad():
        fn(x)
        return kernel_profile(fn, x, x.device)[0]


def model_rows(iters):
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    rows = []
    for name, build in model_builders().items():
        for batch, dtype, memory_format in CONFIGS:
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
            row = {"model": name, "config": config_name(batch, dtype, memory_format), "latency_ms": latency,
                   "kernels": kernels, "max_abs_diff_vs_eager": errors,
                   "fused": ifx_torch.report(variants["ifx_torch"]).fused}
            rows.append(row)
            cells = "  ".join(f"{v} {latency[v]:.3f} ms/{kernels[v]}k" for v in variants)
            print(f"{name:32s} {row['config']:26s} {cells}  ifx vs OFI "
                  f"{latency['optimize_for_inference'] / latency['ifx_torch']:.2f}x, with graphs "
                  f"{latency['optimize_for_inference'] / latency['ifx_torch+graphs']:.2f}x; "
                  f"max diff ifx {errors['ifx_torch']:.2e} OFI {errors['optimize_for_inference']:.2e}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", action="store_true")
    parser.add_argument("--models", action="store_true")
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("conv_fusion: needs a CUDA device")
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
              "cudnn": torch.backends.cudnn.version()}
    if args.layers or not args.models:
        result["layers"] = layer_rows()
    if args.models or not args.layers:
        result["models"] = model_rows(args.iters)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
