"""C++ (ifx_run) against Python on the same optimized file, batch 1, in one run.

    python3 benchmarks/cpp_vs_python.py [--device cuda|cpu] [--quick] [--models NAME ...]
        [--configs fp32 fp16-cl ...] [--frontends torchscript export] [--warmup N] [--iters N]
        [--no-plain] [--ifx-run PATH] [--json PATH]

Per model (torchvision's mobilenet_v3_large and resnet50; the built-in definitions of
ifx_torch.models when torchvision is missing) and config (fp32 with torch's default math,
fp32-notf32 with TF32 off, fp16 channels_last; ifx_torch.bench's names) and front end, the model is
optimized once in Python (ifx_torch.optimize without graph replay) and saved: the TorchScript
front end's result with torch.jit.save (.pt), the export front end's with ifx_torch.save_package
(an AOTInductor .pt2; compiling it takes seconds to minutes). The same file is then measured

- in Python: torch.jit.load (.pt) or ifx_torch.load_package (.pt2), wrapped in
  ifx_torch.CudaGraphModule as README says for a loaded model (mode "graphs"), and the loaded
  module as it is (mode "plain");
- in C++: ifx_run --cuda-graphs ("graphs") and ifx_run without it ("plain"),

with the same warm-up and iteration counts, on the identical input: it is written with
torch.save and read by ifx_run --input, so dtype and channels_last strides are the same too.
Latency is the p50 of per-call wall time with a device synchronize after each call, taken by
nearest rank as ifx_run takes it. The C++ output (--save-output) is compared with Python's.

On the CPU nothing is replayed (both sides run the module as it is in both modes);
`--device cpu --quick` is the seconds-long run CI does. ifx_run is --ifx-run, else $IFX_RUN,
else build/cmake/ifx_run (make build-cpp). The exit status is 1 when a measurement failed or
the outputs disagree.
"""
import argparse
import copy
import dataclasses
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from typing import List, Optional

import torch

import ifx_torch
from ifx_torch import models
from ifx_torch.bench import CONFIGS as BENCH_CONFIGS, environment, math_settings
from ifx_torch.timing import percentile, sync_latencies_ms

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name -> (dtype, memory format): the benchmark's configurations that TOLERANCE covers
CONFIGS = {name: BENCH_CONFIGS[name] for name in ("fp32", "fp32-notf32", "fp32-cl", "fp16", "fp16-cl")}
MODES = ["graphs", "plain"]
FRONTENDS = ["torchscript", "export"]
# |C++ - Python| allowed, relative to the output's largest magnitude. Both sides run the same
# file on the same device, so they normally agree bit for bit; kernels picked differently per
# process (cuDNN heuristics, the first-use conv timing) may round differently.
TOLERANCE = {torch.float32: 1e-4, torch.float16: 1e-2}
# fp32 rows under TF32: two processes' kernel choices may differ by as much as TF32 convs differ
# from exact ones, which grows with depth (resnet50: about 2% of the output's scale against
# float64). There each side is held to the numerics rule instead (docs/benchmarks.md,
# "Numerics"): its error against the float64 model at most TF32_ERROR_FACTOR times eager fp32's
# under the same flags.
TF32_ERROR_FACTOR = 2.0


@dataclasses.dataclass
class Float64Check:
    """The float64 model's output on the row's input, and eager fp32's relative error against it
    under the row's math flags."""
    reference: torch.Tensor
    eager_error: float


@dataclasses.dataclass
class Row:
    model: str
    source: str
    config: str
    frontend: str
    mode: str
    status: str = "ok"
    python_ms: Optional[float] = None
    python_p90_ms: Optional[float] = None
    cpp_ms: Optional[float] = None
    cpp_p90_ms: Optional[float] = None
    ratio: Optional[float] = None  # python_ms / cpp_ms: above 1, C++ is faster
    max_diff: Optional[float] = None
    agree: Optional[bool] = None
    # fp32 under TF32: relative errors against float64 (eager fp32's; Python's and C++'s outputs)
    eager_error: Optional[float] = None
    python_error: Optional[float] = None
    cpp_error: Optional[float] = None
    python_graphs: Optional[int] = None  # signatures captured (graphs mode)
    cpp_graphs: Optional[int] = None


def log(message: str) -> None:
    print(message, flush=True)


def model_builders():
    """name -> (source, constructor)."""
    try:
        import torchvision
        return {"mobilenet_v3_large": ("torchvision", torchvision.models.mobilenet_v3_large),
                "resnet50": ("torchvision", torchvision.models.resnet50)}
    except ImportError:
        log("torchvision not importable: the built-in definitions of ifx_torch.models instead")
        return {"mobilenet_v3_large": ("ifx_torch.models", models.mobilenet_v3_large),
                "resnet50": ("ifx_torch.models", models.resnet50)}


# --- the shared file and input --------------------------------------------------------------------

def prepare(build, config: str, frontend: str, size: int, device: torch.device, workdir: str, stem: str):
    """Optimize the model once, save it and its input. Returns (model path, input path, input,
    Float64Check or None): the check for fp32 under TF32 on CUDA, where the two sides are judged
    against float64 rather than against each other."""
    dtype, memory_format, tf32 = CONFIGS[config]
    torch.manual_seed(0)
    # Random init: calibrated BN statistics keep activations finite in fp16 (docs/benchmarks.md).
    model = models.calibrate_batchnorm(build().to(device), (8, 3, size, size), device)
    model = model.to(dtype).to(memory_format=memory_format)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    x = x.to(dtype).to(memory_format=memory_format)
    input_path = os.path.join(workdir, f"{stem}.input.pt")
    torch.save(x, input_path)  # a CPU tensor, strides kept: ifx_run --input moves it to the device
    check = None
    if tf32 and dtype == torch.float32 and device.type == "cuda":  # TF32 is a CUDA setting
        with torch.no_grad():
            reference = copy.deepcopy(model).double()(x.double().to(device)).cpu()
            check = Float64Check(reference, relative_error(model(x.to(device)), reference))
    if frontend == "export":
        optimized = ifx_torch.optimize(model, (x.to(device),), frontend="export", cuda_graphs=False)
        model_path = ifx_torch.save_package(optimized, os.path.join(workdir, f"{stem}.pt2"))
    else:
        model_path = os.path.join(workdir, f"{stem}.pt")
        torch.jit.save(ifx_torch.optimize(model, cuda_graphs=False), model_path)
    return model_path, input_path, x.to(device), check


# --- the two sides ---------------------------------------------------------------------------------

def run_python(model_path: str, x: torch.Tensor, mode: str, warmup: int, iters: int) -> dict:
    """The saved file loaded in Python and run as the Python API runs it."""
    if model_path.endswith(".pt2"):
        loaded = ifx_torch.load_package(model_path, device_index=x.device.index if x.is_cuda else -1)
    else:
        loaded = torch.jit.load(model_path, map_location=x.device)
    runner = ifx_torch.CudaGraphModule(loaded) if mode == "graphs" else loaded
    with torch.no_grad():  # ifx_run runs under a NoGradGuard
        for _ in range(warmup):
            runner(x)
        samples = sync_latencies_ms(runner, x, iters, x.device)
        output = runner(x)
    graphs = runner.captured_graphs if mode == "graphs" else None
    return {"p50": percentile(samples, 0.5), "p90": percentile(samples, 0.9), "output": output, "graphs": graphs}


LATENCY_LINE = re.compile(r"latency over (\d+) runs \(sync after each\): p50 (\S+) ms, p90 (\S+) ms")
GRAPHS_LINE = re.compile(r"graph replay: (\d+) signature")


def run_cpp(ifx_run: str, model_path: str, input_path: str, device: torch.device, mode: str, warmup: int,
            iters: int, tf32: bool) -> dict:
    """The saved file run by the C++ program on the saved input."""
    output_path = input_path.replace(".input.pt", f".cpp-{mode}.out.pt")
    command = [ifx_run, model_path, "--input", input_path, "--device", str(device),
               "--warmup", str(warmup), "--iters", str(iters), "--save-output", output_path]
    if not tf32:  # ifx_run starts with libtorch's defaults, the same as Python's
        command.append("--no-tf32")
    if mode == "graphs":
        command.append("--cuda-graphs")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"ifx_run exited with {result.returncode}: {result.stderr.strip()[-300:]}")
    latency = LATENCY_LINE.search(result.stdout)
    if latency is None:
        raise RuntimeError(f"no latency line in ifx_run's output:\n{result.stdout}")
    graphs = GRAPHS_LINE.search(result.stdout)
    return {"p50": float(latency.group(2)), "p90": float(latency.group(3)),
            "output": torch.load(output_path, map_location="cpu"), "graphs": int(graphs.group(1)) if graphs else None}


def relative_error(output: torch.Tensor, reference: torch.Tensor) -> float:
    """max |output - reference| / max |reference| (inf where the output is not finite)."""
    a, r = output.detach().cpu().double(), reference.detach().cpu().double()
    if a.shape != r.shape or not a.isfinite().all():
        return float("inf")
    if not a.numel():
        return 0.0
    return (a - r).abs().max().item() / max(r.abs().max().item(), 1e-6)


def compare(python_output: torch.Tensor, cpp_output: torch.Tensor, check: Optional[Float64Check] = None):
    """(max |C++ - Python|, agreement, (Python's, C++'s) error against float64 or None). Without a
    Float64Check the two outputs must agree within TOLERANCE; with one (fp32 under TF32) each must
    be within TF32_ERROR_FACTOR times eager's error against float64."""
    a, b = python_output.detach().cpu().double(), cpp_output.detach().cpu().double()
    if a.shape != b.shape:
        return float("inf"), False, None
    diff = (a - b).abs().max().item() if a.numel() else 0.0
    if check is not None:
        errors = (relative_error(python_output, check.reference), relative_error(cpp_output, check.reference))
        bound = TF32_ERROR_FACTOR * check.eager_error
        return diff, all(error <= bound for error in errors), errors
    scale = max(a.abs().max().item() if a.numel() else 0.0, 1e-6)
    return diff, diff <= TOLERANCE[python_output.dtype] * scale and a.isfinite().all().item(), None


def measure(row: Row, args, model_path, input_path, x, check, device) -> None:
    tf32 = CONFIGS[row.config].tf32
    with math_settings(tf32):
        python = run_python(model_path, x, row.mode, args.warmup, args.iters)
    cpp = run_cpp(args.ifx_run, model_path, input_path, device, row.mode, args.warmup, args.iters, tf32)
    row.python_ms, row.python_p90_ms, row.python_graphs = python["p50"], python["p90"], python["graphs"]
    row.cpp_ms, row.cpp_p90_ms, row.cpp_graphs = cpp["p50"], cpp["p90"], cpp["graphs"]
    row.ratio = row.python_ms / row.cpp_ms if row.cpp_ms > 0 else None
    row.max_diff, row.agree, errors = compare(python["output"], cpp["output"], check)
    if errors is not None:
        row.eager_error, (row.python_error, row.cpp_error) = check.eager_error, errors


# --- driver ------------------------------------------------------------------------------------------

def run_all(args, device: torch.device) -> List[Row]:
    builders = model_builders()
    rows: List[Row] = []
    with tempfile.TemporaryDirectory(prefix="cpp_vs_python_") as workdir:
        for config, name, frontend in itertools.product(args.configs, args.models, args.frontends):
            source, build = builders[name]
            pending = [Row(name, source, config, frontend, mode) for mode in args.modes]
            rows += pending
            log(f"{name} ({source}) {config} {frontend}: optimizing and saving")
            try:
                with math_settings(CONFIGS[config].tf32):
                    paths = prepare(build, config, frontend, args.size, device, workdir, f"{name}-{config}-{frontend}")
            except Exception as error:  # reported, and the run goes on
                for row in pending:
                    row.status = f"error: optimize/save: {first_line(error)}"
                log(f"{name} {config} {frontend}: FAILED to optimize/save ({first_line(error)})")
                continue
            for row in pending:
                try:
                    measure(row, args, *paths, device)
                except Exception as error:
                    row.status = f"error: {first_line(error)}"
                log(progress_line(row))
    order = lambda r: (args.models.index(r.model), args.configs.index(r.config),  # noqa: E731
                       args.frontends.index(r.frontend), args.modes.index(r.mode))
    return sorted(rows, key=order)


def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def progress_line(row: Row) -> str:
    if row.status != "ok":
        return f"{row.model} {row.config} {row.frontend} {row.mode}: {row.status}"
    return (f"{row.model} {row.config} {row.frontend} {row.mode}: python {row.python_ms:.3f} ms, "
            f"C++ {row.cpp_ms:.3f} ms, "
            f"max diff {row.max_diff:.2e}"
            + (f", error vs float64 python {row.python_error:.2e} / C++ {row.cpp_error:.2e} (eager {row.eager_error:.2e})"
               if row.eager_error is not None else "")
            + ("" if row.agree else " (DISAGREE)"))


def cell(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return f"{value:.{digits}f}"


def print_table(rows: List[Row], device: torch.device) -> None:
    log("\n| model | dtype | front end | mode | python ms | C++ ms | python/C++ | max diff | agree | graphs py/C++ |")
    log("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if row.status != "ok":
            log(f"| {row.model} | {row.config} | {row.frontend} | {row.mode} | {row.status} | | | | | |")
            continue
        graphs = f"{cell(row.python_graphs, 0)}/{cell(row.cpp_graphs, 0)}" if row.mode == "graphs" else "-"
        log(f"| {row.model} | {row.config} | {row.frontend} | {row.mode} | {cell(row.python_ms)} | "
            f"{cell(row.cpp_ms)} | "
            f"{cell(row.ratio, 2)} | {row.max_diff:.2e} | {cell(row.agree)} | {graphs} |")
    note = "no graph replay on the CPU: both modes run the module as it is" if device.type == "cpu" else \
        "graphs: ifx_torch.CudaGraphModule in Python, ifx_run --cuda-graphs in C++"
    log(f"\nbatch 1, p50 ms per call (sync after each); python/C++ above 1: C++ faster. {note}. fp32: torch's "
        "default math (cuDNN TF32 on); fp32-notf32: TF32 off.")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="64x64 input, few iterations: a seconds-long check")
    parser.add_argument("--models", nargs="+", default=["mobilenet_v3_large", "resnet50"],
                        choices=["mobilenet_v3_large", "resnet50"])
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS))
    parser.add_argument("--frontends", nargs="+", choices=FRONTENDS, default=["torchscript"],
                        help="torchscript (a .pt from torch.jit.save) and / or export (a .pt2 package)")
    parser.add_argument("--size", type=int, help="input height and width (default 224, 64 with --quick)")
    parser.add_argument("--warmup", type=int, help="calls before timing, each side (default 20, 2 with --quick)")
    parser.add_argument("--iters", type=int, help="timed calls, each side (default 200, 5 with --quick)")
    parser.add_argument("--no-plain", dest="modes", action="store_const", const=["graphs"], default=MODES,
                        help="only the graph replay mode")
    parser.add_argument("--ifx-run", default=os.environ.get("IFX_RUN") or os.path.join(ROOT, "build", "cmake",
                                                                                        "ifx_run"))
    parser.add_argument("--json", help="write the rows and the environment here")
    args = parser.parse_args(argv)
    cpu = args.device == "cpu"
    args.configs = args.configs or (["fp32"] if cpu else ["fp32", "fp16-cl"])
    args.size = args.size or (64 if args.quick else 224)
    args.warmup = args.warmup if args.warmup is not None else (2 if args.quick else 20)
    args.iters = args.iters or (5 if args.quick else 200)
    if args.iters < 1:
        parser.error("--iters must be at least 1")
    if not os.path.exists(args.ifx_run):
        parser.error(f"ifx_run not found at {args.ifx_run}: build it (make build-cpp), or pass --ifx-run / IFX_RUN")
    if not cpu and not torch.cuda.is_available():
        parser.error(f"--device {args.device} asked for, but torch sees no CUDA device (use --device cpu)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    env = environment(device)
    log(f"cpp_vs_python: {env} ifx_run={args.ifx_run} size={args.size} warmup={args.warmup} iters={args.iters}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript's notices (torch >= 2.11)
        rows = run_all(args, device)
    print_table(rows, device)
    if args.json:
        settings = {key: getattr(args, key) for key in ("models", "configs", "frontends", "modes", "size", "warmup",
                                                         "iters", "ifx_run")}
        with open(args.json, "w") as file:
            json.dump({"environment": env, "settings": settings, "rows": [dataclasses.asdict(r) for r in rows]},
                      file, indent=2)
        log(f"wrote {args.json}")
    failed = [r for r in rows if r.status.startswith("error") or r.agree is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
