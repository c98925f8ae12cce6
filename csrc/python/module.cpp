// ifx_torch._C: the Python face of the C++ library. Importing it registers the
// ifx:: ops (their static registrations are linked into this module).
#include <torch/csrc/jit/python/pybind_utils.h>
#include <torch/extension.h>

#include "ifx_torch/ifx_torch.h"
#include "passes/pipeline.h"

namespace {

torch::jit::Module optimize_module(const torch::jit::Module& module, bool fuse_aten_activations, bool fuse_layers) {
  ifx_torch::OptimizeOptions options;
  options.fuse_aten_activations = fuse_aten_activations;
  options.fuse_layers = fuse_layers;
  return ifx_torch::optimize(module, options);
}

std::map<std::string, int64_t> run_pipeline(const std::shared_ptr<torch::jit::Graph>& graph,
                                            bool fuse_aten_activations, bool fuse_layers) {
  return ifx::passes::RunPipeline(graph, {fuse_aten_activations, fuse_layers});
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "ifx_torch native library: fused ops and TorchScript passes";
  m.def("optimize", &optimize_module, pybind11::arg("module"), pybind11::arg("fuse_aten_activations") = true,
        pybind11::arg("fuse_layers") = true,
        "Freeze an eval-mode torch._C.ScriptModule and run the fusion passes (C++ ifx_torch::optimize).");
  m.def("report_json", &ifx_torch::report_json, pybind11::arg("module"),
        "The JSON report attached by optimize, or '' if there is none.");
  m.def("run_pipeline", &run_pipeline, pybind11::arg("graph"), pybind11::arg("fuse_aten_activations") = true,
        pybind11::arg("fuse_layers") = true,
        "Run the fusion passes on a torch._C.Graph in place; returns fused counts per pattern.");
  m.def("enable_auto_fusion", &ifx_torch::enable_auto_fusion,
        "Plugin mode: run the ifx passes inside TorchScript's graph executor.");
  m.def("disable_auto_fusion", &ifx_torch::disable_auto_fusion, "Turn plugin mode off again.");
  m.def("auto_fusion_enabled", &ifx_torch::auto_fusion_enabled, "Whether plugin mode is on.");
  m.def("op_histogram", &ifx_torch::op_histogram, pybind11::arg("graph"),
        "Count the aten:: and ifx:: nodes of a torch._C.Graph by kind.");
}
