"""The A/B benchmark's quick CPU configuration: files, columns, statuses and errors (not speed)."""
import csv
import json

import pytest
import torch

from ifx_torch import bench


def tiny_model():
    """A module:factory target for the benchmark (this test module is importable by name)."""
    from ifx_torch import models
    return models.mobilenet_v3_small(hand_written=True, num_classes=10, width_mult=0.5)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert bench.main(["--quick", "--device", "cpu", "--out", str(out),
                       "--models", "mobilenet_v3_small", "test_bench:tiny_model", "no_such_model"]) == 0
    return out


def test_writes_csv_and_json_with_every_column(quick_run):
    lines = (quick_run / "results.csv").read_text().splitlines()
    env_lines = [line for line in lines if line.startswith("# ")]
    assert any(line.startswith("# torch: ") for line in env_lines)
    rows = list(csv.DictReader(line for line in lines if not line.startswith("# ")))
    assert set(bench.COLUMNS) == set(rows[0])
    data = json.loads((quick_run / "results.json").read_text())
    assert data["environment"]["torch"] == torch.__version__
    assert len(data["rows"]) == len(rows)


def test_every_variant_is_measured_or_says_why(quick_run):
    rows = json.loads((quick_run / "results.json").read_text())["rows"]
    by_variant = {(r["model"], r["variant"]): r for r in rows}
    for model in ("mobilenet_v3_small", "test_bench:tiny_model"):
        for variant in ("eager", "jit.freeze", "optimize_for_inference", "ifx_torch"):
            row = by_variant[(model, variant)]
            assert row["status"] == "ok", row
            assert row["latency_ms"] > 0 and row["images_per_s"] > 0 and row["build_s"] >= 0
            # fp32 on the CPU against the float64 reference
            assert row["rel_err"] < 1e-4, row
        assert by_variant[(model, "ifx_torch+graphs")]["status"] == "skipped: CUDA only"
        assert by_variant[(model, "ifx_torch")]["speedup_vs_eager"] > 0
        assert by_variant[(model, "ifx_torch")]["speedup_vs_best_peer"] > 0
    failed = [r for r in rows if r["model"] == "no_such_model"]
    assert len(failed) == 1 and failed[0]["status"].startswith("error: ValueError: unknown model 'no_such_model'")


def test_unknown_variant_is_refused():
    with pytest.raises(SystemExit):
        bench.parse_args(["--variants", "tensorrt"])


@pytest.mark.parametrize("intervals, covered", [
    ([], 0.0),
    ([(0, 2), (5, 6)], 3.0),           # apart: both durations
    ([(0, 4), (3, 6)], 6.0),           # overlapping, as a PDL launch waits inside its predecessor's tail
    ([(0, 10), (2, 3), (4, 5)], 10.0),  # nested
    ([(5, 6), (0, 2), (1, 3)], 4.0),   # any order
])
def test_gpu_busy_time_counts_overlapping_kernels_once(intervals, covered):
    assert bench.covered_us(intervals) == covered


@pytest.mark.parametrize("variant", ["ifx_torch-export+graphs", "ifx_torch-pt2+graphs"])
def test_export_front_end_variants_build_and_match_float64(variant):
    """The export variants (CUDA-only in the matrix) build on the CPU too: the in-process module
    and the .pt2 package loaded back, each under the replay runner, within fp32's error."""
    torch.manual_seed(0)
    model = tiny_model().eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = model.double()(x.double())
        model.float()
        output = bench.build_variant(variant, model, x)(x)
    _, rel_err = bench.errors(output, reference)
    assert output.shape == reference.shape and rel_err < 1e-4
