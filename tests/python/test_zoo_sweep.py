"""The zoo sweep's quick CPU configuration (benchmarks/zoo_sweep.py): files, columns, and each
outcome (ok, refused, skipped, MISMATCH) on models CI has; nothing about speed."""
import csv
import importlib.util
import json
import os

import pytest
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("zoo_sweep", os.path.join(ROOT, "benchmarks", "zoo_sweep.py"))
zoo_sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(zoo_sweep)


# module:factory targets for the sweep (this test module is importable by name)

def tiny_model():
    from ifx_torch import models
    return models.mobilenet_v3_small(hand_written=True, num_classes=10, width_mult=0.5)


class NeitherScriptNorTrace(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x, *rest):  # varargs do not script; tracing refuses the string output
        return self.conv(x), "logits"


def unsupported_model():
    return NeitherScriptNorTrace()


class EagerFails(nn.Module):
    def forward(self, x):
        return x.view(-1, 5)  # 3 * 64 * 64 is not a multiple of 5


def eager_fails():
    return EagerFails()


class ScriptedDiffers(nn.Module):
    """A stand-in for a wrong optimization: the scripted model, and so the optimized one, adds 1."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        if torch.jit.is_scripting():
            y = y + 1
        return y


def scripted_differs():
    return ScriptedDiffers()


MODELS = ["mobilenet_v3_small", "test_zoo_sweep:tiny_model", "test_zoo_sweep:unsupported_model",
          "test_zoo_sweep:eager_fails", "timm:no_such_model"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    assert zoo_sweep.main(["--quick", "--device", "cpu", "--out", str(out), "--models"] + MODELS) == 0
    return out


def rows_by_model(out):
    return {row["model"]: row for row in json.loads((out / "zoo.json").read_text())["rows"]}


def test_writes_csv_json_and_markdown_with_every_column(quick_run):
    lines = (quick_run / "zoo.csv").read_text().splitlines()
    assert any(line.startswith("# torch: ") for line in lines)
    rows = list(csv.DictReader(line for line in lines if not line.startswith("# ")))
    assert list(rows[0]) == zoo_sweep.COLUMNS
    assert [row["model"] for row in rows] == MODELS
    data = json.loads((quick_run / "zoo.json").read_text())
    assert data["environment"]["torch"] == torch.__version__ and data["complete"]
    assert data["summary"]["failures"] == []
    table = (quick_run / "zoo.md").read_text().splitlines()
    assert table[0].startswith("| model | batch | config | status | patterns fused |")
    assert len([line for line in table if line.startswith("| ")]) == 1 + len(MODELS)
    assert any(line.startswith("Latency: ") for line in table)  # the legend says what each column is


def test_models_that_optimize_match_eager_in_float64(quick_run):
    rows = rows_by_model(quick_run)
    for model in ("mobilenet_v3_small", "test_zoo_sweep:tiny_model"):
        row = rows[model]
        assert (row["status"], row["config"], row["batch"], row["reference"]) == ("ok", "fp32", 1, "fp64"), row
        assert row["rel_err"] < 1e-4 and row["max_abs_err"] < 1e-3, row
        assert row["fused"] > 0 and "conv2d+hardswish" in row["patterns"], row
        assert row["kernels_eager"] is None  # CUDA only
        for column in ("eager_ms", "ofi_ms", "ifx_ms", "speedup_vs_eager", "speedup_vs_ofi"):
            assert row[column] > 0, (column, row)
        assert row["ifx_graphs_ms"] is None  # graph replay: CUDA only


def test_refusals_and_unsupported_models_are_reported_not_failures(quick_run):
    rows = rows_by_model(quick_run)
    refused = rows["test_zoo_sweep:unsupported_model"]["status"]
    assert refused.startswith("refused: RuntimeError: ifx_torch.optimize:") and "neither scripted nor traced" in refused
    assert rows["test_zoo_sweep:eager_fails"]["status"].startswith("skipped: eager fails: RuntimeError")
    # CI has no timm; a machine with it has no such model
    assert rows["timm:no_such_model"]["status"] in ("skipped: timm not installed", "skipped: not in timm")


def test_wrong_outputs_are_loud_and_fail_the_run(tmp_path, capsys):
    argv = ["--quick", "--device", "cpu", "--no-timing", "--out", str(tmp_path), "--models",
            "test_zoo_sweep:scripted_differs", "test_zoo_sweep:tiny_model"]
    assert zoo_sweep.main(argv) == 1
    rows = rows_by_model(tmp_path)
    assert rows["test_zoo_sweep:scripted_differs"]["status"].startswith("MISMATCH: ifx rel err")
    assert rows["test_zoo_sweep:tiny_model"]["status"] == "ok"  # the sweep went on
    output = capsys.readouterr().out
    assert "!!! test_zoo_sweep:scripted_differs fp32 batch 1: MISMATCH" in output
    assert "!!! 1 FAILURE(S)" in output


def test_tolerances_follow_the_design_notes():
    assert zoo_sweep.tolerance(torch.float32, 1e-7) == 1e-4
    assert zoo_sweep.tolerance(torch.float16, 4e-3) == 8e-3
    assert zoo_sweep.tolerance(torch.float16, 0.0) == zoo_sweep.FP16_REL_FLOOR


def test_default_lists():
    args, _ = zoo_sweep.parse_args(["--quick", "--device", "cpu"])
    assert args.models == zoo_sweep.QUICK_MODELS and args.batch == [1] and args.configs == ["fp32"]
    args, _ = zoo_sweep.parse_args(["--device", "cpu", "--models", "timm", "resnet18", "timm"])
    assert args.models == [f"timm:{name}" for name in zoo_sweep.TIMM_MODELS] + ["resnet18"]
    assert args.batch == [1, 8]


def test_export_front_end_beside_torchscript(tmp_path, capsys):
    argv = ["--quick", "--device", "cpu", "--export", "--out", str(tmp_path), "--models",
            "test_zoo_sweep:tiny_model", "test_zoo_sweep:scripted_differs"]
    assert zoo_sweep.main(argv) == 1  # TorchScript's result for scripted_differs is wrong
    rows = rows_by_model(tmp_path)
    tiny = rows["test_zoo_sweep:tiny_model"]
    assert (tiny["status"], tiny["export_status"]) == ("ok", "ok"), tiny
    assert tiny["export_fused"] > 0 and "conv2d+hardswish" in tiny["export_patterns"], tiny
    assert tiny["export_rel_err"] < 1e-4, tiny
    assert tiny["export_ms"] > 0 and tiny["export_vs_torchscript"] == pytest.approx(tiny["ifx_ms"] / tiny["export_ms"])
    # export never scripts, so the model's scripting-only branch is not taken: right there, wrong in TorchScript
    differs = rows["test_zoo_sweep:scripted_differs"]
    assert differs["status"].startswith("MISMATCH") and differs["export_status"] == "ok", differs
    summary = json.loads((tmp_path / "zoo.json").read_text())["summary"]
    assert summary["export_vs_torchscript"]["rows"] == 2
    table = (tmp_path / "zoo.md").read_text()
    assert "| model | batch | config | export status | same patterns |" in table
    assert "export front end: geomean" in capsys.readouterr().out


def test_an_export_failure_fails_the_run(tmp_path, monkeypatch):
    real_optimize = zoo_sweep.ifx_torch.optimize

    def optimize(model, *args, frontend="torchscript", **kwargs):
        optimized = real_optimize(model, *args, frontend=frontend, **kwargs)
        if frontend == "export":  # a stand-in for a wrong export-path result
            return lambda x: optimized(x) + 1
        return optimized

    monkeypatch.setattr(zoo_sweep.ifx_torch, "optimize", optimize)
    monkeypatch.setattr(zoo_sweep, "fused_patterns", lambda optimized: (0, ""))
    argv = ["--quick", "--device", "cpu", "--export", "--no-timing", "--out", str(tmp_path), "--models",
            "test_zoo_sweep:tiny_model"]
    assert zoo_sweep.main(argv) == 1
    row = rows_by_model(tmp_path)["test_zoo_sweep:tiny_model"]
    assert row["status"] == "ok" and row["export_status"].startswith("MISMATCH: export rel err"), row
    failures = json.loads((tmp_path / "zoo.json").read_text())["summary"]["failures"]
    assert failures == ["test_zoo_sweep:tiny_model fp32 batch 1: ok; export: MISMATCH: " + row["export_status"][10:]]
