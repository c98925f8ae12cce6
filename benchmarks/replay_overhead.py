"""What graph replay costs beyond the graph: ifx_torch's runner against a bare CUDAGraph.replay().

    python3 benchmarks/replay_overhead.py [--models NAME ...] [--configs fp32 fp16-cl] [--iters 400]
        [--frontends torchscript export] [--ifx-run PATH] [--json PATH]

Per model (a one-kernel model, then the zoo's small CNNs) and config, at batch 1: the module
ifx_torch.optimize makes (without replay) is run, side by side in one process and in turns,

- "bare": one torch.cuda.CUDAGraph captured by hand: copy the input into the static buffer,
  replay, return the static output (what a user writes by hand; the floor of what a runner
  costs);
- "ifx": ifx_torch.CudaGraphModule (fresh outputs, what optimize returns on CUDA);
- "ifx-static": the same with static_outputs=True (no output copy);
- "bare-pdl": the bare graph captured with ifx's programmatic dependent launch on (what PDL
  buys inside the graph; the others run with it off, the default: csrc/kernels/launch.h);

and, when ifx_run is built, the same file replayed from C++ (ifx_run --cuda-graphs), timed the
same way in its own process (TorchScript results only; benchmarks/cpp_vs_python.py runs packages).
With --frontends export the same rows are made for optimize(..., frontend="export"), whose bare
replay beside TorchScript's says whether the two front ends differ in GPU work or in the runner's
host work. Also the graph's kernels and GPU busy time (torch.profiler over one
bare replay) and the gap per kernel, (bare latency - GPU busy) / kernels. Median sync latency
(a device synchronize after each call). fp32 runs torch's default math (TF32 on for convs).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn

import ifx_torch
from ifx_torch import models
from ifx_torch.bench import CONFIGS, environment, hand_made_graph, kernel_profile, math_settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class OneKernel(nn.Module):
    def forward(self, x):
        return torch.nn.functional.hardswish(x)


def model_builders():
    zoo = {"one_kernel": (OneKernel, (1, 256)),
           "mobilenet_v3_large_hand_written": (lambda: models.mobilenet_v3_large(hand_written=True), None)}
    try:
        import torchvision
        for name in ("mobilenet_v3_large", "mobilenet_v3_small", "resnet18", "resnet50", "efficientnet_b0"):
            zoo[name] = (getattr(torchvision.models, name), None)
    except ImportError:
        print("torchvision not importable: its models are skipped", flush=True)
    try:
        import timm
        for name in ("mobilenetv3_large_100", "hardcorenas_a"):
            zoo[f"timm:{name}"] = (lambda name=name: timm.create_model(name), None)
    except ImportError:
        print("timm not importable: its models are skipped", flush=True)
    return zoo


def bare_replay(module, x):
    """A hand-made graph of `module` (copy in, replay, static output) and the graph."""
    run = hand_made_graph(module, x)
    return run, run.graph


def latencies_ms(variants, x, iters, rounds=8):
    """Median per-call sync latency of each variant, the variants taking turns."""
    samples = {name: [] for name in variants}
    for fn in variants.values():
        for _ in range(20):
            fn(x)
    torch.cuda.synchronize()
    for _ in range(rounds):
        for name, fn in variants.items():
            for _ in range(iters // rounds):
                torch.cuda.synchronize()
                start = time.perf_counter()
                fn(x)
                torch.cuda.synchronize()
                samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in samples.items()}


CPP_LATENCY = re.compile(r"latency over (\d+) runs \(sync after each\): p50 (\S+) ms")


def cpp_latency_ms(ifx_run, module, x, iters, tf32):
    with tempfile.TemporaryDirectory() as workdir:
        model_path, input_path = os.path.join(workdir, "m.pt"), os.path.join(workdir, "x.pt")
        torch.jit.save(module, model_path)
        torch.save(x.cpu(), input_path)
        command = [ifx_run, model_path, "--input", input_path, "--device", "cuda", "--cuda-graphs", "--warmup", "20",
                   "--iters", str(iters)] + ([] if tf32 else ["--no-tf32"])
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    found = CPP_LATENCY.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"ifx_run failed: {done.stderr.strip()[-300:]}")
    return float(found.group(2))


def measure(name, build, shape, config, frontend, args):
    dtype, memory_format, tf32 = CONFIGS[config]
    torch.manual_seed(0)
    model = build().eval()
    if shape is None:
        model = models.calibrate_batchnorm(model, (4, 3, 224, 224))
        shape = (1, 3, 224, 224)
    model = model.to("cuda", dtype).to(memory_format=memory_format)
    x = torch.randn(*shape, device="cuda", dtype=dtype)
    if x.dim() == 4:
        x = x.contiguous(memory_format=memory_format)
    with math_settings(tf32), torch.no_grad():
        module = ifx_torch.optimize(model, (x,), cuda_graphs=False, frontend=frontend)
        bare, graph = bare_replay(module, x)
        variants = {"bare": bare, "ifx": ifx_torch.CudaGraphModule(module),
                    "ifx-static": ifx_torch.CudaGraphModule(module, static_outputs=True)}
        pdl = ifx_torch._C.programmatic_launch()
        ifx_torch._C.set_programmatic_launch(True)
        try:
            variants["bare-pdl"], _ = bare_replay(module, x)
        finally:
            ifx_torch._C.set_programmatic_launch(pdl)
        assert torch.equal(variants["ifx"](x), bare(x).clone())
        latency = latencies_ms(variants, x, args.iters)
        kernels, busy_ms = kernel_profile(lambda _: graph.replay(), None, torch.device("cuda"))
        row = {"model": name, "config": config, "frontend": frontend, "math": "TF32 on (torch's default)" if tf32 else "TF32 off",
               **{f"{v}_ms": latency[v] for v in variants}, "kernels": kernels, "gpu_busy_ms": busy_ms}
        if args.ifx_run and frontend == "torchscript":
            row["cpp_ms"] = cpp_latency_ms(args.ifx_run, module, x, args.iters, tf32)
    row["bare_over_ifx"] = row["bare_ms"] / row["ifx_ms"]
    row["bare_over_cpp"] = row["bare_ms"] / row["cpp_ms"] if "cpp_ms" in row else None
    row["gap_us_per_kernel"] = 1e3 * (row["bare_ms"] - busy_ms) / kernels if kernels else None
    return row


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+")
    parser.add_argument("--configs", nargs="+", default=["fp32", "fp16-cl"], choices=sorted(CONFIGS))
    parser.add_argument("--iters", type=int, default=400)
    parser.add_argument("--frontends", nargs="+", default=["torchscript"], choices=["torchscript", "export"])
    default_run = os.environ.get("IFX_RUN") or os.path.join(ROOT, "build", "cmake", "ifx_run")
    parser.add_argument("--ifx-run", default=default_run if os.path.exists(default_run) else None)
    parser.add_argument("--json")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("replay_overhead: needs a CUDA device")
    zoo = model_builders()
    names = args.models or list(zoo)
    rows = []
    for name in names:
        for config in args.configs:
            for frontend in args.frontends:
                try:
                    rows.append(measure(name, *zoo[name], config, frontend, args))
                except Exception as error:  # reported, and the run goes on
                    rows.append({"model": name, "config": config, "frontend": frontend,
                                 "error": str(error).splitlines()[0][:200]})
                print(rows[-1], flush=True)
    print("\n| model | config | front end | math | bare ms | ifx ms | bare / ifx | ifx static ms | C++ ms | bare / C++ | kernels |"
          " GPU busy ms | gap us / kernel | bare with PDL ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | {r['config']} | {r['frontend']} | error: {r['error']} |")
            continue
        cpp = f"{r['cpp_ms']:.3f} | {r['bare_over_cpp']:.2f}" if r.get("cpp_ms") else "- | -"
        print(f"| {r['model']} | {r['config']} | {r['frontend']} | {r['math']} | {r['bare_ms']:.3f} | {r['ifx_ms']:.3f} | "
              f"{r['bare_over_ifx']:.2f} | {r['ifx-static_ms']:.3f} | {cpp} | {r['kernels']} | {r['gpu_busy_ms']:.3f} | "
              f"{r['gap_us_per_kernel']:.2f} | {r['bare-pdl_ms']:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": environment(torch.device("cuda")), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
