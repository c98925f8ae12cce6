"""Per-layer GPU time of ifx::conv2d_act's kernel paths, for every distinct conv of the A/B models.

    python3 benchmarks/conv_layers.py [--kind dense|depthwise|all] [--batch 1 64] [--configs fp32 fp16-cl]
        [--models NAME ...] [--compile] [--json PATH]

For each distinct conv (in/out channels, kernel, stride, groups, input size) of torchvision's
mobilenet_v3_large, resnet50, efficientnet_b0 and mobilenet_v2 (the seed-style MobileNetV3 has
mobilenet_v3_large's shapes), each batch and config, as the optimized model runs it (channels_last
in fp32 under TF32 and in 16 bits), with the activation the model applies after it and a bias:

- "chosen": the op's own choice (the first call of a shape times the candidates);
- every path that covers the call, forced (kernel_choice.h's names: implicit_gemm, cudnn+epilogue,
  cudnn_fused_relu where it applies, pointwise, depthwise, ...);

and with --compile, "torch.compile": the same layer as torch.compile makes it (conv2d with its bias,
then the activation; a fresh compile per layer, seconds each), the peer a user would otherwise have.
Two times per call: GPU busy time from torch.profiler (the time the kernels of 20 calls cover, per
call; the gap between a path's kernels is not in it) and stream time, the way the first-call tuning
measures (CUDA events around 5 calls queued behind a spinning kernel, best of 3: kernels back to back
as graph replay runs them, gaps included). "chosen / best" above 1.03 means the choice is more than
3% slower than the best path by that measure (torch.compile is not one of ours: "chosen / compile"
compares against it separately, by busy time).
fp32 runs torch's default math (cuDNN TF32 on; the implicit GEMM uses TF32 too); -notf32 turns it off.
"""
import argparse
import json
import statistics
import sys

import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
from ifx_torch.bench import CONFIGS, environment, kernel_profile, math_settings
from ifx_torch.timing import queued_call_us

MODEL_ACTIVATIONS = {"mobilenet_v3_large": "hardswish", "resnet50": "relu", "efficientnet_b0": "silu",
                     "mobilenet_v2": "relu6"}


def conv_layers(name):
    """(conv module, input height, input width) for each distinct conv of torchvision's `name`."""
    import torchvision
    model = getattr(torchvision.models, name)().eval()
    seen, layers = set(), []

    def hook(module, inputs, _output):
        h, w = inputs[0].shape[-2:]
        key = (module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,
               module.dilation, module.groups, h, w)
        if key not in seen:
            seen.add(key)
            layers.append((module, h, w))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(torch.randn(1, 3, 224, 224))
    for handle in handles:
        handle.remove()
    return layers


def gpu_us(fn, calls=20):
    """GPU time of one call: the time covered by the kernels of `calls` calls, averaged."""
    for _ in range(3):
        fn()
    _, busy_ms = kernel_profile(lambda _: [fn() for _ in range(calls)], None, torch.device("cuda"))
    return 1e3 * busy_ms / calls


TORCH_ACTIVATIONS = {"hardswish": F.hardswish, "relu": F.relu, "silu": F.silu, "relu6": F.relu6}


def compiled_layer(x, weight, bias, conv, activation):
    """torch.compile of conv2d + bias + activation for this layer (default mode: cuDNN's conv and
    a generated kernel for what follows), compiled afresh so no earlier layer's guards apply."""
    act = TORCH_ACTIVATIONS[activation]

    def layer(inp):
        return act(F.conv2d(inp, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups))
    torch._dynamo.reset()
    compiled = torch.compile(layer, dynamic=False)
    return lambda: compiled(x)


def layer_rows(name, batch, config, kind, with_compile=False):
    dtype, _, tf32 = CONFIGS[config]
    activation = MODEL_ACTIVATIONS[name]
    rows = []
    for conv, h, w in conv_layers(name):
        depthwise = conv.groups == conv.in_channels == conv.out_channels and conv.groups > 1
        if (kind == "dense" and depthwise) or (kind == "depthwise" and not depthwise):
            continue
        x = torch.randn(batch, conv.in_channels, h, w, device="cuda", dtype=dtype)
        layout = torch.channels_last if dtype != torch.float32 or tf32 else torch.contiguous_format
        x = x.contiguous(memory_format=layout)
        weight = conv.weight.detach().to("cuda", dtype).contiguous(memory_format=layout)
        bias = torch.randn(conv.out_channels, device="cuda", dtype=dtype)
        args = (x, weight, bias, list(conv.stride), list(conv.padding), list(conv.dilation), conv.groups, None,
                activation)
        with math_settings(tf32):
            _, covering = ifx_torch._C.conv_paths(*args)
            times = {"chosen": gpu_us(lambda: torch.ops.ifx.conv2d_act(*args))}
            stream = {"chosen": queued_call_us(lambda: torch.ops.ifx.conv2d_act(*args))}
            chosen = ifx_torch._C.last_kernel_path("conv2d_act")
            for path in covering:
                if path == "aten":
                    continue
                ifx_torch._C.set_kernel_override(path, "", "auto")
                try:
                    times[path] = gpu_us(lambda: torch.ops.ifx.conv2d_act(*args))
                    stream[path] = queued_call_us(lambda: torch.ops.ifx.conv2d_act(*args))
                finally:
                    ifx_torch._C.reset_kernel_override()
            if with_compile:
                with torch.no_grad():
                    times["torch.compile"] = gpu_us(compiled_layer(x, weight, bias, conv, activation))
        best_path = min((p for p in times if p not in ("chosen", "torch.compile")), key=times.get)
        best_stream_path = min((p for p in stream if p != "chosen"), key=stream.get)
        rows.append({"model": name, "batch": batch, "config": config,
                     "layer": f"{conv.in_channels}->{conv.out_channels} k{conv.kernel_size[0]} s{conv.stride[0]} "
                              f"g{conv.groups} {h}x{w} +{activation}",
                     "chosen_path": chosen, "best_path": best_path, "us": times,
                     "chosen_over_best": times["chosen"] / times[best_path],
                     "best_stream_path": best_stream_path, "stream_us": stream,
                     "chosen_over_best_stream": stream["chosen"] / stream[best_stream_path]})
        if "torch.compile" in times:
            rows[-1]["chosen_over_compile"] = times["chosen"] / times["torch.compile"]
        peer = f", torch.compile {times['torch.compile']:8.1f} us" if "torch.compile" in times else ""
        print(f"{name:20s} b{batch:<3d} {config:12s} {rows[-1]['layer']:38s} chosen {chosen:20s} "
              f"{times['chosen']:8.1f} us, best {best_path:20s} {times[best_path]:8.1f} us{peer}; stream time: chosen "
              f"{stream['chosen']:8.1f} us, best {best_stream_path:20s} {stream[best_stream_path]:8.1f} us", flush=True)
    return rows


def write_json(path, rows):
    with open(path, "w") as f:
        json.dump({"environment": environment(torch.device("cuda")), "rows": rows}, f, indent=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=["dense", "depthwise", "all"], default="dense")
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--configs", nargs="+", default=["fp32", "fp16-cl"], choices=sorted(CONFIGS))
    parser.add_argument("--models", nargs="+", default=list(MODEL_ACTIVATIONS), choices=list(MODEL_ACTIVATIONS))
    parser.add_argument("--compile", action="store_true", help="also time torch.compile's version of each layer")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("conv_layers: needs a CUDA device")
    rows = []
    for name in args.models:
        for config in args.configs:
            for batch in args.batch:
                rows += layer_rows(name, batch, config, args.kind, args.compile)
                if args.json:  # after each group, so that a run stopped early keeps what it measured
                    write_json(args.json, rows)
    print("\nchosen / best: by GPU busy time, then by stream time (the tuning's measure)")
    print("\n| config | batch | layers | geomean chosen / best | worst chosen / best | over 1.03 | "
          "geomean, stream | worst, stream | over 1.03, stream | paths chosen |"
          + (" geomean chosen / compile | worst chosen / compile |" if args.compile else ""))
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if args.compile else ""))
    for config in args.configs:
        for batch in args.batch:
            group = [r for r in rows if r["config"] == config and r["batch"] == batch]
            if not group:
                continue
            ratios = [r["chosen_over_best"] for r in group]
            stream_ratios = [r["chosen_over_best_stream"] for r in group]
            paths = {}
            for r in group:
                paths[r["chosen_path"]] = paths.get(r["chosen_path"], 0) + 1
            peer = [r["chosen_over_compile"] for r in group if "chosen_over_compile" in r]
            peer_cells = f" {statistics.geometric_mean(peer):.3f} | {max(peer):.3f} |" if peer else ""
            print(f"| {config} | {batch} | {len(group)} | {statistics.geometric_mean(ratios):.3f} | {max(ratios):.3f} | "
                  f"{sum(r > 1.03 for r in ratios)} | {statistics.geometric_mean(stream_ratios):.3f} | {max(stream_ratios):.3f} | "
                  f"{sum(r > 1.03 for r in stream_ratios)} | {', '.join(f'{p} {n}' for p, n in sorted(paths.items()))} |"
                  + peer_cells)


if __name__ == "__main__":
    main()
