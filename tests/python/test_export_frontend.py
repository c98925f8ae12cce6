"""frontend="export": every model of the TorchScript tests (spellings, near-misses, conv / linear /
squeeze-and-excitation patterns, model families, random models, the refusal reasons of explain)
optimized through torch.export as well, checked against the TorchScript path's report (the same
fused counts and refusal reasons, or the difference docs/export.md documents) and against eager in
float64. Also: dynamic batch, what export cannot take, graph replay of the result, no torch.jit call
on this path, and the TorchScript path's own deprecation notice.

    PYTHONPATH=python python3 -m pytest tests/python/test_export_frontend.py -q    # from the repository root
"""
import collections
import importlib
import operator
import re
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ifx_torch
import test_explain as explain_cases
import test_fusion_spellings as spellings
import test_layer_fusion as layers
import test_model_families as families
import test_random_models as random_models
import test_squeeze_excite as squeeze
from ifx_torch.export_frontend import ExportedModule

# The module, which ifx_torch.optimize (the function) hides.
optimize_module = importlib.import_module("ifx_torch.optimize")

ifx = torch.ops.ifx
aten = torch.ops.aten

# Where export names an operator differently in a report (docs/export.md, "Differences"): its
# inference decompositions turn batch_norm into _native_batch_norm_legit_no_training and flatten
# into view.
EXPORT_NAMES = {"aten::batch_norm": "aten::_native_batch_norm_legit_no_training", "aten::flatten": "aten::view"}


def as_export(text):
    for torchscript_name, export_name in EXPORT_NAMES.items():
        text = re.sub(re.escape(torchscript_name) + r"\b", export_name, text)
    return text


def refusals(report, rename=False):
    return collections.Counter((as_export(op), as_export(why)) if rename else (op, why) for op, why in report.unfused)


def both(model, inputs, dynamic_batch=False, **options):
    """The TorchScript and the export result of ``model`` (scripted; exported on ``inputs``, with a
    static batch unless asked: a dynamic one takes twice as long to export) and their reports."""
    scripted = ifx_torch.optimize(model, **options)
    exported = ifx_torch.optimize(model, tuple(clone(inputs)), frontend="export", dynamic_batch=dynamic_batch,
                                  **options)
    assert isinstance(exported, ExportedModule)
    return scripted, exported, ifx_torch.report(scripted), ifx_torch.report(exported)


def assert_same_report(ts, ex, export_only=()):
    """The same fused counts and the same refusal reasons, up to export's op names; ``export_only``:
    reasons only export gives (documented)."""
    assert ex.frontend == "export" and ts.frontend == "torchscript"
    assert ex.fused == ts.fused
    assert refusals(ex) == refusals(ts, rename=True) + collections.Counter(export_only)


def clone(inputs):
    return [t.clone() if isinstance(t, torch.Tensor) else t for t in inputs]


def assert_matches_eager(model, optimized, inputs, tolerance=1e-10):
    """Outputs (any structure) equal to eager's in float64 (``tolerance`` None: assert_close's
    own); each side gets its own copy of the inputs, since some models write to theirs."""
    with torch.no_grad():
        got = torch.utils._pytree.tree_leaves(optimized(*clone(inputs)))
        want = torch.utils._pytree.tree_leaves(model(*clone(inputs)))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=tolerance, atol=tolerance)


def calls(optimized, *targets):
    return sum(1 for node in optimized.graph.nodes if node.op == "call_function" and node.target in targets)


# --- activation spellings and near-misses (test_fusion_spellings) --------------------------------------

SPELLINGS = spellings.HARDSWISH_SPELLINGS + spellings.HARDSIGMOID_SPELLINGS + spellings.NEAR_MISSES


@pytest.mark.parametrize("module_class", SPELLINGS, ids=lambda c: c.__name__)
def test_activation_spelling_fuses_as_in_torchscript(module_class):
    model = module_class().eval()
    x = spellings.fresh_input(torch.float64)
    _, exported, ts, ex = both(model, (x,))
    # Documented difference: TorchScript leaves an in-place activation on a graph input without a
    # reason (the pass sees only functional ops); export's graph is functional and says why.
    written = [("aten::hardswish", "computes hardswish, but its input is written in place")]
    assert_same_report(ts, ex, export_only=written if module_class is spellings.InplaceHardswishOnInput else ())
    expected = {"hardswish": int(module_class in spellings.HARDSWISH_SPELLINGS),
                "hardsigmoid": int(module_class in spellings.HARDSIGMOID_SPELLINGS)}
    assert ex.fused == expected
    assert calls(exported, ifx.hardswish.default) == ex.fused["hardswish"]
    assert calls(exported, ifx.hardsigmoid.default) == ex.fused["hardsigmoid"]
    if module_class in spellings.HARDSWISH_SPELLINGS:  # nothing of the chain is left
        assert not calls(exported, aten.relu6.default, aten.clamp.default, aten.hardtanh.default, aten.div.Tensor,
                         aten.hardswish.default)
    assert_matches_eager(model, exported, (x,), tolerance=None)  # the spellings' own tolerance (a float32 1/6)


def test_input_written_in_place_is_written_by_the_exported_module_too():
    model = spellings.InplaceHardswishOnInput().eval()
    x = spellings.fresh_input(torch.float64)
    exported = ifx_torch.optimize(model, (x.clone(),), frontend="export")
    mine, theirs = x.clone(), x.clone()
    with torch.no_grad():
        torch.testing.assert_close(exported(mine), model(theirs))
    torch.testing.assert_close(mine, theirs)  # the input holds the hardswish in both
    assert not torch.equal(mine, x)


def test_aten_ops_kept_when_asked():
    x = spellings.fresh_input(torch.float64)
    exported = ifx_torch.optimize(spellings.AtenHardswish().eval(), (x,), frontend="export",
                                  fuse_aten_activations=False)
    report = ifx_torch.report(exported)
    assert report.fused["hardswish"] == 0 and calls(exported, aten.hardswish.default) == 1
    assert ("aten::hardswish", "kept as aten's op (fuse_aten_activations=False)") in report.unfused


class Branchy(nn.Module):
    def forward(self, x, flag: bool):
        if flag:
            return x * F.relu6(x + 3.) / 6.
        return F.relu6(x + 3.) / 6.


def test_control_flow_on_python_values_is_specialized():
    # Documented difference: TorchScript fuses both branches (1 + 1); export traces the branch
    # the example takes, and the result refuses the other value.
    model = Branchy().eval()
    x = spellings.fresh_input(torch.float64)
    assert ifx_torch.report(ifx_torch.optimize(model)).fused == {"hardswish": 1, "hardsigmoid": 1}
    for flag, fused in [(True, {"hardswish": 1, "hardsigmoid": 0}), (False, {"hardswish": 0, "hardsigmoid": 1})]:
        exported = ifx_torch.optimize(model, (x, flag), frontend="export")
        assert ifx_torch.report(exported).fused == fused
        assert_matches_eager(model, exported, (x, flag))
        with pytest.raises(Exception, match="flag"):
            exported(x, not flag)


def test_torchscript_module_is_refused():
    traced = torch.jit.trace(spellings.ReluSixChain().eval(), (spellings.fresh_input(),))
    with pytest.raises(TypeError, match="TorchScript module; torch.export takes the eager nn.Module"):
        ifx_torch.optimize(traced, (spellings.fresh_input(),), frontend="export")


# --- conv / linear fusion (test_layer_fusion) ------------------------------------------------------------

@pytest.mark.parametrize("name", list(layers.MODELS))
def test_model_convs_fuse_as_in_torchscript_and_match_eager_in_float64(name):
    torch.manual_seed(0)
    model = layers._randomize_batchnorm(layers.MODELS[name]()).double()
    x = layers.nonzero_randn(2, 3, 64, 64)
    _, exported, ts, ex = both(model, (x,))
    assert_same_report(ts, ex)
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    fused_convs = sum(count for pattern, count in ex.fused.items() if pattern.startswith("conv2d"))
    assert (calls(exported, ifx.conv2d_act.default) + 2 * calls(exported, ifx.squeeze_excite.default) +
            3 * calls(exported, ifx.conv2d_act_squeeze_excite.default)) == fused_convs
    assert fused_convs + calls(exported, aten.conv2d.default) == convs
    assert not calls(exported, aten._native_batch_norm_legit_no_training.default, aten.relu.default, aten.add.Tensor)
    assert_matches_eager(model, exported, (x,))


def test_conv_near_misses_as_in_torchscript():
    model = layers._randomize_batchnorm(layers.ConvNearMisses()).double()
    x = layers.nonzero_randn(2, 8, 10, 10)
    _, exported, ts, ex = both(model, (x,))
    assert_same_report(ts, ex)
    assert ex.fused.get("conv2d+relu") == 1 and ex.fused.get("conv2d+relu6") == 1
    assert ex.fused.get("conv2d+bias") == 2 and calls(exported, aten.conv2d.default) == 0
    assert_matches_eager(model, exported, (x,))


class TwoOutputs(nn.Module):
    """A feature map and a residual block's output: two returned tensors."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        y = self.stem(x)
        return y, F.relu(self.conv(y) + y)


@pytest.mark.parametrize("input_format", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
def test_channels_last_convs_keep_outputs_and_their_layout(input_format):
    # What conv_layout="auto" does on CUDA under TF32, forced here on the CPU.
    model = layers._randomize_batchnorm(TwoOutputs()).double()
    x = layers.nonzero_randn(2, 3, 16, 16)
    exported = ifx_torch.optimize(model, (x,), frontend="export", conv_layout="channels_last", dynamic_batch=False)
    weights = [operator.attrgetter(n.args[1].target)(exported.graph_module) for n in exported.graph.nodes
               if n.target is ifx.conv2d_act.default]
    assert len(weights) == 2 and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    assert calls(exported, ifx.like_layout.default) == 2
    x = x.contiguous(memory_format=input_format)
    with torch.no_grad():
        for got, want in zip(exported(x), model(x)):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
            assert got.is_contiguous(memory_format=input_format) == want.is_contiguous(memory_format=input_format)


class DropoutHead(nn.Module):
    """A classifier head as torchvision writes it: linear, hardswish, dropout, linear."""

    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(16, 32), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(x)


class ObservableClones(nn.Module):
    """Clones whose copy can be seen, each kept: of the input, of a weight, to another memory
    format, and returned; with an intermediate's clone between them, which goes."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 8, 1, 1, dtype=torch.float64))

    def forward(self, x):
        y = F.conv2d(x.clone(), self.weight.clone())
        z = F.relu(y).clone().contiguous(memory_format=torch.channels_last) * 2
        w = torch.sigmoid(z).clone(memory_format=torch.channels_last)
        u = (w + 1).clone()
        return u, torch.tanh(u).clone() + w


def test_eval_dropout_leaves_no_copy_as_in_torchscript():
    model = DropoutHead().double().eval()
    x = torch.randn(4, 16, dtype=torch.float64)
    _, exported, ts, ex = both(model, (x,))
    assert_same_report(ts, ex)
    assert calls(exported, aten.clone.default) == 0 and calls(exported, ifx.linear_act.default) == 1
    assert_matches_eager(model, exported, (x,))


def test_observable_clones_stay():
    model = ObservableClones().eval()
    x = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    exported = ifx_torch.optimize(model, (x,), frontend="export", dynamic_batch=False)
    kept = [n for n in exported.graph.nodes if n.target is aten.clone.default]
    # The input's, the weight's, the two to channels_last (export spells .contiguous(format) as a
    # clone) and the returned one; the clones of relu's and tanh's results go (tanh's feeds an
    # add, not the output).
    sources = sorted(str(n.args[0].op) + ":" + str(n.kwargs.get("memory_format")) for n in kept)
    assert len(kept) == 5, sources
    assert sum(n.args[0].op == "placeholder" for n in kept) == 1
    assert sum(n.args[0].op == "get_attr" for n in kept) == 1
    assert sum(n.kwargs.get("memory_format") == torch.channels_last for n in kept) == 2
    assert sum(any(user.op == "output" for user in n.users) for n in kept) == 1
    assert_matches_eager(model, exported, (x,))


def test_fuse_layers_false_keeps_aten_convs():
    model = squeeze.InBlock(squeeze.MeanSE()).eval()
    exported = ifx_torch.optimize(model, (torch.randn(2, 8, 7, 5),), frontend="export", fuse_layers=False)
    assert not calls(exported, ifx.conv2d_act.default, ifx.squeeze_excite.default)
    assert calls(exported, aten.conv2d.default) == 4 and calls(exported, ifx.hardsigmoid.default) == 1


@pytest.mark.parametrize("case", layers.CPU_LAYOUT_CASES)
def test_conv_layout_auto_on_the_cpu_runs_fp32_convs_channels_last(case):
    dtype, onednn, converted, tolerance = layers.CPU_LAYOUT_CASES[case]
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Hardswish(), nn.Conv2d(8, 8, 3), nn.ReLU()).eval().to(dtype)
    x = layers.nonzero_randn(2, 3, 9, 7).to(dtype)
    with torch.backends.mkldnn.flags(enabled=onednn):
        exported = ifx_torch.optimize(model, (x,), frontend="export", dynamic_batch=False)
    weights = [operator.attrgetter(n.args[1].target)(exported.graph_module) for n in exported.graph.nodes
               if n.target is ifx.conv2d_act.default]
    assert len(weights) == 2 and all(w.is_contiguous(memory_format=torch.channels_last) == converted for w in weights)
    assert bool(calls(exported, ifx.like_layout.default)) == converted
    with torch.no_grad():
        got, want = exported(x), model.double()(x.double())
    assert got.dtype == dtype and got.is_contiguous()
    torch.testing.assert_close(got.double(), want, rtol=tolerance, atol=tolerance)


# --- squeeze-and-excitation (test_squeeze_excite) --------------------------------------------------------

SE_FORMS = {"torchvision": lambda: squeeze.ConvSE(),
            "torchvision-silu-sigmoid": lambda: squeeze.ConvSE(activation=nn.SiLU, gate=nn.Sigmoid),
            "timm-hard-sigmoid": lambda: squeeze.MeanSE(),
            "timm-sigmoid": lambda: squeeze.MeanSE(hand_written_gate=False),
            "linear-view": lambda: squeeze.LinearSE(), "linear-flatten": lambda: squeeze.LinearSE(flatten=True)}


@pytest.mark.parametrize("form", list(SE_FORMS))
def test_squeeze_excite_form_fuses_as_in_torchscript(form):
    model = squeeze.InBlock(SE_FORMS[form]()).eval().double()
    x = torch.randn(2, 8, 7, 5, dtype=torch.float64)
    _, exported, ts, ex = both(model, (x,), dynamic_batch=True)
    assert_same_report(ts, ex)
    assert ex.fused.get("squeeze_excite") == 1 and calls(exported, ifx.squeeze_excite.default) == 1
    assert not calls(exported, aten.mul.Tensor)
    for batch in (2, 1, 3):  # one dynamic batch dimension; H and W stay as exported
        assert_matches_eager(model, exported, (torch.randn(batch, 8, 7, 5, dtype=torch.float64),))
    pixel = torch.randn(1, 8, 1, 1, dtype=torch.float64)
    assert_matches_eager(model, ifx_torch.optimize(model, (pixel,), frontend="export"), (pixel,))


@pytest.mark.parametrize("se, reason", [
    (squeeze.MaxPoolSE, "max pooling: a squeeze-and-excitation block averages"),
    (squeeze.ReluGateSE, "the gate applies relu, not sigmoid or hardsigmoid"),
    (squeeze.PooledTwiceSE, "the pooled tensor has other users"),
    (squeeze.BigPoolSE, "the pool keeps a map larger than 1x1"),
    (squeeze.WrittenSE, "x is written in place between the pool and the scale"),
], ids=["max-pool", "relu-gate", "pool-used-twice", "2x2-pool", "x-written"])
def test_squeeze_excite_near_miss_keeps_its_reason(se, reason):
    model = se().eval().double()
    x = torch.randn(2, 16, 2, 2, dtype=torch.float64)
    _, exported, ts, ex = both(model, (x,))
    assert_same_report(ts, ex)
    assert "squeeze_excite" not in ex.fused and not calls(exported, ifx.squeeze_excite.default)
    assert any(why == reason for _, why in ex.unfused), ex.unfused
    assert_matches_eager(model, exported, (x,))


def test_squeeze_excite_switched_off_on_request():
    model = squeeze.InBlock(squeeze.ConvSE()).eval().double()
    x = torch.randn(2, 8, 7, 5, dtype=torch.float64)
    _, _, ts, ex = both(model, (x,), fuse_squeeze_excitation=False)
    assert_same_report(ts, ex)
    assert "squeeze_excite" not in ex.fused and ex.fused.get("conv2d+hardsigmoid") == 1


# --- layer scale: mul + add as one addcmul (fuse_multiply_add) -----------------------------------------------

class LayerScaleBlock(nn.Module):
    """A ConvNeXt block as torchvision writes it: depthwise conv, to NHWC, layer norm, linear, GELU,
    linear, back to NCHW, then the layer scale and the residual, ``gamma * y + x`` (gamma [C, 1, 1]).
    y is NHWC in memory, and in torchvision's ConvNeXt so is x (its LayerNorm2d permutes too): the
    tests give x channels_last. With x NCHW, ``gamma * y + x`` follows y's layout and addcmul(x, ...)
    would follow x's: a near-miss below."""

    def __init__(self, ch=8):
        super().__init__()
        self.dwconv = nn.Conv2d(ch, ch, 7, padding=3, groups=ch)
        self.norm = nn.LayerNorm(ch, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(ch, 4 * ch), nn.Linear(4 * ch, ch)
        self.gamma = nn.Parameter(torch.randn(ch, 1, 1))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.norm(y)))).permute(0, 3, 1, 2)
        return self.scale_and_add(x, y)

    def scale_and_add(self, x, y):
        return self.gamma * y + x


class ResidualFirst(LayerScaleBlock):
    def scale_and_add(self, x, y):
        return x + self.gamma * y


class ScaleSecond(LayerScaleBlock):
    def scale_and_add(self, x, y):
        return y * self.gamma + x


class ResidualFirstScaleSecond(LayerScaleBlock):
    def scale_and_add(self, x, y):
        return x + y * self.gamma


LAYER_SCALE_SPELLINGS = [LayerScaleBlock, ResidualFirst, ScaleSecond, ResidualFirstScaleSecond]


def _nhwc(x):
    return x.contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("block", LAYER_SCALE_SPELLINGS, ids=lambda b: b.__name__)
def test_layer_scale_runs_as_one_addcmul_and_reports_as_in_torchscript(block):
    torch.manual_seed(0)
    model = block().eval().double()
    x = _nhwc(layers.nonzero_randn(2, 8, 9, 7))
    _, exported, ts, ex = both(model, (x,))
    assert_same_report(ts, ex)  # not a fusion of ours: the same counts as TorchScript's
    assert ex.fused.get("conv2d+bias") == 1
    [addcmul] = [n for n in exported.graph.nodes if n.target is aten.addcmul.default]
    assert addcmul.args[0].op == "placeholder"  # x, the residual
    assert {a.op for a in addcmul.args[1:]} == {"get_attr", "call_function"}  # gamma and y, either order
    assert not calls(exported, aten.mul.Tensor, aten.add.Tensor)
    assert ex.ops_after.get("aten::addcmul") == 1 and "aten::mul" not in ex.ops_after
    assert ts.ops_after.get("aten::mul") == 1 and ts.ops_after.get("aten::add") == 1  # TorchScript keeps both
    x = _nhwc(layers.nonzero_randn(2, 8, 9, 7))
    assert_matches_eager(model, exported, (x,))
    with torch.no_grad():
        assert exported(x).stride() == model(x).stride()


def test_layer_scale_with_a_dynamic_batch_in_float32():
    torch.manual_seed(0)
    model = LayerScaleBlock().eval()
    exported = ifx_torch.optimize(model, (_nhwc(torch.randn(2, 8, 9, 7)),), frontend="export", dynamic_batch=True)
    assert ifx_torch.report(exported).dynamic_batch
    assert calls(exported, aten.addcmul.default) == 1 and not calls(exported, aten.mul.Tensor, aten.add.Tensor)
    reference = LayerScaleBlock().eval().double()
    reference.load_state_dict(model.state_dict())
    for batch in (2, 1, 3):
        x = _nhwc(layers.nonzero_randn(batch, 8, 9, 7))
        with torch.no_grad():
            got, want = exported(x.float()), reference(x)
        assert got.dtype == torch.float32 and got.stride() == want.stride()
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)
    # save_package's export of the fused graph keeps the batch symbolic through addcmul.
    from ifx_torch.export_frontend import package
    program = package.export_program(exported)
    assert any(n.target is aten.addcmul.default for n in program.graph.nodes)


class ScaleReturned(nn.Module):
    """The mul's result is returned too: addcmul would compute it a second time."""

    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.randn(8, 1, 1, dtype=torch.float64))

    def forward(self, x, y):
        scaled = self.gamma * y
        return scaled + x, scaled


class ScaleUsedTwice(ScaleReturned):
    def forward(self, x, y):
        scaled = self.gamma * y
        return (scaled + x) * scaled


class AlphaTwo(ScaleReturned):
    def forward(self, x, y):
        return torch.add(x, self.gamma * y, alpha=2)


class MixedDtypes(nn.Module):
    """A float64 layer scale on float32 activations: mul and add promote to float64."""

    def __init__(self):
        super().__init__()
        self.register_buffer("gamma", torch.randn(8, 1, 1, dtype=torch.float64))

    def forward(self, x, y):
        return self.gamma * y + x


class PythonScale(nn.Module):
    """A Python number as the scale: export writes mul(y, 0.5), no tensor to give addcmul."""

    def forward(self, x, y):
        return 0.5 * y + x, y * 0.25 + x


class IntegerScale(nn.Module):
    def forward(self, x, y):
        return (x * y + x).double()


class ScaleLaidOutOtherwise(ScaleReturned):
    """y channels_last, x NCHW: gamma * y + x follows y's layout, addcmul(x, ...) would follow x's."""

    def forward(self, x, y):
        return self.gamma * y + x


class ResidualWrittenAfter(ScaleReturned):
    """The residual is an input the model writes to."""

    def forward(self, x, y):
        out = self.gamma * y + x
        x.mul_(2.0)
        return out


class RefusedHardswishThenAdd(nn.Module):
    """x * hardsigmoid(x) + r whose hardsigmoid is used elsewhere: the hardswish pass refuses the
    mul with a reason, which the report must keep."""

    def forward(self, x, y):
        gate = F.relu6(x + 3.) / 6.
        return x * gate + y, gate


def _pair(dtype=torch.float64, y_format=torch.contiguous_format):
    return (layers.nonzero_randn(2, 8, 5, 6).to(dtype),
            layers.nonzero_randn(2, 8, 5, 6).to(dtype).contiguous(memory_format=y_format))


MULTIPLY_ADD_NEAR_MISSES = {
    "mul-returned": (ScaleReturned, _pair),
    "mul-used-twice": (ScaleUsedTwice, _pair),
    "alpha-2": (AlphaTwo, _pair),
    "mixed-dtypes": (MixedDtypes, lambda: _pair(torch.float32)),
    "python-scale": (PythonScale, _pair),
    "integers": (IntegerScale, lambda: tuple(t.long() for t in _pair())),
    "other-layout": (ScaleLaidOutOtherwise, lambda: _pair(y_format=torch.channels_last)),
    "convnext-block-nchw-residual": (lambda: LayerScaleBlock().double(), lambda: (layers.nonzero_randn(2, 8, 9, 7),)),
    "residual-written": (ResidualWrittenAfter, _pair),
    "refused-hardswish": (RefusedHardswishThenAdd, _pair),
}


@pytest.mark.parametrize("case", list(MULTIPLY_ADD_NEAR_MISSES))
def test_multiply_add_near_misses_stay_as_they_are(case):
    module_class, make_inputs = MULTIPLY_ADD_NEAR_MISSES[case]
    model = module_class().eval()
    inputs = make_inputs()
    _, exported, ts, ex = both(model, inputs)
    assert_same_report(ts, ex)
    assert not calls(exported, aten.addcmul.default)
    assert calls(exported, aten.mul.Tensor) >= 1 and calls(exported, aten.add.Tensor) >= 1
    if module_class is RefusedHardswishThenAdd:
        assert ("aten::mul", "computes hardswish, but an intermediate of the chain (aten::div) has another user") \
            in ex.unfused
    inputs = make_inputs()  # fresh values
    with torch.no_grad():
        got = torch.utils._pytree.tree_leaves(exported(*clone(inputs)))
        want = torch.utils._pytree.tree_leaves(model(*clone(inputs)))
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.stride() == w.stride()
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


def test_multiply_add_whose_layout_the_add_follows_is_rewritten():
    # The control of "other-layout": x first, so the add follows x's layout as addcmul(x, ...) does.
    class ResidualFirstLaidOutOtherwise(ScaleReturned):
        def forward(self, x, y):
            return x + self.gamma * y

    model = ResidualFirstLaidOutOtherwise().eval()
    x, y = _pair(y_format=torch.channels_last)
    exported = ifx_torch.optimize(model, (x, y), frontend="export", dynamic_batch=False)
    assert calls(exported, aten.addcmul.default) == 1
    x, y = _pair(y_format=torch.channels_last)
    with torch.no_grad():
        got, want = exported(x, y), model(x, y)
    assert got.is_contiguous() and got.stride() == want.stride()
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


class ScaledConvPlusInput(nn.Module):
    """gamma * conv(x) + x: the conv is fused with its bias and its scale and residual become addcmul."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.gamma = nn.Parameter(torch.randn(8, 1, 1))

    def forward(self, x):
        return self.gamma * self.conv(x) + x


class ConvPlusScaledInput(ScaledConvPlusInput):
    """conv(x) + gamma * x: the conv epilogue takes the add, with the mul as its residual."""

    def forward(self, x):
        return self.conv(x) + self.gamma * x


@pytest.mark.parametrize("module_class, fused, addcmuls", [
    (ScaledConvPlusInput, {"conv2d+bias": 1}, 1),
    (ConvPlusScaledInput, {"conv2d+add": 1}, 0),
], ids=["scaled-conv", "conv-plus-scaled"])
def test_conv_epilogue_takes_its_residual_add_before_the_multiply_add(module_class, fused, addcmuls):
    model = module_class().eval().double()
    x = layers.nonzero_randn(2, 8, 6, 5)
    _, exported, ts, ex = both(model, (x,))
    assert_same_report(ts, ex)
    assert {k: v for k, v in ex.fused.items() if v} == fused
    assert calls(exported, ifx.conv2d_act.default) == 1 and calls(exported, aten.addcmul.default) == addcmuls
    assert calls(exported, aten.mul.Tensor) == 1 - addcmuls and not calls(exported, aten.add.Tensor)
    assert_matches_eager(model, exported, (layers.nonzero_randn(2, 8, 6, 5),))


class DownsampleThenLayerScale(nn.Module):
    """ConvNeXt's stage entry: a strided conv (fused alone with its bias) whose output is the residual
    of the next block's layer scale, gamma * branch + residual, the branch a linear over channels
    between permutes."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(4, 8, 2, stride=2)
        self.fc = nn.Linear(8, 8)
        self.gamma = nn.Parameter(torch.randn(8, 1, 1))

    def forward(self, x):
        y = self.down(x)
        return self.gamma * self.fc(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) + y


@pytest.mark.parametrize("recorded", ["as_exported", "nchw_as_on_cuda"])
def test_fused_conv_records_the_layout_its_kernels_return(recorded, monkeypatch):
    # On CUDA, torch.export records an NCHW output for a conv whose input and weight are channels_last,
    # though the conv (cuDNN's, and ours) returns channels_last; simulated here by rewriting the recorded
    # outputs before the passes run. The fused conv must record its kernels' layout, or the layer
    # scale's add looks like it mixes layouts and stays unfused.
    frontend = importlib.import_module("ifx_torch.export_frontend.frontend")
    run_passes = frontend.run_passes

    def run_passes_after_recording_nchw(state, *args):
        for node in state.graph.nodes:
            if node.target is aten.conv2d.default:
                node.meta["val"] = torch.empty_like(node.meta["val"], memory_format=torch.contiguous_format)
        return run_passes(state, *args)

    if recorded == "nchw_as_on_cuda":
        monkeypatch.setattr(frontend, "run_passes", run_passes_after_recording_nchw)
    model = DownsampleThenLayerScale().eval().double().to(memory_format=torch.channels_last)
    x = layers.nonzero_randn(2, 4, 8, 6).contiguous(memory_format=torch.channels_last)
    exported = ifx_torch.optimize(model, (x,), frontend="export", dynamic_batch=False)
    convs = [n for n in exported.graph.nodes if n.target is ifx.conv2d_act.default]
    assert len(convs) == 1 and convs[0].meta["val"].is_contiguous(memory_format=torch.channels_last)
    assert calls(exported, aten.addcmul.default) == 1
    x = layers.nonzero_randn(2, 4, 8, 6).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        got, want = exported(x), model(x)
    assert got.stride() == want.stride()
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dynamic_batch", [False, True], ids=["static", "dynamic"])
def test_layer_scale_after_the_layout_pass_sees_the_layouts_that_run(dynamic_batch):
    # An NCHW input, every conv weight made channels_last (what conv_layout="auto" does on CUDA
    # under TF32): the conv now returns channels_last, so the layer scale's add no longer mixes
    # layouts; the records made before the layout pass say NCHW, and kept the add unfused.
    model = DownsampleThenLayerScale().eval().double()
    x = layers.nonzero_randn(2, 4, 8, 6)
    exported = ifx_torch.optimize(model, (x,), frontend="export", conv_layout="channels_last",
                                  dynamic_batch=dynamic_batch)
    convs = [n for n in exported.graph.nodes if n.target is ifx.conv2d_act.default]
    assert len(convs) == 1 and convs[0].meta["val"].is_contiguous(memory_format=torch.channels_last)
    assert calls(exported, aten.addcmul.default) == 1 and not calls(exported, aten.add.Tensor)
    x = layers.nonzero_randn(3 if dynamic_batch else 2, 4, 8, 6)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model(x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("input_format, weight_format", [
    (torch.contiguous_format, torch.contiguous_format), (torch.contiguous_format, torch.channels_last),
    (torch.channels_last, torch.contiguous_format), (torch.channels_last, torch.channels_last),
], ids=["nchw-nchw", "nchw-cl", "cl-nchw", "cl-cl"])
def test_symbolic_fake_conv_gives_the_layout_of_the_meta_kernel(input_format, weight_format):
    # torch's meta conv lays out a channels_last weight's output NCHW; ifx::conv2d_act's kernels
    # (and its C++ Meta kernel) return channels_last there.
    fake_kernels = importlib.import_module("ifx_torch.export_frontend.fake_kernels")
    x = torch.empty(2, 4, 8, 8, device="meta").contiguous(memory_format=input_format)
    weight = torch.empty(8, 4, 3, 3, device="meta").contiguous(memory_format=weight_format)
    residual = torch.empty(2, 8, 8, 8, device="meta")
    for args in ((x, weight, None, [1, 1], [1, 1], [1, 1], 1, None, "relu"),
                 (x, weight, None, [1, 1], [1, 1], [1, 1], 1, residual, "none")):
        meta_kernel = ifx.conv2d_act(*args)
        with fake_kernels.symbolic_fake_kernels():
            symbolic = ifx.conv2d_act(*args)
        assert symbolic.shape == meta_kernel.shape and symbolic.stride() == meta_kernel.stride()


# --- model families and random models ----------------------------------------------------------------------

@pytest.mark.parametrize("block", list(families.FAMILIES), ids=lambda b: b.__name__)
def test_family_block_fuses_as_in_torchscript(block):
    channels, patterns = families.FAMILIES[block]
    torch.manual_seed(0)
    model = families.randomized(block())
    x = torch.randn(2, channels, 12, 12, dtype=torch.float64) * 2
    _, exported, ts, ex = both(model, (x,))
    assert_same_report(ts, ex)
    for pattern, count in patterns.items():
        assert ex.fused.get(pattern) == count, (pattern, ex.fused)
    for memory_format in (torch.contiguous_format, torch.channels_last):
        assert_matches_eager(model, exported, (x.contiguous(memory_format=memory_format),))


IN_PLACE = re.compile(r"\w_\(|\+=|inplace=True")


@pytest.mark.parametrize("seed", range(16))
def test_random_model_fuses_as_in_torchscript(seed, tmp_path):
    model, blocks, source = random_models.build(seed, tmp_path)
    x = torch.randn(2, random_models.CHANNELS, 7, 7, dtype=torch.float64) * 3
    _, exported, ts, ex = both(model, (x,))
    fused_convs = calls(exported, ifx.conv2d_act.default)
    must, may = sum(b.must_fuse() for b in blocks), sum(b.may_fuse() for b in blocks)
    assert must <= fused_convs <= may, f"{fused_convs} fused, expected {must}..{may}\n{source}\n{exported.code}"
    if IN_PLACE.search(source):
        # Documented difference: export functionalizes writes to intermediates, so what TorchScript's
        # alias analysis turns down after an in-place op (y += h; a chain on y) may fuse here.
        assert all(ex.fused.get(pattern, 0) >= count for pattern, count in ts.fused.items() if pattern in
                   ("hardswish", "hardsigmoid", "conv+batch_norm")), (ts.fused, ex.fused)
    else:
        assert_same_report(ts, ex)
    for _ in range(2):
        assert_matches_eager(model, exported, (torch.randn(2, random_models.CHANNELS, 7, 7, dtype=torch.float64) * 3,),
                             tolerance=1e-9)


# --- every refusal reason (test_explain) --------------------------------------------------------------------

def _image():
    return torch.randn(2, 3, 8, 8)


class WrittenBeforeFusedActivation(nn.Module):
    """Inputs written between a layer and an activation chain that an earlier pass fused: the
    layer pass must see the fused node's place in the program."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x, v):
        y = self.fc(v)
        v.add_(1.0)
        z = self.conv(x)
        x.mul_(2.0)
        return F.relu6(y + 3.0) / 6.0, z * F.relu6(z + 3.0) / 6.0


EXPLAIN_CASES = {
    "NearMisses": lambda: (explain_cases.NearMisses(), (_image(),)),
    "PaddingSame": lambda: (explain_cases.PaddingSame(), (_image(),)),
    "WeightFromInput": lambda: (explain_cases.WeightFromInput(),
                                (_image(), torch.randn(8, 3, 3, 3), torch.randn(2, 5), torch.randn(4, 5))),
    "ComputedBias": lambda: (explain_cases.ComputedBias(), (_image(), 2.0)),
    "AddsAndClamps": lambda: (explain_cases.AddsAndClamps(), (_image(),)),
    "WrittenBetween": lambda: (explain_cases.WrittenBetween(), (_image(), torch.randn(2, 3))),
    "BatchNorms": lambda: (explain_cases.BatchNorms(), (_image(), torch.randn(3, 3, 1, 1), torch.randn(3))),
    "Chains": lambda: (explain_cases.Chains(), (_image(), _image())),
    "WrittenBeforeFusedActivation": lambda: (WrittenBeforeFusedActivation(), (_image(), torch.randn(2, 3))),
}


@pytest.fixture(scope="module")
def explained():
    """Each case explained by both front ends, once for the tests below."""
    results = {}
    for case, make in EXPLAIN_CASES.items():
        model, inputs = make()
        model.eval()
        exported = ifx_torch.optimize(model, tuple(clone(inputs)), frontend="export", dynamic_batch=False)
        results[case] = (model, inputs, exported, ifx_torch.explain(model),
                         ifx_torch.explain(model, tuple(clone(inputs)), frontend="export", dynamic_batch=False))
    return results


@pytest.mark.parametrize("case", list(EXPLAIN_CASES))
def test_refusal_reasons_as_in_torchscript(case, explained):
    model, inputs, exported, ts, ex = explained[case]
    assert ex.fused == ts.fused and ex.fused == ifx_torch.report(exported).fused
    assert collections.Counter(ex.unfused) == collections.Counter((as_export(op), as_export(why))
                                                                  for op, why in ts.unfused)
    assert "operator histogram (before -> after)" in str(ex)
    assert_matches_eager(model, exported, inputs, 1e-6)


def test_every_reason_of_the_torchscript_list_is_given(explained):
    # test_explain's list of (model, op, reason), each reason found through export too (with
    # export's op names), except the ones docs/export.md says cannot arise there.
    cannot_arise = {"stride, padding, dilation or groups is not a constant", "its only user is in another block",
                    "the conv2d feeding it is in another block"}
    found = collections.Counter()
    for _, _, _, _, ex in explained.values():
        found.update(ex.unfused)
    found.update(ifx_torch.explain(explain_cases.ReturnedAndBranched().eval(), (_image(), True), frontend="export",
                                   dynamic_batch=False).unfused)
    marks = [m for m in explain_cases.test_each_refusal_reason.pytestmark if m.name == "parametrize"]
    expected = [(op, reason) for _, _, op, reason in marks[0].args[1] if reason not in cannot_arise]
    assert len(expected) >= 24
    for op, reason in expected:
        assert any(kind == as_export(op) and why.startswith(as_export(reason)) for kind, why in found), (op, reason)


def test_python_numbers_are_specialized():
    # Documented differences: export burns Python number and bool arguments into the graph. A
    # stride passed as an int is then a constant (TorchScript: "not a constant"), and the branch a
    # bool takes is the only one, so nothing is "in another block".
    stride = ifx_torch.explain(explain_cases.StrideFromInput().eval(), (_image(), 2), frontend="export")
    assert stride.fused.get("conv2d+relu") == 1 and stride.unfused == []
    model = explain_cases.ReturnedAndBranched().eval()
    branched = ifx_torch.explain(model, (_image(), True), frontend="export")
    assert branched.fused.get("conv2d+relu") == 1
    assert collections.Counter(why for _, why in branched.unfused) == {"nothing follows it but the model's output": 2}
    bn = ifx_torch.explain(explain_cases.BatchNormInABranch().eval(), (_image(), True), frontend="export")
    assert bn.fused.get("conv+batch_norm") == 1
    assert bn.fused.get("conv2d+bias") == 1 and bn.unfused == []  # the conv keeps the folded bias


# --- dynamic batch, and what export cannot take ------------------------------------------------------------

def test_dynamic_batch_where_the_model_allows_it():
    torch.manual_seed(0)
    model = layers._randomize_batchnorm(families.ResNeXtBottleneck()).double()
    exported = ifx_torch.optimize(model, (torch.randn(2, 32, 8, 8, dtype=torch.float64),), frontend="export")
    report = ifx_torch.report(exported)
    assert report.dynamic_batch and "front end: torch.export, batch dynamic" in str(report)
    assert report.fused.get("conv2d+add+relu") == 1
    for batch in (1, 3, 5):
        assert_matches_eager(model, exported, (torch.randn(batch, 32, 8, 8, dtype=torch.float64),))


class FixedBatch(nn.Module):
    def forward(self, x):
        return F.hardswish(x.reshape(2, x.shape[1] * x.shape[2] * x.shape[3]))  # the batch size is part of the model


def test_static_batch_where_the_model_fixes_it():
    x = torch.randn(2, 3, 4, 4)
    exported = ifx_torch.optimize(FixedBatch().eval(), (x,), frontend="export")
    assert not ifx_torch.report(exported).dynamic_batch and ifx_torch.report(exported).fused["hardswish"] == 1
    torch.testing.assert_close(exported(x), FixedBatch()(x))
    with pytest.raises(RuntimeError, match="does not allow a dynamic batch dimension"):
        ifx_torch.optimize(FixedBatch().eval(), (x,), frontend="export", dynamic_batch=True)
    with pytest.raises(ValueError, match="of at least 2"):
        ifx_torch.optimize(nn.Hardswish().eval(), (torch.randn(1, 3),), frontend="export", dynamic_batch=True)
    one = ifx_torch.optimize(nn.Hardswish().eval(), (torch.randn(1, 3),), frontend="export")  # batch 1: static
    assert not ifx_torch.report(one).dynamic_batch
    with pytest.raises(Exception, match="size|shape|dim"):
        one(torch.randn(2, 3))
    with pytest.raises(ValueError, match="dynamic_batch applies to frontend='export'"):
        ifx_torch.optimize(nn.Hardswish().eval(), dynamic_batch=True)


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return F.hardswish(x)
        return x


def test_what_export_cannot_take_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"torch\.export cannot export DataDependent.*torch\.cond.*"
                                           r"frontend='torchscript'"):
        ifx_torch.optimize(DataDependent().eval(), (torch.randn(2, 3),), frontend="export")
    with pytest.raises(ValueError, match="pass example_inputs"):
        ifx_torch.optimize(nn.Hardswish().eval(), frontend="export")
    with pytest.raises(ValueError, match="frontend must be 'torchscript' or 'export'"):
        ifx_torch.optimize(nn.Hardswish().eval(), frontend="dynamo")
    with pytest.raises(RuntimeError, match="training mode"):
        ifx_torch.optimize(nn.BatchNorm2d(3).train(), (torch.randn(2, 3, 4, 4),), frontend="export")


# --- the result: graph replay, report, and no torch.jit ----------------------------------------------------

def test_graph_replay_captures_per_batch_size():
    from test_graph_replay import RecomputingBackend
    model = squeeze.InBlock(squeeze.ConvSE()).eval()
    exported = ifx_torch.optimize(model, (torch.randn(2, 8, 7, 5),), frontend="export")
    backend = RecomputingBackend()
    runner = ifx_torch.CudaGraphModule(exported, backend=backend)
    with torch.no_grad():
        for batch in (1, 3, 1, 3):
            x = torch.randn(batch, 8, 7, 5)
            torch.testing.assert_close(runner(x), model(x), rtol=1e-5, atol=1e-5)
    assert backend.captures == 2 and runner.captured_graphs == 2
    report = ifx_torch.report(runner)
    assert report.graph_replay and report.captured_graphs == 2 and report.fused["squeeze_excite"] == 1
    with pytest.raises(ValueError, match="cuda_graphs=True needs a model on a CUDA device"):
        ifx_torch.optimize(model, (torch.randn(2, 8, 7, 5),), frontend="export", cuda_graphs=True)


def test_optimized_module_is_for_inference():
    exported = ifx_torch.optimize(nn.Hardswish().eval(), (torch.randn(2, 3),), frontend="export")
    assert not exported.training and exported.eval() is exported
    with pytest.raises(RuntimeError, match="for inference"):
        exported.train()


def _refuse_torch_jit(monkeypatch):
    def refuse(name):
        def call(*args, **kwargs):
            raise AssertionError(f"torch.jit.{name} was called on the export path")
        return call
    for name in ("script", "trace", "trace_module", "freeze", "save", "load", "optimize_for_inference"):
        monkeypatch.setattr(torch.jit, name, refuse(name))
    monkeypatch.setattr(torch.jit._recursive, "wrap_cpp_module", refuse("_recursive.wrap_cpp_module"))


def test_export_path_makes_no_torch_jit_call(monkeypatch):
    _refuse_torch_jit(monkeypatch)
    model = squeeze.InBlock(squeeze.MeanSE()).eval()
    x = torch.randn(2, 8, 7, 5)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=optimize_module._TORCH_JIT_NOTICE, category=DeprecationWarning)
        warnings.filterwarnings("error", message=optimize_module._TORCH_JIT_NOTICE, category=FutureWarning)
        exported = ifx_torch.optimize(model, (x,), frontend="export")
        report = ifx_torch.report(exported)
        explanation = ifx_torch.explain(model, (x,), frontend="export")
        with torch.no_grad():
            torch.testing.assert_close(exported(x), model(x), rtol=1e-5, atol=1e-5)
    assert report.fused["squeeze_excite"] == 1 and explanation.fused == report.fused


# --- the TorchScript path's notices ---------------------------------------------------------------------------

def _torch_2_14_script(real_script):
    """torch.jit.script as torch 2.14 behaves: a FutureWarning on every call."""
    def script(*args, **kwargs):
        warnings.warn("`torch.jit.script` is deprecated. Please switch to `torch.compile` or `torch.export`.",
                      FutureWarning, stacklevel=2)
        return real_script(*args, **kwargs)
    return script


def test_torchscript_path_warns_once_in_its_own_words(monkeypatch):
    monkeypatch.setattr(optimize_module, "_warned_torchscript", False)  # as in a fresh process
    monkeypatch.setattr(torch.jit, "script", _torch_2_14_script(torch.jit.script))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            ifx_torch.optimize(spellings.ReluSixChain().eval())
    ours = [w for w in caught if str(w.message).startswith("ifx_torch: the TorchScript front end")]
    assert len(ours) == 1 and ours[0].category is FutureWarning
    assert "frontend='export'" in str(ours[0].message) and "ifx_torch.save_package" in str(ours[0].message)
    assert ours[0].filename == __file__  # it points at the caller's line
    torchs = [w for w in caught if re.match(optimize_module._TORCH_JIT_NOTICE, str(w.message))
              and w not in ours]
    assert torchs == [], [str(w.message) for w in torchs]


def test_torchscript_path_passes_other_warnings_on(monkeypatch):
    monkeypatch.setattr(optimize_module, "_warned_torchscript", True)
    model = explain_cases.NearMisses().eval()

    def script(*args, **kwargs):
        warnings.warn("something else about this model", UserWarning)
        raise RuntimeError("cannot script")
    monkeypatch.setattr(torch.jit, "script", script)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ifx_torch.optimize(model, example_inputs=(_image(),))  # falls back to tracing, which says so
    messages = [str(w.message) for w in caught]
    assert "something else about this model" in messages
    assert any("tracing it with example_inputs instead" in m for m in messages)


@pytest.mark.parametrize("route", ["register_fake", "fake_impl_holder"])
def test_fused_graph_exports_with_a_symbolic_batch_and_the_meta_kernels_come_back(route, monkeypatch):
    """The fused graph re-exports (as save_package does) with the batch symbolic, through both ways
    of putting the symbolic fake kernels over the C++ Meta kernels: torch 2.13's register_fake, and
    the fake-kernel holder that torch 2.11 / 2.12 need; afterwards the C++ Meta kernels serve again."""
    from ifx_torch.export_frontend import fake_kernels, package
    if route == "fake_impl_holder":
        monkeypatch.setattr(fake_kernels, "_register_fake_can_override", lambda library: False)
    torch.manual_seed(0)
    model = layers._randomize_batchnorm(families.ResNeXtBottleneck()).double()
    exported = ifx_torch.optimize(model, (torch.randn(2, 32, 8, 8, dtype=torch.float64),), frontend="export")
    program = package.export_program(exported)
    user_inputs = set(program.graph_signature.user_inputs)
    inputs = [node for node in program.graph.nodes if node.op == "placeholder" and node.name in user_inputs]
    assert inputs and all(isinstance(node.meta["val"].shape[0], torch.SymInt) for node in inputs)
    assert any(node.op == "call_function" and str(node.target).startswith("ifx.conv2d_act") for node in program.graph.nodes)
    holder = torch._library.simple_registry.singleton.find("ifx::conv2d_act").fake_impl
    assert holder.kernel is None  # the Python fake kernel is gone again
    meta = torch.empty(3, 32, 8, 8, device="meta", dtype=torch.float64)
    weight = torch.empty(16, 32, 1, 1, device="meta", dtype=torch.float64)
    out = torch.ops.ifx.conv2d_act(meta, weight, None, [1, 1], [0, 0], [1, 1], 1, None, "relu")
    assert out.shape == (3, 16, 8, 8)


def test_optimized_module_records_autograd_only_for_inputs_as_a_frozen_module():
    # The graph reads the model's weights; recording their ops on every call kept each
    # intermediate alive (in a replayed CUDA graph too). As with TorchScript's frozen constants,
    # only an input that requires grad is differentiated.
    model = layers.MODELS["resnet18"]().eval().double()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    assert all(p.requires_grad for p in model.parameters())
    exported = ifx_torch.optimize(model, (x,), frontend="export")
    weights = list(exported.graph_module.parameters()) + list(exported.graph_module.buffers())
    assert weights and not any(w.requires_grad for w in weights)
    out = exported(x)
    assert not out.requires_grad and out.grad_fn is None
    ours, eager = x.clone().requires_grad_(), x.clone().requires_grad_()
    exported(ours).sum().backward()
    # The user's model is not touched: its parameters still require grad, and got none from us.
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    model(eager).sum().backward()
    torch.testing.assert_close(ours.grad, eager.grad)


def test_tied_weights_are_detached_without_a_copy():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.second = nn.Linear(6, 6), nn.Linear(6, 6)
            self.second.weight = self.first.weight  # one parameter under two names

        def forward(self, x):
            return self.second(torch.relu(self.first(x)))

    model = Tied().eval().double()
    x = torch.randn(3, 6, dtype=torch.float64)
    exported = ifx_torch.optimize(model, (x,), frontend="export")
    weights = [t for name, t in exported.graph_module.named_buffers() if name.endswith("weight")]
    assert len(weights) == 1 and not weights[0].requires_grad  # export reads the tied weight once
    assert weights[0].data_ptr() == model.first.weight.data_ptr()  # the same memory, not a copy
    assert model.first.weight.requires_grad and model.second.weight is model.first.weight
    torch.testing.assert_close(exported(x), model(x))
