"""The model-zoo sweep: does ifx_torch.optimize keep every zoo model's outputs, and how fast is it?

    PYTHONPATH=python python3 benchmarks/zoo_sweep.py [--models NAME ...] [--batch 1 8]
        [--configs fp32 fp16-cl] [--budget-s 300] [--no-graphs] [--export] [--out DIR] [--quick] [--list]

Models (default, in this order): torchvision-named (the torchvision classification models issue
7 names), timm (one or two sizes of the timm families it names, and a few more), torchvision-rest
(every other torchvision classification model but two giants); random weights, nothing is
downloaded. --models also takes built-in names, torchvision:NAME, timm:NAME, a TorchScript file
or package.module:factory (as ifx_torch.bench). Weights that initialise to all zeros are
re-drawn and BN statistics calibrated on random data, so outputs are neither trivial nor, in
fp16, infinite. --budget-s bounds the run: models not started by then are listed as not run
(rerun them with --models).

Per model, configuration (fp32 with TF32 off, fp16 channels_last) and batch, optimize must
either match eager within the numerics rule of docs/benchmarks.md or refuse with a clear message:
  ok          matches; reference float64 eager (fp32 eager, TF32 off, where float64 fails)
  refused: M  optimize raised an ifx_torch error that says why (not a failure)
  MISMATCH: M wrong output: error over the tolerance, non-finite or misshapen (a failure)
  crash: M    an error optimize does not explain, or the optimized module failed (a failure)
  skipped: M  the model is missing, or eager itself cannot run or overflows (not a failure)
  not run: M  the --budget-s time budget ran out before this model (not a failure)
Also: patterns fused (optimize's report), CUDA kernels per forward of eager and ifx
(torch.profiler), max abs / relative error, and median sync latency of eager,
torch.jit.optimize_for_inference (OFI), ifx without graph replay (like for like with OFI) and
ifx with graph replay (what optimize returns on CUDA), taking turns. With --export, the same model
is also optimized through optimize(frontend="export") per configuration and batch: its outcome by
the same numerics rule, the patterns it fused beside TorchScript's, and its latency (with and
without replay) in the same turns, as export_vs_torchscript = TorchScript's / export's. Writes
zoo.csv, zoo.json (with the environment) and zoo.md into --out after every model, prints the
markdown table at the end, and exits 1 when any row (of either front end) is a MISMATCH or a crash.

Memory: torch.jit.freeze, and so optimize and OFI, keeps each frozen module's weights until the
process ends (pytorch/pytorch#96726), so a full sweep accumulates a few times the zoo's weights
on the device (tens of GB: fine on an H200; on a small CPU machine sweep a few models at a time).
"""
import argparse
import copy
import dataclasses
import gc
import json
import math
import os
import statistics
import sys
import time
import warnings
from typing import Dict, List, Optional

import torch

import ifx_torch
from ifx_torch import bench
from ifx_torch import models as builtin_models
from ifx_torch.graph_replay import CudaGraphModule
# The script-or-trace step optimize itself runs first: done once per model here and shared by
# every configuration and by OFI, since scripting is the slowest part of building (up to 2 s).
from ifx_torch.optimize import _to_torchscript
from ifx_torch.timing import median_latencies_ms, sync_latencies_ms, synchronize

# The models issue 7 asks for by name; they and the timm list run first (DEFAULT_MODELS), so a run
# cut short by --budget-s still has them.
TORCHVISION_FIRST = [
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "resnet18", "resnet34", "resnet50", "resnet101",
    "resnext50_32x4d", "wide_resnet50_2", "regnet_y_400mf", "regnet_x_1_6gf", "efficientnet_b0", "efficientnet_b1",
    "efficientnet_b2", "efficientnet_b3", "efficientnet_v2_s", "convnext_tiny", "mnasnet1_0", "shufflenet_v2_x1_0",
    "squeezenet1_1", "densenet121", "googlenet", "inception_v3", "vgg11_bn", "alexnet",
]
# Left out of the default list (still run when named): each would take a large share of the time
# budget and has no block that a smaller relative in the sweep lacks.
TORCHVISION_TOO_LARGE = {"vit_h_14": "632M parameters", "regnet_y_128gf": "644M parameters"}
# One or two sizes of the timm families issue 7 names, and a few more CNN families.
TIMM_MODELS = [
    "mobilenetv3_large_100", "mobilenetv3_small_100", "mobilenetv2_100", "efficientnet_b0", "tf_efficientnet_b0",
    "lcnet_050", "lcnet_100", "ghostnet_100", "mnasnet_100", "regnety_008", "regnetz_b16", "resnet50d",
    "resnext50_32x4d", "convnext_nano", "hardcorenas_a", "hardcorenas_c", "mixnet_s", "fbnetv3_b", "repvgg_a0",
]
DEFAULT_MODELS = ["torchvision-named", "timm", "torchvision-rest"]
INPUT_SIZE = {"torchvision:inception_v3": 299}  # others: 224, or the timm model's own input size
QUICK_MODELS = ["mobilenet_v3_small", "resnet18"]  # ifx_torch.models: no torchvision needed

# docs/benchmarks.md, numerics: fp32 at most 1e-4 relative error or twice eager's own with the same
# math settings; fp16 within twice eager-fp16's own error.
FP32_REL_TOL = 1e-4
# The fp16 bound never drops under fp16's epsilon, so an eager run that happens to round well
# cannot turn a different but equally good summation order into a MISMATCH.
FP16_REL_FLOOR = 2.0 ** -10
FAILURES = ("MISMATCH", "crash")
LEGEND = ("Latency: median wall time per call with a device synchronize after each, the variants taking "
          "turns. OFI: torch.jit.optimize_for_inference. ifx: ifx_torch.optimize without graph replay (like for "
          "like with OFI); ifx+graphs: with graph replay, what optimize returns on CUDA. Errors: max abs and "
          "max abs / max |reference| against float64 eager (fp32 eager with TF32 off where float64 does not "
          "run); tol: docs/benchmarks.md's numerics rule, never under twice eager's own error. fp32 configurations "
          "run torch's default math (TF32 on for cuDNN convs) unless named -notf32.")


@dataclasses.dataclass
class Row:
    model: str
    config: str  # dtype and memory format, as in ifx_torch.bench: fp32, fp16-cl, ...
    batch: int  # 0: the row is about the model as a whole (config "-")
    status: str = "ok"
    patterns: str = ""  # "pattern count, ..." from ifx_torch.report
    fused: Optional[int] = None  # the report's counts summed (a conv with its BN folded and its activation fused: 2)
    kernels_eager: Optional[int] = None  # CUDA kernels per forward
    kernels_ifx: Optional[int] = None
    max_abs_err: Optional[float] = None  # ifx against the reference
    rel_err: Optional[float] = None  # max abs error / max abs reference
    tolerance: Optional[float] = None  # on rel_err
    eager_rel_err: Optional[float] = None  # eager in this config against the same reference
    reference: str = ""  # fp64, or fp32 where the model does not run in float64
    eager_ms: Optional[float] = None
    ofi_ms: Optional[float] = None
    ifx_ms: Optional[float] = None  # without graph replay
    ifx_graphs_ms: Optional[float] = None  # with graph replay
    speedup_vs_eager: Optional[float] = None  # eager_ms / ifx_ms
    speedup_vs_ofi: Optional[float] = None  # ofi_ms / ifx_ms
    graphs_speedup_vs_ofi: Optional[float] = None  # ofi_ms / ifx_graphs_ms
    # --export: the same model through optimize(frontend="export"), timed in the same turns
    export_status: str = ""  # as status; "" when the export front end was not run
    export_patterns: str = ""
    export_fused: Optional[int] = None
    export_rel_err: Optional[float] = None
    export_ms: Optional[float] = None  # without graph replay
    export_graphs_ms: Optional[float] = None  # with graph replay
    export_vs_torchscript: Optional[float] = None  # ifx_graphs_ms / export_graphs_ms (ifx_ms / export_ms on CPU)
    notes: str = ""


COLUMNS = [field.name for field in dataclasses.fields(Row)]


class Skipped(Exception):
    """The model cannot be measured for a reason that is not ifx_torch's (missing, eager fails)."""


def failed(row: Row) -> bool:
    return row.status.startswith(FAILURES) or row.export_status.startswith(FAILURES)


def first_line(error: BaseException, limit: int = 300) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:limit] if text else ''}"


def add_note(row: Row, note: str) -> None:
    row.notes = f"{row.notes}; {note}" if row.notes else note


# --- the model list --------------------------------------------------------------------------------

def torchvision_rest() -> List[str]:
    """Every other torchvision classification model, but the giants."""
    try:
        import torchvision
    except ImportError:
        return []  # the named ones already say that torchvision is missing
    names = torchvision.models.list_models(module=torchvision.models)
    return [f"torchvision:{n}" for n in names if n not in TORCHVISION_FIRST and n not in TORCHVISION_TOO_LARGE]


def expand_models(names: List[str]) -> List[str]:
    """Model names with the lists spelled out: torchvision-named (issue 7's), torchvision-rest,
    torchvision (both) and timm."""
    lists = {
        "torchvision-named": lambda: [f"torchvision:{n}" for n in TORCHVISION_FIRST],
        "torchvision-rest": torchvision_rest,
        "torchvision": lambda: [f"torchvision:{n}" for n in TORCHVISION_FIRST] + torchvision_rest(),
        "timm": lambda: [f"timm:{n}" for n in TIMM_MODELS],
    }
    expanded = []
    for name in names:
        expanded += lists[name]() if name in lists else [name]
    return list(dict.fromkeys(expanded))  # keep the order, drop repeats


# --- building and checking -------------------------------------------------------------------------

def build_model(name: str, device: torch.device):
    """(eval model on device with calibrated BN, input size); Skipped when it cannot be built."""
    if name.startswith("torchvision:") or name.startswith("timm:"):
        package, model_name = name.split(":", 1)
        try:
            module = __import__(package)
        except ImportError:
            raise Skipped(f"{package} not installed")
        if package == "timm" and not module.is_model(model_name):
            raise Skipped("not in timm")
        if package == "torchvision" and not hasattr(module.models, model_name):
            raise Skipped("not in torchvision")
    torch.manual_seed(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:  # initialising the weights on the device is much faster for the large models
                with torch.device(device):
                    model = bench.load_model(name)
            except Exception:
                model = bench.load_model(name)
    except Exception as error:
        raise Skipped(f"cannot build: {first_line(error)}")
    model = model.to(device).eval()
    size = INPUT_SIZE.get(name, 224)
    config = getattr(model, "pretrained_cfg", None)  # timm's own input size
    if isinstance(config, dict) and len(config.get("input_size", ())) == 3:
        size = config["input_size"][-1]
    return model, size


def redraw_zero_weights(model: torch.nn.Module) -> List[str]:
    """Re-draw the weights a model initialises to all zeros (torchvision ViT's head and class
    token, timm's zero_init_last BN scales), or the check would compare zeros: norm scales get 1,
    others N(0, 0.02). Returns their names."""
    names = []
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.is_floating_point() and not name.endswith("bias") and not param.any():
                if param.dim() == 1:
                    param.fill_(1.0)
                else:
                    param.normal_(0, 0.02)
                names.append(name)
    return names


def calibrate(model: torch.nn.Module, size: int, device: torch.device) -> None:
    """BN statistics from random data, as ifx_torch.bench does: a randomly initialised model
    otherwise overflows in fp16."""
    if isinstance(model, torch.jit.ScriptModule):
        return
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            builtin_models.calibrate_batchnorm(model, (4, 3, size, size), device)


def first_tensor(output) -> torch.Tensor:
    """The logits: a scripted torchvision GoogLeNet / Inception returns (logits, aux, ...) where
    eager returns the tensor; dicts give their first value."""
    while not isinstance(output, torch.Tensor):
        if isinstance(output, dict) and output:
            output = next(iter(output.values()))
        elif isinstance(output, (tuple, list)) and output:
            output = output[0]
        else:
            raise TypeError(f"the model output ({type(output).__name__}) holds no tensor")
    return output


def references(model, inputs: Dict[int, torch.Tensor]):
    """({batch: reference output}, kind): float64 eager where the model runs in float64, else
    fp32 eager (TF32 is off)."""
    with torch.no_grad():
        try:
            model64 = copy.deepcopy(model).double()
            return {batch: first_tensor(model64(x.double())).double() for batch, x in inputs.items()}, "fp64"
        except Exception:  # e.g. an op without a float64 kernel on this device
            model64 = None  # noqa: F841  (frees the copy before the fp32 run)
        try:
            return {batch: first_tensor(model(x)).double() for batch, x in inputs.items()}, "fp32"
        except Exception as error:
            raise Skipped(f"eager fails: {first_line(error)}")


def tolerance(dtype: torch.dtype, eager_rel_err: float) -> float:
    """Bound on ifx's relative error (docs/benchmarks.md, numerics); never tighter than twice eager's own error."""
    if dtype in (torch.float16, torch.bfloat16):
        return max(2 * eager_rel_err, FP16_REL_FLOOR)
    return max(FP32_REL_TOL, 2 * eager_rel_err)


def judge(label: str, output: torch.Tensor, reference: torch.Tensor, bound: float):
    """(why `output` is wrong or None, its max abs error, its relative error); the errors are None
    when the output is misshapen or not finite."""
    if output.shape != reference.shape:
        return f"{label} output shape {tuple(output.shape)}, eager {tuple(reference.shape)}", None, None
    if not torch.isfinite(output).all():
        return f"{label} output is not finite", None, None
    abs_err, rel_err = bench.errors(output, reference)
    return (None if rel_err <= bound else f"{label} rel err {rel_err:.3g} > tolerance {bound:.3g}"), abs_err, rel_err


def check(row: Row, label: str, output: torch.Tensor, reference: torch.Tensor, bound: float) -> Optional[str]:
    """Why `output` is wrong (None when it is right); records its errors on the row."""
    wrong, abs_err, rel_err = judge(label, output, reference, bound)
    if rel_err is not None and (label == "ifx" or rel_err > (row.rel_err or 0)):
        row.max_abs_err, row.rel_err = abs_err, rel_err
    return wrong


def optimize_outcome(error: Exception) -> str:
    """A refusal when optimize explains itself (its messages name ifx_torch), else a crash."""
    if str(error).lstrip().startswith(("ifx_torch", "ifx:")):
        return f"refused: {first_line(error)}"
    return f"crash: optimize raised {first_line(error)}"


def fused_patterns(optimized):
    """(the report's counts summed, "pattern count, ...")."""
    fused = {pattern: count for pattern, count in ifx_torch.report(optimized).fused.items() if count}
    return sum(fused.values()), ", ".join(f"{pattern} {count}" for pattern, count in sorted(fused.items()))


def report_patterns(row: Row, optimized) -> None:
    row.fused, row.patterns = fused_patterns(optimized)


class ConfigModels:
    """Eager, OFI and ifx (without and with graph replay) for one dtype and memory format. A
    scripted model is optimized once for every batch; a traced one is traced again per input,
    since a trace may keep the shapes and dtype it saw."""

    def __init__(self, model, scripted, dtype, memory_format, device, graphs: bool, export: bool = False):
        self.device, self.graphs, self.traced = device, graphs, isinstance(scripted, torch.jit.TracedModule)
        self.export = export
        self.dtype, self.memory_format = dtype, memory_format
        self.eager, self.scripted = model, None if self.traced else scripted
        if dtype != torch.float32 or memory_format != torch.contiguous_format:  # else optimize and freeze copy
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # nn.Module.to reads .grad of the ScriptModule's parameters
                self.eager = copy.deepcopy(model).to(dtype).to(memory_format=memory_format)
                if not self.traced:
                    self.scripted = copy.deepcopy(scripted).to(dtype).to(memory_format=memory_format)
        self.built: Dict[Optional[int], dict] = {}

    def variants(self, x: torch.Tensor) -> dict:
        """{"ifx": ..., "ofi": ..., "graphs": ..., "ofi_error": ...}; raises when optimize does."""
        key = x.shape[0] if self.traced else None
        if key not in self.built:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scripted = _to_torchscript(self.eager, (x,)) if self.traced else self.scripted
                built = {"ifx": ifx_torch.optimize(scripted, cuda_graphs=False)}
                try:
                    built["ofi"] = torch.jit.optimize_for_inference(torch.jit.freeze(scripted))
                except Exception as error:  # the peer is missing from the timings, the check goes on
                    built["ofi_error"] = f"OFI failed: {first_line(error, 120)}"
            if self.graphs:
                built["graphs"] = CudaGraphModule(built["ifx"])
            self.built[key] = built
        return self.built[key]

    def exported(self, x: torch.Tensor) -> dict:
        """{"export": ..., "export_graphs": ...}: optimize(frontend="export") on the eager model,
        with its default dynamic batch, built for each batch as a user would; raises when optimize does."""
        key = ("export", x.shape[0])
        if key not in self.built:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                built = {"export": ifx_torch.optimize(self.eager, (x,), frontend="export", cuda_graphs=False)}
            if self.graphs:
                built["export_graphs"] = CudaGraphModule(built["export"])
            self.built[key] = built
        return self.built[key]


def measure(row: Row, models: ConfigModels, x: torch.Tensor, reference: torch.Tensor, args) -> None:
    """Fill one row: outputs checked first, then kernels and latency."""
    try:
        eager_out = first_tensor(models.eager(x))
    except Exception as error:
        row.status = f"skipped: eager fails: {first_line(error)}"
        return
    if not torch.isfinite(eager_out).all():
        row.status = "skipped: eager output is not finite (overflow)"
        return
    row.eager_rel_err = bench.errors(eager_out, reference)[1]
    row.tolerance = tolerance(models.dtype, row.eager_rel_err)
    try:
        built = models.variants(x)
    except Exception as error:
        row.status = optimize_outcome(error)
        return
    report_patterns(row, built["ifx"])
    if "ofi_error" in built:
        add_note(row, built["ofi_error"])
    try:
        wrong = check(row, "ifx", first_tensor(built["ifx"](x)), reference, row.tolerance)
        if "graphs" in built:
            captured = built["graphs"].captured_graphs
            wrong = wrong or check(row, "ifx+graphs", first_tensor(built["graphs"](x)), reference, row.tolerance)
            if built["graphs"].captured_graphs <= captured:  # its warning is silenced with the others here
                add_note(row, "graph capture failed: ifx+graphs ran without replay")
    except Exception as error:
        row.status = f"crash: the optimized module raised {first_line(error)}"
        return
    if wrong:
        row.status = f"MISMATCH: {wrong}"
    if models.export:
        built = dict(built, **measure_export(row, models, x, reference))
    if not args.no_timing:
        time_variants(row, models, built, x, args)


def measure_export(row: Row, models: ConfigModels, x: torch.Tensor, reference: torch.Tensor) -> dict:
    """The export front end's outcome, patterns and error on the row, by the same rule as
    TorchScript's; returns its variants for the timing ({} when it failed)."""
    try:
        built = models.exported(x)
    except Exception as error:
        row.export_status = optimize_outcome(error)
        return {}
    row.export_fused, row.export_patterns = fused_patterns(built["export"])
    if row.fused is not None and row.export_patterns != row.patterns:
        add_note(row, "export fuses other patterns than TorchScript")
    outputs = {}
    try:
        for name in ("export", "export_graphs"):
            if name in built:
                outputs[name] = first_tensor(built[name](x))
    except Exception as error:
        row.export_status = f"crash: the exported module raised {first_line(error)}"
        return {}
    wrong = None
    for name, output in outputs.items():
        why, _, rel_err = judge(name, output, reference, row.tolerance)
        wrong = wrong or why
        if rel_err is not None:
            row.export_rel_err = max(row.export_rel_err or 0.0, rel_err)
    row.export_status = f"MISMATCH: {wrong}" if wrong else "ok"
    return built


def time_variants(row: Row, models: ConfigModels, built: dict, x: torch.Tensor, args) -> None:
    """Median sync latency, the variants taking turns (ifx_torch.timing), then kernel counts in
    the steady state; fewer calls for a slow model, so no model eats the time budget."""
    variants = {"eager": models.eager, "ofi": built.get("ofi"), "ifx": built["ifx"], "graphs": built.get("graphs"),
                "export": built.get("export"), "export_graphs": built.get("export_graphs")}
    variants = {name: fn for name, fn in variants.items() if fn is not None}
    try:
        one_call_ms = sync_latencies_ms(models.eager, x, 1, models.device)[0]
        iters = max(5, min(args.iters, int(args.seconds_per_variant * 1e3 / max(one_call_ms, 1e-3))))
        medians = median_latencies_ms(variants, x, iters, models.device)
        row.kernels_eager = bench.kernel_profile(models.eager, x, models.device)[0]
        row.kernels_ifx = bench.kernel_profile(built["ifx"], x, models.device)[0]
    except Exception as error:  # timings are extras: the correctness result stands
        add_note(row, f"timing failed: {first_line(error, 120)}")
        return
    row.eager_ms, row.ofi_ms, row.ifx_ms = medians["eager"], medians.get("ofi"), medians["ifx"]
    row.ifx_graphs_ms = medians.get("graphs")
    row.export_ms, row.export_graphs_ms = medians.get("export"), medians.get("export_graphs")
    if row.export_graphs_ms and row.ifx_graphs_ms:
        row.export_vs_torchscript = row.ifx_graphs_ms / row.export_graphs_ms
    elif row.export_ms and not row.ifx_graphs_ms:
        row.export_vs_torchscript = row.ifx_ms / row.export_ms
    row.speedup_vs_eager = row.eager_ms / row.ifx_ms
    if row.ofi_ms:
        row.speedup_vs_ofi = row.ofi_ms / row.ifx_ms
        if row.ifx_graphs_ms:
            row.graphs_speedup_vs_ofi = row.ofi_ms / row.ifx_graphs_ms


# --- the sweep -------------------------------------------------------------------------------------

def sweep_model(name: str, args, device: torch.device, progress) -> List[Row]:
    """Every configuration and batch of one model; whatever goes wrong ends up in its rows."""
    def whole_model(status: str) -> List[Row]:
        row = Row(name, "-", 0, status=status)
        progress(row)
        return [row]

    try:
        model, size = build_model(name, device)
        size = args.image_size or size
        redrawn = redraw_zero_weights(model)
        calibrate(model, size, device)
        generator = torch.Generator().manual_seed(0)
        inputs = {b: torch.randn(b, 3, size, size, generator=generator).to(device) for b in args.batch}
        with bench.math_settings(tf32=False):  # the fp32 fallback reference is exact fp32
            refs, kind = references(model, inputs)
    except Skipped as why:
        return whole_model(f"skipped: {why}")
    except Exception as error:  # e.g. calibration failed: eager does not run
        return whole_model(f"skipped: eager fails: {first_line(error)}")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a traced model is said in the notes
            scripted = _to_torchscript(model, (inputs[args.batch[0]],))
    except Exception as error:
        return whole_model(optimize_outcome(error))
    notes = ["traced (script failed)"] if isinstance(scripted, torch.jit.TracedModule) else []
    if redrawn:
        notes.append(f"{len(redrawn)} all-zero initial weights re-drawn ({redrawn[0]}, ...)")

    rows = []
    for config in args.configs:
        dtype, memory_format, tf32 = bench.CONFIGS[config]
        try:
            with bench.math_settings(tf32):  # optimize decides the layout by these flags
                models = ConfigModels(model, scripted, dtype, memory_format, device, args.graphs, args.export)
        except Exception as error:
            rows += whole_model(f"skipped: cannot convert to {config}: {first_line(error)}")
            continue
        for batch in args.batch:
            row = Row(name, config, batch, reference=kind, notes="; ".join(notes))
            x = inputs[batch].to(dtype).contiguous(memory_format=memory_format)
            try:
                with torch.no_grad(), warnings.catch_warnings(), bench.math_settings(tf32):
                    warnings.simplefilter("ignore")
                    measure(row, models, x, refs[batch], args)
            except Exception as error:  # a bug of this script or a broken device; the sweep goes on
                row.status = f"crash: {first_line(error)}"
            rows.append(row)
            progress(row)
        models = None  # noqa: F841  (frees this configuration's copies before the next)
    return rows


def device_usable(device: torch.device) -> bool:
    """False after a CUDA error that poisons the context (e.g. an illegal memory access)."""
    try:
        synchronize(device)
        return True
    except Exception:
        return False


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        try:
            torch.cuda.empty_cache()
        except Exception:  # a broken context: device_usable stops the sweep before the next model
            pass


def run_sweep(args, device: torch.device, env: Dict[str, str]) -> List[Row]:
    start = time.monotonic()
    rows: List[Row] = []

    def progress(row: Row) -> None:
        print(f"[{time.monotonic() - start:6.1f} s] {describe(row)}", flush=True)

    for index, name in enumerate(args.models):
        stop = None
        if args.budget_s and time.monotonic() - start > args.budget_s:
            stop = f"not run: time budget of {args.budget_s:g} s spent (--budget-s)"
        elif not device_usable(device):
            stop = f"not run: the CUDA context is broken (after {args.models[index - 1]})"
        if stop:
            rows += [Row(later, "-", 0, status=stop) for later in args.models[index:]]
            print(f"{len(args.models) - index} model(s) {stop}", flush=True)
            break
        print(f"--- {name} ({index + 1}/{len(args.models)})", flush=True)
        try:
            rows += sweep_model(name, args, device, progress)
        except Exception as error:  # nothing one model does stops the sweep
            rows.append(Row(name, "-", 0, status=f"crash: {first_line(error)}"))
            progress(rows[-1])
        free_memory(device)
        write_outputs(rows, env, args, complete=False)
    return rows


# --- output ----------------------------------------------------------------------------------------

def _num(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0 or math.isnan(value):
            return f"{value:g}"
        return f"{value:.2e}" if abs(value) < 1e-2 else f"{value:.{digits}g}"
    return str(value)


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def describe(row: Row) -> str:
    """One progress line; failures start with '!!!' so they stand out in a long log."""
    where = f"{row.model} {row.config} batch {row.batch}" if row.batch else row.model
    text = f"{where}: {row.status}"
    if row.fused is not None:
        text += f", fused {row.fused} ({row.patterns or 'nothing'})"
    if row.rel_err is not None:
        text += f", rel err {_num(row.rel_err)} (tol {_num(row.tolerance)})"
    if row.kernels_eager is not None:
        text += f", kernels {row.kernels_eager} -> {_num(row.kernels_ifx)}"
    if row.eager_ms is not None:
        text += (f", eager {_num(row.eager_ms)} OFI {_num(row.ofi_ms)} ifx {_num(row.ifx_ms)} ifx+graphs "
                 f"{_num(row.ifx_graphs_ms)} ms, ifx {_ratio(row.speedup_vs_eager)} eager "
                 f"{_ratio(row.speedup_vs_ofi)} OFI")
    if row.export_status:
        text += f"; export: {row.export_status}"
        if row.export_fused is not None:
            text += f", fused {row.export_fused}"
        if row.export_rel_err is not None:
            text += f", rel err {_num(row.export_rel_err)}"
        if row.export_vs_torchscript is not None:
            text += (f", {_num(row.export_graphs_ms or row.export_ms)} ms, "
                     f"{_ratio(row.export_vs_torchscript)} TorchScript's")
    return ("!!! " if failed(row) else "") + text + (f" [{row.notes}]" if row.notes else "")


def markdown_row(cells: List[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def markdown_table(rows: List[Row]) -> str:
    head = ["model", "batch", "config", "status", "patterns fused", "kernels eager→ifx", "max abs err",
            "rel err (tol)", "eager ms", "OFI ms", "ifx ms", "ifx+graphs ms", "ifx vs eager", "ifx vs OFI",
            "ifx+graphs vs OFI"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        status = row.status if len(row.status) < 110 else row.status[:107] + "..."
        if failed(row):
            status = f"**{status}**"
        kernels = f"{_num(row.kernels_eager)} → {_num(row.kernels_ifx)}" if row.kernels_eager else "-"
        error = f"{_num(row.rel_err)} ({_num(row.tolerance)})" if row.rel_err is not None else "-"
        cells = [row.model, str(row.batch or "-"), row.config, status, row.patterns or "-", kernels,
                 _num(row.max_abs_err), error,
                 _num(row.eager_ms), _num(row.ofi_ms), _num(row.ifx_ms), _num(row.ifx_graphs_ms),
                 _ratio(row.speedup_vs_eager), _ratio(row.speedup_vs_ofi), _ratio(row.graphs_speedup_vs_ofi)]
        lines.append(markdown_row(cells))
    return "\n".join(lines) + "\n\n" + LEGEND + export_table(rows)


def export_table(rows: List[Row]) -> str:
    """The export front end beside TorchScript's ("" when it was not run)."""
    rows = [row for row in rows if row.export_status]
    if not rows:
        return ""
    head = ["model", "batch", "config", "export status", "same patterns", "fused ts / export", "rel err export",
            "ifx ms ts / export", "ifx+graphs ms ts / export", "export vs TorchScript"]
    lines = ["", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row.model, str(row.batch), row.config, row.export_status[:110],
                 "yes" if row.export_patterns == row.patterns else f"no: {row.export_patterns or 'nothing'}",
                 f"{_num(row.fused)} / {_num(row.export_fused)}", _num(row.export_rel_err),
                 f"{_num(row.ifx_ms)} / {_num(row.export_ms)}", f"{_num(row.ifx_graphs_ms)} / {_num(row.export_graphs_ms)}",
                 _ratio(row.export_vs_torchscript)]
        lines.append(markdown_row(cells))
    return "\n".join(lines) + ("\n\nexport vs TorchScript: TorchScript's latency / the export front end's, with graph "
                              "replay where it ran (above 1: export is faster).")


def summary(rows: List[Row]) -> Dict[str, object]:
    """Counts per outcome and, per configuration and batch, the geometric mean speedups over ok rows."""
    counts: Dict[str, int] = {}
    for row in rows:
        outcome = row.status.split(":")[0]
        counts[outcome] = counts.get(outcome, 0) + 1
    speedups = {}
    for config, batch in sorted({(r.config, r.batch) for r in rows if r.batch}):
        group = [r for r in rows if (r.config, r.batch) == (config, batch) and r.status == "ok"]
        means = {}
        for column in ("speedup_vs_eager", "speedup_vs_ofi", "graphs_speedup_vs_ofi"):
            values = [getattr(r, column) for r in group if getattr(r, column)]
            if values:
                means[column] = statistics.geometric_mean(values)
        speedups[f"{config} batch {batch}"] = dict(means, models=len(group))
    ratios = [r.export_vs_torchscript for r in rows if r.export_status == "ok" and r.export_vs_torchscript]
    export = {}
    if ratios:
        export = {"geomean": round(statistics.geometric_mean(ratios), 3), "min": round(min(ratios), 3),
                  "rows": len(ratios), "patterns_differ": sum(r.export_patterns != r.patterns for r in rows
                                                               if r.export_status == "ok")}
    return {"outcomes": counts, "geomean_speedups": speedups, "export_vs_torchscript": export,
            "failures": [f"{r.model} {r.config} batch {r.batch}: {r.status}"
                         + (f"; export: {r.export_status}" if r.export_status else "") for r in rows if failed(r)]}


def settings(args) -> Dict[str, object]:
    return {"models": args.models, "left_out_of_the_default_list": TORCHVISION_TOO_LARGE,
            "batch": args.batch, "configs": args.configs, "iters": args.iters, "budget_s": args.budget_s,
            "export": args.export,
            "image_size": args.image_size or "per model", "tf32": False,
            "latency": "median wall time per call, device synchronized after each, variants taking turns; "
                       "ifx without graph replay; ifx+graphs with it" + ("" if args.graphs else " (not measured)")}


def write_outputs(rows: List[Row], env: Dict[str, str], args, complete: bool) -> List[str]:
    """zoo.csv (environment as '# key: value' lines), zoo.json and zoo.md; rewritten after every
    model, so a run that dies midway still leaves what it measured."""
    os.makedirs(args.out, exist_ok=True)
    paths = [os.path.join(args.out, name) for name in ("zoo.csv", "zoo.json", "zoo.md")]
    bench.write_csv(paths[0], rows, env, COLUMNS)
    with open(paths[1], "w") as f:
        json.dump({"environment": env, "settings": settings(args), "complete": complete,
                   "summary": summary(rows), "rows": [dataclasses.asdict(r) for r in rows]}, f, indent=1)
    with open(paths[2], "w") as f:
        f.write(markdown_table(rows) + "\n")
    return paths


def environment(device: torch.device) -> Dict[str, str]:
    env = bench.environment(device)
    for package in ("torchvision", "timm"):
        try:
            env[package] = __import__(package).__version__
        except ImportError:
            env[package] = "not installed"
    return env


# --- command line ----------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="benchmarks/zoo_sweep.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", help="default: " + " ".join(DEFAULT_MODELS))
    parser.add_argument("--batch", nargs="+", type=int)
    parser.add_argument("--configs", nargs="+", choices=sorted(bench.CONFIGS))
    parser.add_argument("--device", choices=["cuda", "cpu"])
    parser.add_argument("--iters", type=int, help="most timed calls per variant (default 20)")
    parser.add_argument("--seconds-per-variant", type=float, default=0.25,
                        help="fewer timed calls for a model slower than this allows")
    parser.add_argument("--image-size", type=int, help="default: 224, inception_v3 299, timm's own")
    parser.add_argument("--budget-s", type=float, default=300,
                        help="start no new model after this many seconds (0: no limit)")
    parser.add_argument("--no-graphs", action="store_true", help="do not measure ifx with graph replay")
    parser.add_argument("--no-timing", action="store_true", help="check outputs only")
    parser.add_argument("--export", action="store_true",
                        help="also optimize through frontend='export' and compare it with TorchScript's")
    parser.add_argument("--out", default="zoo_out")
    parser.add_argument("--quick", action="store_true", help="seconds on the CPU: built-in models, batch 1, fp32")
    parser.add_argument("--list", action="store_true", help="print the models the sweep would run and exit")
    args = parser.parse_args(argv)
    device = bench.device_from_args(parser, args.device)
    cpu = device.type == "cpu"
    if args.quick:
        args.models = args.models or QUICK_MODELS
        args.batch, args.configs = args.batch or [1], args.configs or ["fp32"]
        args.iters, args.image_size = args.iters or 5, args.image_size or 64
        args.budget_s = 0  # fixed, small work: every quick model runs, however slow the machine
    args.models = expand_models(args.models or DEFAULT_MODELS)
    args.batch = args.batch or [1, 8]
    args.configs = args.configs or (["fp32"] if cpu else ["fp32", "fp16-cl"])
    args.iters = args.iters or 20
    args.graphs = not args.no_graphs and not cpu
    return args, device


def main(argv=None) -> int:
    args, device = parse_args(argv)
    if args.list:
        print("\n".join(args.models))
        return 0
    env = environment(device)
    print("environment: " + ", ".join(f"{k} {v}" for k, v in env.items()), flush=True)
    print(f"{len(args.models)} models x configs {args.configs} x batch {args.batch}, time budget "
          f"{args.budget_s or 'none'} s; {settings(args)['latency']}", flush=True)
    print("left out of the default list: " + ", ".join(f"torchvision:{n} ({why})" for n, why in
                                                        TORCHVISION_TOO_LARGE.items()), flush=True)
    rows = run_sweep(args, device, env)
    paths = write_outputs(rows, env, args, complete=True)
    print("\n" + markdown_table(rows) + "\n")
    result = summary(rows)
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(result["outcomes"].items())))
    if result.get("export_vs_torchscript"):
        print("export front end: " + ", ".join(f"{k} {v}" for k, v in result["export_vs_torchscript"].items()))
    for group, means in result["geomean_speedups"].items():
        print(f"geomean over ok models, {group}: " + ", ".join(
            f"{k} {v:.2f}x" if isinstance(v, float) else f"{k} {v}" for k, v in means.items()))
    for path in paths:
        print(f"wrote {path}")
    if result["failures"]:
        print(f"\n!!! {len(result['failures'])} FAILURE(S): ifx_torch.optimize returned wrong outputs or "
              "crashed:\n" + "\n".join(f"!!!   {line}" for line in result["failures"]), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
