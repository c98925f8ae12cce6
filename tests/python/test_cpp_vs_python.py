"""benchmarks/cpp_vs_python.py in its quick CPU configuration: the table, the JSON and that the
C++ program's outputs agree with Python's on the same file and input (not speed), for a
TorchScript file and for an AOTInductor package from the export front end."""
import importlib.util
import json
import os

import pytest

from ifx_run_helper import ifx_run_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_benchmark():
    """benchmarks/ is no package: load the script as a module."""
    spec = importlib.util.spec_from_file_location("cpp_vs_python", os.path.join(ROOT, "benchmarks", "cpp_vs_python.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One run: both models, fp32 NCHW and channels_last (the input file keeps the strides)."""
    path = ifx_run_path()
    out = tmp_path_factory.mktemp("cpp_vs_python") / "results.json"
    benchmark = load_benchmark()
    status = benchmark.main(["--device", "cpu", "--quick", "--configs", "fp32", "fp32-cl", "--ifx-run", path,
                             "--json", str(out)])
    return benchmark, status, json.loads(out.read_text())


@pytest.fixture(scope="module")
def quick_package_run(tmp_path_factory):
    """The export front end's .pt2 (AOTInductor compiles C++ here: one model, one config)."""
    out = tmp_path_factory.mktemp("cpp_vs_python_pt2") / "results.json"
    status = load_benchmark().main(["--device", "cpu", "--quick", "--models", "mobilenet_v3_large", "--configs",
                                    "fp32", "--frontends", "export", "--ifx-run", ifx_run_path(), "--json", str(out)])
    return status, json.loads(out.read_text())


def test_every_model_config_and_mode_is_measured(quick_run):
    benchmark, status, data = quick_run
    assert status == 0
    rows = data["rows"]
    assert {(r["model"], r["config"], r["mode"]) for r in rows} == {
        (m, c, mode) for m in ("mobilenet_v3_large", "resnet50") for c in ("fp32", "fp32-cl")
        for mode in ("graphs", "plain")}
    for row in rows:
        assert set(row) == {field.name for field in benchmark.dataclasses.fields(benchmark.Row)}
        assert row["status"] == "ok", row
        assert row["python_ms"] > 0 and row["cpp_ms"] > 0 and row["ratio"] > 0
        assert row["source"] in ("torchvision", "ifx_torch.models")
        assert row["frontend"] == "torchscript"
    assert data["environment"]["device"] == "cpu"
    assert data["settings"]["iters"] == 5


@pytest.mark.parametrize("run", ["torchscript", "export"])
def test_cpp_and_python_outputs_agree(run, request):
    data = request.getfixturevalue("quick_run")[2] if run == "torchscript" else \
        request.getfixturevalue("quick_package_run")[1]
    assert {(r["frontend"], r["mode"]) for r in data["rows"]} >= {(run, "graphs"), (run, "plain")}
    for row in data["rows"]:
        assert row["status"] == "ok", row
        # The same file, input and kernels on one CPU: equal, within the fp32 tolerance at most.
        assert row["agree"] is True and row["max_diff"] < 1e-4, row
        if row["mode"] == "graphs":  # nothing is replayed on the CPU, on either side
            assert row["python_graphs"] == 0 and row["cpp_graphs"] == 0


def test_table_has_the_columns(quick_run, capsys):
    benchmark, _, data = quick_run
    rows = [benchmark.Row(**row) for row in data["rows"]]
    benchmark.print_table(rows, benchmark.torch.device("cpu"))
    printed = capsys.readouterr().out
    assert "| model | dtype | front end | mode | python ms | C++ ms | python/C++ | max diff |" in printed
    assert "| resnet50 | fp32-cl | torchscript | graphs |" in printed


def test_package_run_exits_cleanly(quick_package_run):
    status, data = quick_package_run
    assert status == 0 and data["settings"]["frontends"] == ["export"]


def test_missing_program_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        load_benchmark().parse_args(["--device", "cpu", "--ifx-run", str(tmp_path / "no_ifx_run")])
    assert "ifx_run not found" in capsys.readouterr().err


def test_tf32_rows_are_judged_against_float64():
    """fp32 under TF32: each side within twice eager's error against float64 agrees, however far
    the two differ from each other (two processes may pick different TF32 kernels); one side past
    that bound disagrees. Without TF32 the two must agree with each other."""
    import torch

    benchmark = load_benchmark()
    reference = torch.randn(1000, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    scale = reference.abs().max().item()
    check = benchmark.Float64Check(reference, eager_error=0.02)
    python, cpp = reference.float().clone(), reference.float().clone()
    python[0] += 0.03 * scale  # 1.5x eager's error
    cpp[0] -= 0.03 * scale
    diff, agree, errors = benchmark.compare(python, cpp, check)
    assert agree and diff > 0.05 * scale and max(errors) < 0.04
    cpp[1] += 0.05 * scale  # 2.5x eager's error on the C++ side
    assert not benchmark.compare(python, cpp, check)[1]
    not_finite = reference.float().clone()
    not_finite[2] = float("nan")
    assert not benchmark.compare(python, not_finite, check)[1]
    exact = reference.float()
    nudged = exact.clone()
    nudged[0] += 1e-3 * scale
    assert benchmark.compare(exact, exact.clone())[1]
    assert not benchmark.compare(exact, nudged)[1]
