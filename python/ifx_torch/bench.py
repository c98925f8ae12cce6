"""The A/B benchmark: ifx_torch against eager PyTorch and its peers, side by side in one run.

    python -m ifx_torch.bench [--models NAME ...] [--batch 1 64] [--configs fp32 fp16-cl]
                              [--variants VARIANT ...] [--skip VARIANT ...] [--out DIR] [--quick]
    python benchmarks/ab.py ...            (the same program)

Configurations: fp32 runs torch's default math (cuDNN may use TF32 for convs), fp32-notf32
turns TF32 off; -cl is channels_last; fp16 / bf16 likewise. Every row says which math it ran.

Models: built-in names (see --list), ``torchvision:NAME`` and ``timm:NAME`` when those packages
import, a TorchScript file (``path.pt``), or ``package.module:factory``. Variants: eager,
jit.freeze, optimize_for_inference, the latter under a hand-made CUDA graph, torch.compile
(default and reduce-overhead), ifx_torch without and with graph replay, and on CUDA, outside the
default matrix, the export front end with replay (``ifx_torch-export+graphs``) and its AOTInductor
package loaded back (``ifx_torch-pt2+graphs``); one that fails to build or run is reported with
its error and the run goes on. Per model, configuration and
batch: sync latency (median, p90), throughput, CUDA kernels per forward and GPU busy time
(torch.profiler), max and relative error against a float64 reference, build time, and the
speedup over eager and over the best peer. Writes results.csv, results.json (with the
environment) and, when matplotlib imports, latency.png into --out.
"""
import argparse
import contextlib
import csv
import dataclasses
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from typing import Callable, Dict, List, NamedTuple, Optional

import torch

from . import models as builtin_models
from .graph_replay import CudaGraphModule
from .optimize import optimize
from .timing import percentile, sync_latencies_ms, synchronize

BUILTIN_MODELS = {
    "mobilenet_v3_large": builtin_models.mobilenet_v3_large,
    "mobilenet_v3_small": builtin_models.mobilenet_v3_small,
    "mobilenet_v3_large_hand_written": lambda: builtin_models.mobilenet_v3_large(hand_written=True),
    "mobilenet_v3_small_hand_written": lambda: builtin_models.mobilenet_v3_small(hand_written=True),
    "resnet18": builtin_models.resnet18,
    "resnet50": builtin_models.resnet50,
}
class Config(NamedTuple):
    dtype: torch.dtype
    memory_format: torch.memory_format
    tf32: bool  # torch's default math (cuDNN convs in TF32 on CUDA), or TF32 off everywhere


# The fp32 configurations run torch's default math, as users do; "-notf32" ones turn TF32 off.
CONFIGS = {
    "fp32": Config(torch.float32, torch.contiguous_format, True),
    "fp32-notf32": Config(torch.float32, torch.contiguous_format, False),
    "fp32-cl": Config(torch.float32, torch.channels_last, True),
    "fp32-cl-notf32": Config(torch.float32, torch.channels_last, False),
    "fp16": Config(torch.float16, torch.contiguous_format, True),
    "fp16-cl": Config(torch.float16, torch.channels_last, True),
    "bf16": Config(torch.bfloat16, torch.contiguous_format, True),
    "bf16-cl": Config(torch.bfloat16, torch.channels_last, True),
}


def math_description(config: str) -> str:
    """What a table says of a configuration's math settings."""
    if CONFIGS[config].dtype != torch.float32:
        return "16-bit"
    return "TF32 on (torch's default)" if CONFIGS[config].tf32 else "TF32 off"


@contextlib.contextmanager
def math_settings(tf32: bool):
    """torch's default math (cuDNN may use TF32 for fp32 convs; matmuls stay fp32) or TF32 off
    everywhere, for one block; the caller's flags are restored after it."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32, False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


VARIANTS = ["eager", "jit.freeze", "optimize_for_inference", "ofi+cuda_graph", "compile", "compile-reduce-overhead",
            "ifx_torch", "ifx_torch+graphs", "ifx_torch-export+graphs", "ifx_torch-pt2+graphs"]
# The peers a user would otherwise pick (the A/B matrix's default): eager, optimize_for_inference
# without and with a hand-made CUDA graph, and torch.compile's fastest mode.
DEFAULT_VARIANTS = ["eager", "optimize_for_inference", "ofi+cuda_graph", "compile-reduce-overhead", "ifx_torch",
                    "ifx_torch+graphs"]
CUDA_ONLY = {"ofi+cuda_graph", "compile-reduce-overhead", "ifx_torch+graphs", "ifx_torch-export+graphs",
             "ifx_torch-pt2+graphs"}
PEERS = [v for v in VARIANTS if not v.startswith("ifx_torch") and v != "eager"]


@dataclasses.dataclass
class Row:
    model: str
    config: str
    batch: int
    variant: str
    math: str = ""  # the fp32 math settings: TF32 on (torch's default) or off
    status: str = "ok"
    latency_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    images_per_s: Optional[float] = None
    kernels: Optional[int] = None
    gpu_busy_ms: Optional[float] = None
    max_abs_err: Optional[float] = None
    rel_err: Optional[float] = None
    build_s: Optional[float] = None
    speedup_vs_eager: Optional[float] = None
    speedup_vs_best_peer: Optional[float] = None


COLUMNS = [field.name for field in dataclasses.fields(Row)]


def load_model(name: str) -> torch.nn.Module:
    """A model by name: built-in, torchvision:NAME, timm:NAME, a TorchScript file or module:factory."""
    if name in BUILTIN_MODELS:
        return BUILTIN_MODELS[name]()
    if name.startswith("torchvision:"):
        import torchvision
        return getattr(torchvision.models, name.split(":", 1)[1])()
    if name.startswith("timm:"):
        import timm
        return timm.create_model(name.split(":", 1)[1], pretrained=False)
    if name.endswith(".pt") or name.endswith(".pth"):
        return torch.jit.load(name, map_location="cpu")
    if ":" in name:
        module_name, factory = name.split(":", 1)
        return getattr(importlib.import_module(module_name), factory)()
    raise ValueError(f"unknown model '{name}': use one of {sorted(BUILTIN_MODELS)}, torchvision:NAME, timm:NAME, "
                     "a .pt TorchScript file or package.module:factory")


def default_models(device: torch.device) -> List[str]:
    if device.type == "cpu":
        return ["mobilenet_v3_small"]
    try:
        import torchvision  # noqa: F401
        return ["torchvision:mobilenet_v3_large", "mobilenet_v3_large_hand_written", "torchvision:resnet50",
                "torchvision:efficientnet_b0"]
    except ImportError:
        return ["mobilenet_v3_large", "mobilenet_v3_large_hand_written", "resnet50"]


def environment(device: torch.device) -> Dict[str, str]:
    env = {"torch": torch.__version__, "python": platform.python_version(), "device": str(device),
           "machine": platform.machine(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    if device.type == "cuda":
        env.update(gpu=torch.cuda.get_device_name(device), cuda=str(torch.version.cuda),
                   cudnn=str(torch.backends.cudnn.version()))
    return env


# --- variants --------------------------------------------------------------------------------------

def hand_made_graph(module, x):
    """optimize_for_inference under a CUDA graph as a user would write it: one capture, static output."""
    static_x = x.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            module(static_x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y = module(static_x)

    def run(inp):
        static_x.copy_(inp)
        graph.replay()
        return static_y
    run.graph = graph  # for profiling the replay alone
    return run


def build_variant(variant: str, model: torch.nn.Module, x: torch.Tensor) -> Callable:
    def script():
        return model if isinstance(model, torch.jit.ScriptModule) else torch.jit.script(model)
    if variant == "eager":
        return model
    if variant == "jit.freeze":
        return torch.jit.freeze(script())
    if variant == "optimize_for_inference":
        return torch.jit.optimize_for_inference(torch.jit.freeze(script()))
    if variant == "ofi+cuda_graph":
        return hand_made_graph(torch.jit.optimize_for_inference(torch.jit.freeze(script())), x)
    if variant.startswith("compile"):
        # A fresh start per build: dynamo's cache is per forward function, shared by the model
        # instances of every configuration, and past its recompile limit it silently runs eager.
        torch._dynamo.reset()
        return torch.compile(model, mode="reduce-overhead" if variant == "compile-reduce-overhead" else None)
    if variant == "ifx_torch":
        return optimize(model, (x,), cuda_graphs=False)
    if variant == "ifx_torch+graphs":
        return CudaGraphModule(optimize(model, (x,), cuda_graphs=False))
    # The export front end, in process and as the AOTInductor package a C++ program would load.
    if variant == "ifx_torch-export+graphs":
        return CudaGraphModule(optimize(model, (x,), cuda_graphs=False, frontend="export"))
    if variant == "ifx_torch-pt2+graphs":
        from .export_frontend import load_package, save_package
        path = os.path.join(tempfile.mkdtemp(prefix="ifx_bench_"), "model.pt2")
        save_package(optimize(model, (x,), cuda_graphs=False, frontend="export"), path)
        return CudaGraphModule(load_package(path))
    raise ValueError(f"unknown variant '{variant}'; known: {VARIANTS}")


# --- measures --------------------------------------------------------------------------------------

def latency(fn, x, iters: int, device) -> Dict[str, float]:
    samples = sync_latencies_ms(fn, x, iters, device)
    return {"median": statistics.median(samples), "p90": percentile(samples, 0.9)}


def throughput(fn, x, iters: int, device) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn(x)
    synchronize(device)
    return iters * x.shape[0] / (time.perf_counter() - start)


def covered_us(intervals) -> float:
    """How long at least one of the (start, end) intervals runs. With programmatic dependent launch
    a kernel starts before its predecessor ends and waits inside, so the sum of kernel durations
    counts that wait twice; the union counts the time the GPU holds a kernel once."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def cuda_kernels(fn, x, device):
    """(name, start us, end us) of each CUDA kernel that one call fn(x) runs, from torch.profiler."""
    from torch.profiler import ProfilerActivity, profile
    synchronize(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn(x)
        synchronize(device)
    return [(e.name, e.time_range.start, e.time_range.end) for e in prof.events()
            if e.device_type == torch.autograd.DeviceType.CUDA]


def kernel_profile(fn, x, device):
    """(CUDA kernels per forward, GPU busy ms: the union of the kernels' intervals) from
    torch.profiler; (None, None) on CPU."""
    if device.type != "cuda":
        return None, None
    kernels = cuda_kernels(fn, x, device)
    return len(kernels), covered_us((start, end) for _, start, end in kernels) / 1e3


def errors(output: torch.Tensor, reference: torch.Tensor):
    diff = (output.double() - reference).abs().max().item()
    return diff, diff / max(reference.abs().max().item(), 1e-30)


# --- the run -----------------------------------------------------------------------------------------

def measure_model(name, args, device, progress) -> List[Row]:
    rows = []
    for config in args.configs:
        dtype, memory_format, tf32 = CONFIGS[config]
        torch.manual_seed(0)
        base = load_model(name).eval()
        if not isinstance(base, torch.jit.ScriptModule):
            base = builtin_models.calibrate_batchnorm(base, (4, 3, args.image_size, args.image_size))
        for batch in args.batch:
            x32 = torch.randn(batch, 3, args.image_size, args.image_size)
            with torch.no_grad():
                reference = base.double()(x32.double()).double()
                base.float()
            model = base.to(device=device, dtype=dtype).to(memory_format=memory_format)
            x = x32.to(device=device, dtype=dtype).contiguous(memory_format=memory_format)
            for variant in args.variants:
                row = Row(name, config, batch, variant, math_description(config))
                rows.append(row)
                if variant in CUDA_ONLY and device.type != "cuda":
                    row.status = "skipped: CUDA only"
                    progress(row)
                    continue
                try:
                    with torch.no_grad(), warnings.catch_warnings(), math_settings(tf32):
                        warnings.simplefilter("ignore")
                        start = time.perf_counter()
                        fn = build_variant(variant, model, x)
                        for _ in range(args.warmup):
                            out = fn(x)
                        synchronize(device)
                        row.build_s = time.perf_counter() - start
                        row.max_abs_err, row.rel_err = errors(out.float().cpu(), reference)
                        timing = latency(fn, x, args.iters, device)
                        row.latency_ms, row.p90_ms = timing["median"], timing["p90"]
                        row.images_per_s = throughput(fn, x, args.iters, device)
                        row.kernels, row.gpu_busy_ms = kernel_profile(fn, x, device)
                except Exception as error:  # a peer that fails is reported, the run goes on
                    row.status = f"error: {type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
                progress(row)
            base = base.to("cpu", torch.float32).to(memory_format=torch.contiguous_format)
    add_speedups(rows)
    return rows


def add_speedups(rows: List[Row]) -> None:
    groups: Dict[tuple, List[Row]] = {}
    for row in rows:
        groups.setdefault((row.model, row.config, row.batch), []).append(row)
    for group in groups.values():
        ok = {r.variant: r.latency_ms for r in group if r.status == "ok" and r.latency_ms}
        best_peer = min((ok[v] for v in PEERS if v in ok), default=None)
        for row in group:
            if row.variant in ok:
                if "eager" in ok:
                    row.speedup_vs_eager = ok["eager"] / ok[row.variant]
                if best_peer is not None:
                    row.speedup_vs_best_peer = best_peer / ok[row.variant]


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 else f"{value:.3f}"
    return str(value)


def print_table(rows: List[Row]) -> None:
    shown = ["model", "config", "math", "batch", "variant", "latency_ms", "p90_ms", "images_per_s", "kernels", "max_abs_err",
             "build_s", "speedup_vs_eager", "speedup_vs_best_peer"]
    print("\n" + " | ".join(shown))
    for row in rows:
        values = dataclasses.asdict(row)
        cells = [_cell(values[c]) for c in shown] if row.status == "ok" else [
            row.model, row.config, row.math, str(row.batch), row.variant, row.status]
        print(" | ".join(cells))


def device_from_args(parser: argparse.ArgumentParser, name: Optional[str]) -> torch.device:
    """--device NAME, or CUDA when present and the CPU otherwise; --device cuda without CUDA is a
    usage error."""
    device = torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    return device


def write_csv(path: str, rows, env: Dict[str, str], columns: List[str]) -> None:
    """Dataclass rows as CSV, the environment first as '# key: value' lines."""
    with open(path, "w", newline="") as f:
        f.write("".join(f"# {key}: {value}\n" for key, value in env.items()))
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(dataclasses.asdict(row))


def write_outputs(rows: List[Row], env: Dict[str, str], out_dir: str) -> List[str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "results.csv"), os.path.join(out_dir, "results.json")]
    write_csv(paths[0], rows, env, COLUMNS)
    with open(paths[1], "w") as f:
        json.dump({"environment": env, "rows": [dataclasses.asdict(r) for r in rows]}, f, indent=1)
    plot = plot_latency(rows, env, os.path.join(out_dir, "latency.png"))
    return paths + ([plot] if plot else [])


def plot_latency(rows: List[Row], env: Dict[str, str], path: str) -> Optional[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not importable: no plot", flush=True)
        return None
    groups = sorted({(r.model, r.config, r.batch) for r in rows})
    variants = [v for v in VARIANTS if any(r.variant == v and r.status == "ok" for r in rows)]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups)), 4.5))
    width = 0.8 / max(1, len(variants))
    for i, variant in enumerate(variants):
        for j, group in enumerate(groups):
            row = next((r for r in rows if (r.model, r.config, r.batch) == group and r.variant == variant), None)
            if row is None or row.status != "ok":
                continue
            ax.bar(j + i * width, row.latency_ms, width, label=variant if j == 0 else None, color=f"C{i}")
            if row.variant.startswith("ifx_torch") and row.speedup_vs_eager:
                ax.annotate(f"{row.speedup_vs_eager:.1f}x", (j + i * width, row.latency_ms), ha="center",
                            va="bottom", fontsize=7)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(groups))])
    ax.set_xticklabels([f"{m.split(':')[-1]}\n{c} b{b}" for m, c, b in groups], fontsize=7)
    ax.set_ylabel("latency per forward, ms (log)")
    ax.set_yscale("log")
    ax.set_title(f"ifx_torch A/B — {env.get('gpu', env['device'])}, torch {env['torch']}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ifx_torch.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+")
    parser.add_argument("--batch", nargs="+", type=int)
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS))
    parser.add_argument("--device", choices=["cuda", "cpu"])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS,
                        help="default: every variant on the CPU, the A/B matrix's peers on CUDA "
                             f"({' '.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--skip", nargs="+", choices=VARIANTS, default=[], help="variants to switch off")
    parser.add_argument("--iters", type=int)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--out", default="bench_out")
    parser.add_argument("--quick", action="store_true", help="a seconds-long CPU check (CI)")
    parser.add_argument("--list", action="store_true", help="list the built-in models and exit")
    args = parser.parse_args(argv)
    device = device_from_args(parser, args.device)
    if args.quick:
        args.models = args.models or ["mobilenet_v3_small"]
        args.batch, args.configs, args.iters, args.warmup, args.image_size = args.batch or [1], ["fp32"], 3, 2, 64
        args.skip = sorted(set(args.skip) | {"compile", "compile-reduce-overhead"})
    cpu = device.type == "cpu"
    asked_variants = args.variants is not None
    args.variants = args.variants or (VARIANTS if cpu or args.quick else DEFAULT_VARIANTS)
    args.models = args.models or default_models(device)
    args.batch = args.batch or ([1] if cpu else [1, 64])
    args.configs = args.configs or (["fp32"] if cpu else ["fp32", "fp16-cl"])
    args.iters = args.iters or (20 if cpu else 100)
    # torch.compile on CPU needs a C++ toolchain and takes minutes: off unless asked for.
    default_skip = {"compile", "compile-reduce-overhead"} if cpu and not asked_variants else set()
    args.variants = [v for v in args.variants if v not in set(args.skip) | default_skip]
    return args, device


def main(argv=None) -> int:
    args, device = parse_args(argv)
    if args.list:
        print("\n".join(sorted(BUILTIN_MODELS)))
        return 0
    env = environment(device)
    print("environment: " + ", ".join(f"{k} {v}" for k, v in env.items()), flush=True)
    total = len(args.models) * len(args.configs) * len(args.batch) * len(args.variants)
    done = [0]

    def progress(row: Row):
        done[0] += 1
        detail = f"{row.latency_ms:.3f} ms" if row.status == "ok" else row.status
        print(f"[{done[0]}/{total}] {row.model} {row.config} batch {row.batch} {row.variant}: {detail}", flush=True)

    rows: List[Row] = []
    paths: List[str] = []
    for name in args.models:
        try:
            rows += measure_model(name, args, device, progress)
        except Exception as error:  # a model that does not load is reported, the others still run
            print(f"{name}: could not be measured: {type(error).__name__}: {error}", flush=True)
            rows.append(Row(name, "-", 0, "-", status=f"error: {type(error).__name__}: {error}"))
        # After every model, so a run stopped part-way still leaves its results.
        paths = write_outputs(rows, env, args.out)
    print_table(rows)
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
