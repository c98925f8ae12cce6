"""Writes docs/models.md, the table of zoo models, from the CSV that benchmarks/zoo_sweep.py writes.

    python3 scripts/models_table.py [CSV ...] [--out docs/models.md] [--check]

CSV (default docs/zoo_sweep.csv): the sweep's zoo.csv, '# key: value' environment lines first,
then one row per model, configuration and batch in the sweep's columns (Row in
benchmarks/zoo_sweep.py; a row with batch 0 and config '-' is about the model as a whole). With
several CSVs, a model's rows in a later file replace its rows from the earlier ones, unless the
later file only says it did not run. One line per model, in the order the models first appear:

- fused ops: fused (the report's counts summed) and patterns, from the first configuration's
  first batch;
- kernels eager -> ifx: kernels_eager and kernels_ifx from the same row;
- rel. error, per configuration: the largest rel_err of its rows, followed by the status of any
  row that is not ok (skipped, refused, MISMATCH, crash, ...);
- ifx+graphs vs OFI, per configuration and batch: graphs_speedup_vs_ofi.

--check writes nothing and exits 1 when the output file differs from what the CSV gives.
Python 3 standard library only.
"""
import argparse
import csv
import os
import sys
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CSV = os.path.join(ROOT, "docs", "zoo_sweep.csv")
DEFAULT_OUT = os.path.join(ROOT, "docs", "models.md")
# The sweep's columns this table reads (benchmarks/zoo_sweep.py, Row).
REQUIRED = ["model", "config", "batch", "status", "patterns", "fused", "kernels_eager", "kernels_ifx", "rel_err",
            "graphs_speedup_vs_ofi"]
FAILURES = ("MISMATCH", "crash")

Env = List[Tuple[str, str]]
Row = Dict[str, str]


def read_csv(path: str) -> Tuple[Env, List[Row]]:
    """(environment lines as (key, value), rows) of one sweep CSV."""
    env: Env = []
    with open(path, newline="") as f:
        lines = f.read().splitlines()
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        key, _, value = lines[start][1:].partition(":")
        env.append((key.strip(), value.strip()))
        start += 1
    reader = csv.DictReader(lines[start:])
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise SystemExit(f"{path}: not a zoo sweep CSV (benchmarks/zoo_sweep.py): no column {', '.join(missing)}")
    return env, list(reader)


def merge(tables: List[Tuple[Env, List[Row]]]) -> List[Row]:
    """The rows of every file; a model's rows in a later file replace its earlier ones, unless
    they only say that it was not run."""
    order: List[str] = []
    by_model: Dict[str, List[Row]] = {}
    for _, rows in tables:
        current: Dict[str, List[Row]] = {}
        for row in rows:
            current.setdefault(row["model"], []).append(row)
        for model, model_rows in current.items():
            if model not in by_model:
                order.append(model)
            elif all(r["status"].startswith("not run") for r in model_rows):
                continue
            by_model[model] = model_rows
    return [row for model in order for row in by_model[model]]


def ordered(values) -> list:
    return list(dict.fromkeys(values))


def outcome(status: str) -> str:
    """The first word of a status: ok, skipped, refused, MISMATCH, crash, not run."""
    return status.split(":")[0].strip()


def number(text: str) -> Optional[float]:
    return float(text) if text.strip() else None


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def short_model(name: str) -> str:
    return "tv:" + name[len("torchvision:"):] if name.startswith("torchvision:") else name


def describe_config(config: str) -> str:
    """What a configuration name of ifx_torch.bench means (fp32, fp32-notf32, fp16-cl, ...)."""
    parts = config.split("-")
    words = [parts[0]]
    if "cl" in parts:
        words.append("channels_last")
    if parts[0] == "fp32":
        words.append("TF32 off" if "notf32" in parts else "TF32 on (torch's default)")
    return ", ".join(words)


def status_cell(status: str) -> str:
    word = outcome(status)
    return f"**{word}**" if word in FAILURES else word


def model_line(model: str, rows: List[Row], configs: List[str], batches: List[str]) -> str:
    find = {(r["config"], r["batch"]): r for r in rows}
    first = find.get((configs[0], batches[0])) if configs and batches else None
    whole = [r for r in rows if r["config"] == "-"]
    if first is not None and first["fused"].strip():
        fused = f"{first['fused']} ({first['patterns']})"
    elif first is not None and outcome(first["status"]) != "ok":
        fused = status_cell(first["status"])
    elif whole:
        fused = status_cell(whole[0]["status"])
    else:
        fused = "-"
    if first is not None and first["kernels_eager"].strip() and first["kernels_ifx"].strip():
        kernels = f"{first['kernels_eager']} → {first['kernels_ifx']}"
    else:
        kernels = "-"
    errors = []
    for config in configs:
        config_rows = [r for r in rows if r["config"] == config]
        values = [v for v in (number(r["rel_err"]) for r in config_rows) if v is not None]
        parts = [f"{max(values):.0e}"] if values else []
        parts += ordered(status_cell(r["status"]) for r in config_rows if outcome(r["status"]) != "ok")
        errors.append(" ".join(parts) or "-")
    speedups = []
    for config in configs:
        ratios = []
        for batch in batches:
            row = find.get((config, batch))
            value = number(row["graphs_speedup_vs_ofi"]) if row is not None else None
            ratios.append("-" if value is None else f"{value:.2f}x")
        speedups.append(" / ".join(ratios))
    cells = [short_model(model), fused, kernels, " / ".join(errors)] + speedups
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def shown_path(path: str) -> str:
    full = os.path.abspath(path)
    return os.path.relpath(full, ROOT) if full.startswith(ROOT + os.sep) else path


def render(paths: List[str]) -> str:
    tables = [read_csv(path) for path in paths]
    rows = merge(tables)
    models = ordered(r["model"] for r in rows)
    configs = ordered(r["config"] for r in rows if r["config"] != "-")
    batches = ordered(r["batch"] for r in rows if r["config"] != "-")
    names = [shown_path(p) for p in paths]
    command = "python3 scripts/models_table.py"
    if [os.path.abspath(p) for p in paths] != [DEFAULT_CSV]:
        command += " " + " ".join(names)
    sources = ", ".join(f"`{n}`" for n in names)

    out = ["# Supported models", ""]
    out += [(f"This file is generated: `{command}` writes it from {sources}, in the CSV format that "
             "`benchmarks/zoo_sweep.py` writes (`zoo.csv`), and "
             f"`{command} --check` fails when it is out of date. Edit the CSV, not this file. How the sweep "
             "measures, and what these figures say: [benchmarks](benchmarks.md#zoo-sweep)."), ""]
    for name, (env, _) in zip(names, tables):
        facts = [f"{k} {v}" for k, v in env if k != "note"]
        if facts:
            out += [f"Environment recorded in `{name}`: " + ", ".join(facts) + ".", ""]
        out += [f"Note: {v}" + ("" if v.endswith(".") else ".") + "\n" for k, v in env if k == "note"]

    case_rows = [r for r in rows if r["config"] != "-"]
    counts: Dict[str, int] = {}
    for row in case_rows:
        counts[outcome(row["status"])] = counts.get(outcome(row["status"]), 0) + 1
    summary = f"{len(models)} models; {len(case_rows)} model / configuration / batch cases"
    if counts:
        summary += ": " + ", ".join(f"{n} {word}" for word, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    whole = [r for r in rows if r["config"] == "-"]
    if whole:
        outcomes = ", ".join(ordered(outcome(r["status"]) for r in whole))
        summary += f"; {len(whole)} models without such cases ({outcomes})"
    out += [summary + ".", ""]
    if configs:
        out += ["Configurations: " + "; ".join(f"`{c}` {describe_config(c)}" for c in configs)
                + ". Batch sizes: " + ", ".join(batches) + ".", ""]
    out += [(f"Columns: fused ops are the patterns `ifx_torch.report` counts ({configs[0] if configs else '-'}, "
             f"batch {batches[0] if batches else '-'}); kernels are CUDA kernels per forward in the same case; "
             "rel. error is the largest max abs error / max |reference| of ifx against the sweep's reference per "
             "configuration, followed by the outcome of any case that is not ok; the last columns are "
             "`optimize_for_inference` (OFI) latency over ifx_torch *with* graph replay, OFI running *without* it "
             "(the speedup a user gets by switching). `tv:` is torchvision."), ""]

    head = ["model", f"fused ops (patterns, {configs[0] if configs else '-'} batch {batches[0] if batches else '-'})",
            "kernels eager → ifx", "rel. error " + " / ".join(configs)]
    for i, config in enumerate(configs):
        head.append(("ifx+graphs vs OFI " if i == 0 else "") + config + " " + " / ".join(f"b{b}" for b in batches))
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model in models:
        out.append(model_line(model, [r for r in rows if r["model"] == model], configs, batches))
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/models_table.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="*", default=[DEFAULT_CSV], help="zoo sweep CSVs (default docs/zoo_sweep.csv)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="default docs/models.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when --out is not what the CSV gives")
    args = parser.parse_args(argv)
    text = render(args.csv)
    if args.check:
        try:
            with open(args.out, newline="") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{shown_path(args.out)} is out of date with {', '.join(shown_path(p) for p in args.csv)}: "
                  f"run python3 scripts/models_table.py", file=sys.stderr)
            return 1
        print(f"{shown_path(args.out)} is up to date")
        return 0
    with open(args.out, "w", newline="") as f:
        f.write(text)
    print(f"wrote {shown_path(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
