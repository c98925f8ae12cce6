// ifx_torch._C: the Python face of the C++ library. Importing it registers the
// ifx:: ops (their static registrations are linked into this module).
#include <algorithm>

#include <torch/csrc/jit/python/pybind_utils.h>
#include <torch/extension.h>

#ifdef IFX_TORCH_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/hopper_gemm.h"
#include "kernels/launch.h"
#include "ops/cudnn_graph_conv_cuda.h"
#include "ops/fused_kernels_cuda.h"
#endif

#include "ifx_torch/cuda_graph_module.h"
#include "ifx_torch/ifx_torch.h"
#include "kernels/activations.h"
#include "ops/conv2d_act.h"
#include "ops/kernel_choice.h"
#include "ops/linear_act.h"

namespace {

namespace py = pybind11;

// The table of csrc/kernels/activations.h: (name, ATen op) pairs.
std::vector<std::pair<std::string, std::string>> activations() {
  std::vector<std::pair<std::string, std::string>> table;
  for (const auto& info : ifx::kernels::kActivations) table.emplace_back(info.name, info.aten_op);
  return table;
}

template <typename Path> std::vector<std::string> names(const std::vector<Path>& paths) {
  std::vector<std::string> out;
  for (Path path : paths) out.emplace_back(ifx::ops::path_name(path));
  return out;
}

// (the rules' path for a CUDA call with these arguments under the override in
// force, every path that covers it). A call that tunes may take another of them.
std::pair<std::string, std::vector<std::string>> conv_paths(const at::Tensor& input, const at::Tensor& weight,
                                                            const std::optional<at::Tensor>& bias,
                                                            std::vector<int64_t> stride, std::vector<int64_t> padding,
                                                            std::vector<int64_t> dilation, int64_t groups,
                                                            const std::optional<at::Tensor>& residual,
                                                            const std::string& activation_name) {
  const ifx::ops::Conv2dParams params{stride, padding, dilation, groups};
  ifx::ops::check_conv2d_act_args(input, weight, bias, params);
  const auto activation = ifx::ops::parse_activation(activation_name, "ifx::conv2d_act");
  const auto call = ifx::ops::describe_conv2d_act(input, weight, bias, params, residual, activation,
                                                  ifx::ops::conv2d_output_size(input, weight, params));
  auto flags = ifx::ops::current_math_flags();
#ifdef IFX_TORCH_WITH_CUDA
  if (input.is_cuda()) flags = ifx::ops::cuda_math_flags(input);
#endif
  std::vector<ifx::ops::ConvPath> covering = ifx::ops::conv_paths_covering(call, flags);
#ifdef IFX_TORCH_WITH_CUDA
  if (input.is_cuda()) {
    // cudnn_graph covers a call only where cuDNN builds a plan for it, known by building one.
    const c10::cuda::CUDAGuard device_guard(input.device());
    covering.erase(std::remove_if(covering.begin(), covering.end(),
                                  [&](ifx::ops::ConvPath path) {
                                    return path == ifx::ops::ConvPath::kCudnnGraph &&
                                           !ifx::ops::cudnn_graph_conv_available(call, input);
                                  }),
                   covering.end());
  }
#endif
  return {ifx::ops::path_name(ifx::ops::choose_conv_path(call, flags, ifx::ops::current_override())),
          names(covering)};
}

std::pair<std::string, std::vector<std::string>> linear_paths(const at::Tensor& input, const at::Tensor& weight,
                                                              const std::optional<at::Tensor>& bias,
                                                              const std::string& activation_name) {
  ifx::ops::check_linear_act_args(input, weight, bias);
  const auto activation = ifx::ops::parse_activation(activation_name, "ifx::linear_act");
  const auto call = ifx::ops::describe_linear_act(input, weight, bias, activation);
  return {ifx::ops::path_name(ifx::ops::choose_linear_path(call, ifx::ops::current_override())),
          names(ifx::ops::linear_paths_covering(call))};
}

// Forces conv2d_act's and linear_act's paths (names of kernel_choice.h, ""
// for none), the pointwise policy and the squeeze-and-excitation gate kernel's
// (auto, always or never), process-wide; tests and benchmarks
// restore the environment's with reset_kernel_override.
void set_kernel_override(const std::string& conv_path, const std::string& linear_path, const std::string& pointwise,
                         const std::string& se_gate_kernel) {
  ifx::ops::KernelOverride override;
  if (!conv_path.empty()) {
    const auto path = ifx::ops::conv_path_named(conv_path);
    TORCH_CHECK(path.has_value(), "ifx_torch: unknown conv path '", conv_path, "'");
    override.conv = *path;
  }
  if (!linear_path.empty()) {
    const auto path = ifx::ops::linear_path_named(linear_path);
    TORCH_CHECK(path.has_value(), "ifx_torch: unknown linear path '", linear_path, "'");
    override.linear = *path;
  }
  override.pointwise = ifx::ops::kernel_policy_named(pointwise, "ifx_torch: pointwise");
  override.gate_kernel = ifx::ops::kernel_policy_named(se_gate_kernel, "ifx_torch: se_gate_kernel");
  ifx::ops::set_kernel_override(override);
}

// Python values as graph replay passes them, without pybind's IValue caster
// (its type inference is not exported by libtorch_python): tensors, the plain
// values a signature holds, and tuples / lists of them (as tuples).
c10::IValue to_ivalue(py::handle obj) {
  if (THPVariable_Check(obj.ptr())) return THPVariable_Unpack(obj.ptr());
  if (obj.is_none()) return c10::IValue();
  if (py::isinstance<py::bool_>(obj)) return obj.cast<bool>();
  if (py::isinstance<py::int_>(obj)) return obj.cast<int64_t>();
  if (py::isinstance<py::float_>(obj)) return obj.cast<double>();
  if (py::isinstance<py::str>(obj)) return obj.cast<std::string>();
  if (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj)) {
    std::vector<c10::IValue> elements;
    for (const auto& element : obj) elements.push_back(to_ivalue(element));
    return c10::ivalue::Tuple::create(std::move(elements));
  }
  TORCH_CHECK(false, "ifx_torch: graph replay passes tensors, numbers, strings, None and tuples of them, not ",
              std::string(py::str(obj.get_type().attr("__name__"))));
}

py::list to_python(const std::vector<c10::IValue>& values) {
  py::list list;
  for (const auto& value : values) list.append(torch::jit::toPyObject(value));
  return list;
}

// A GraphCall handed to Python: backend.capture(call, ...) calls it with a list.
struct PyGraphCall {
  ifx_torch::GraphCall call;
  py::object operator()(const py::list& inputs) const {
    std::vector<c10::IValue> values;
    for (const auto& input : inputs) values.push_back(to_ivalue(input));
    c10::IValue output;
    {
      py::gil_scoped_release no_gil;
      output = call(values);
    }
    return torch::jit::toPyObject(std::move(output));
  }
};

// GraphBackend with its methods written in Python (the CPU tests' stand-in for CUDA).
class PyGraphBackend : public ifx_torch::GraphBackend {
 public:
  std::optional<c10::Device> replay_device(const std::vector<at::Tensor>& tensors) override {
    PYBIND11_OVERRIDE_PURE(std::optional<c10::Device>, ifx_torch::GraphBackend, replay_device, tensors);
  }
  ifx_torch::CapturedGraph capture(const ifx_torch::GraphCall& call, const std::vector<c10::IValue>& static_inputs,
                                   c10::Device device, int warmup_calls) override {
    py::gil_scoped_acquire gil;
    const py::function method = py::get_override(static_cast<const ifx_torch::GraphBackend*>(this), "capture");
    TORCH_CHECK(method, "ifx_torch: a GraphBackend written in Python must define capture()");
    return method(PyGraphCall{call}, to_python(static_inputs), device, warmup_calls).cast<ifx_torch::CapturedGraph>();
  }
  void before_replay(c10::Device device) override {
    PYBIND11_OVERRIDE_PURE(void, ifx_torch::GraphBackend, before_replay, device);
  }
  void after_replay(c10::Device device) override {
    PYBIND11_OVERRIDE_PURE(void, ifx_torch::GraphBackend, after_replay, device);
  }
};

// ifx_torch::CudaGraphModule over a TorchScript module (whose forward C++
// calls without Python: the GIL is released for the whole call) or over a
// Python callable (called back with the GIL, on each plain run, warm-up and capture).
struct GraphRunner {
  std::optional<torch::jit::Module> module;
  std::optional<c10::FunctionSchema> schema;  // module's forward, looked up once
  // How many positional tensors a call of module's forward takes when every
  // argument but self is a plain Tensor: such calls skip the schema matching.
  std::optional<size_t> tensor_arguments;
  std::unique_ptr<ifx_torch::CudaGraphModule> runner;

  GraphRunner(std::optional<torch::jit::Module> scripted, ifx_torch::GraphCall call, size_t max_graphs,
              int warmup_calls, bool static_outputs, std::shared_ptr<ifx_torch::GraphBackend> backend,
              py::object warn)
      : module(std::move(scripted)) {
    if (module.has_value()) {
      schema = module->get_method("forward").function().getSchema();
      const auto& arguments = schema->arguments();
      const bool plain_tensors = std::all_of(arguments.begin() + 1, arguments.end(), [](const c10::Argument& a) {
        return a.type()->kind() == c10::TypeKind::TensorType && !a.kwarg_only();
      });
      if (plain_tensors) tensor_arguments = arguments.size() - 1;
    }
    ifx_torch::CudaGraphOptions options;
    options.max_graphs = max_graphs;
    options.warmup_calls = warmup_calls;
    options.static_outputs = static_outputs;
    std::function<void(const std::string&)> warn_call;
    if (!warn.is_none()) {
      warn_call = [warn](const std::string& message) {
        py::gil_scoped_acquire gil;
        warn(message);
      };
    }
    runner = std::make_unique<ifx_torch::CudaGraphModule>(std::move(call), options, std::move(backend),
                                                          std::move(warn_call));
  }

  py::object forward(const py::args& args, const py::kwargs& kwargs) {
    std::vector<c10::IValue> inputs;
    if (module.has_value()) {
      if (!take_tensors(args, kwargs, inputs)) {
        inputs = torch::jit::createStackForSchema(*schema, args, kwargs, module->_ivalue());
        inputs.erase(inputs.begin());  // self
      }
    } else {
      TORCH_CHECK(kwargs.empty(), "ifx_torch: a runner over a Python callable takes positional arguments only");
      for (const auto& arg : args) inputs.push_back(to_ivalue(arg));
    }
    c10::IValue output;
    {
      py::gil_scoped_release no_gil;
      output = runner->forward(inputs);
    }
    return torch::jit::toPyObject(std::move(output));
  }

  // The common call, `forward(x)` with tensors where the schema takes plain
  // tensors: the arguments as they are, without matching them to the schema
  // (which also gives the wrong count and the wrong types their errors).
  bool take_tensors(const py::args& args, const py::kwargs& kwargs, std::vector<c10::IValue>& inputs) const {
    if (!tensor_arguments || !kwargs.empty() || args.size() != *tensor_arguments) return false;
    for (const auto& arg : args) {
      if (!THPVariable_Check(arg.ptr())) return false;
    }
    inputs.reserve(args.size());
    for (const auto& arg : args) inputs.emplace_back(THPVariable_Unpack(arg.ptr()));
    return true;
  }
};

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "ifx_torch native library: fused ops and TorchScript passes";
  py::class_<ifx_torch::OptimizeOptions> options(m, "OptimizeOptions",
                                                 "ifx_torch::OptimizeOptions: what optimize fuses (ifx_torch.h).");
  py::enum_<ifx_torch::OptimizeOptions::Layout>(options, "Layout")
      .value("auto", ifx_torch::OptimizeOptions::Layout::kAuto)
      .value("channels_last", ifx_torch::OptimizeOptions::Layout::kChannelsLast)
      .value("keep", ifx_torch::OptimizeOptions::Layout::kKeep);
  options.def(py::init<>())
      .def_readwrite("fuse_aten_activations", &ifx_torch::OptimizeOptions::fuse_aten_activations)
      .def_readwrite("fuse_layers", &ifx_torch::OptimizeOptions::fuse_layers)
      .def_readwrite("fuse_squeeze_excitation", &ifx_torch::OptimizeOptions::fuse_squeeze_excitation)
      .def_readwrite("conv_layout", &ifx_torch::OptimizeOptions::conv_layout);
  m.def("optimize", &ifx_torch::optimize, py::arg("module"), py::arg("options"),
        "Freeze an eval-mode torch._C.ScriptModule and run the fusion passes (C++ ifx_torch::optimize).");
  m.def("report_json", &ifx_torch::report_json, py::arg("module"),
        "The JSON report attached by optimize, or '' if there is none.");
  m.def("enable_auto_fusion", &ifx_torch::enable_auto_fusion,
        "Plugin mode: run the ifx passes inside TorchScript's graph executor.");
  m.def("disable_auto_fusion", &ifx_torch::disable_auto_fusion, "Turn plugin mode off again.");
  m.def("auto_fusion_enabled", &ifx_torch::auto_fusion_enabled, "Whether plugin mode is on.");
  m.def("activations", &activations, "The fused activations: (name, ATen op) pairs, 'none' first.");
  m.def("last_kernel_path", &ifx::ops::last_path, py::arg("op"),
        "The path the last CUDA call of 'conv2d_act', 'linear_act', 'squeeze_excite' or 'max_pool2d' took on this thread.");
  m.def("conv_paths", &conv_paths, py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("residual"), py::arg("activation"),
        "(the rules' path for a CUDA conv2d_act call with these arguments, every path that covers it).");
  m.def("linear_paths", &linear_paths, py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("activation"),
        "(the rules' path for a CUDA linear_act call with these arguments, every path that covers it).");
  m.def("set_kernel_override", &set_kernel_override, py::arg("conv_path") = "", py::arg("linear_path") = "",
        py::arg("pointwise") = "auto", py::arg("se_gate_kernel") = "auto",
        "Force the kernel paths where they cover the call (process-wide).");
  py::class_<ifx_torch::CapturedGraph>(m, "CapturedGraph", "A captured call: its output buffers and its replay.")
      .def(py::init([](const py::object& static_output, py::function replay) {
             // The runner drops an evicted graph with the GIL released: the last
             // reference to the Python function goes with the GIL taken.
             std::shared_ptr<py::function> held(new py::function(std::move(replay)), [](py::function* f) {
               py::gil_scoped_acquire gil;
               delete f;
             });
             return ifx_torch::CapturedGraph{to_ivalue(static_output), [held] {
                                               py::gil_scoped_acquire gil;
                                               (*held)();
                                             }};
           }),
           py::arg("static_output"), py::arg("replay"));
  py::class_<PyGraphCall>(m, "GraphCall", "The call a GraphBackend captures: call(list of arguments).")
      .def("__call__", &PyGraphCall::operator());
  py::class_<ifx_torch::GraphBackend, PyGraphBackend, std::shared_ptr<ifx_torch::GraphBackend>>(
      m, "GraphBackend", "How graphs are captured and replayed (ifx_torch::GraphBackend); subclass to stand in.")
      .def(py::init<>());
  py::class_<GraphRunner>(m, "GraphRunner", "ifx_torch::CudaGraphModule: graph replay, one graph per signature.")
      .def(py::init([](const torch::jit::Module& module, size_t max_graphs, int warmup_calls, bool static_outputs,
                       std::shared_ptr<ifx_torch::GraphBackend> backend, py::object warn) {
             auto call = [forward = module](const std::vector<c10::IValue>& inputs) mutable {
               return forward.forward(inputs);
             };
             return std::make_unique<GraphRunner>(module, call, max_graphs, warmup_calls, static_outputs,
                                                  std::move(backend), std::move(warn));
           }),
           py::arg("module"), py::arg("max_graphs"), py::arg("warmup_calls"), py::arg("static_outputs"),
           py::arg("backend") = nullptr, py::arg("warn") = py::none())
      .def(py::init([](py::function function, size_t max_graphs, int warmup_calls, bool static_outputs,
                       std::shared_ptr<ifx_torch::GraphBackend> backend, py::object warn) {
             auto call = [function](const std::vector<c10::IValue>& inputs) {
               py::gil_scoped_acquire gil;
               py::tuple args(inputs.size());
               for (size_t i = 0; i < inputs.size(); ++i) args[i] = torch::jit::toPyObject(inputs[i]);
               return to_ivalue(function(*args));
             };
             return std::make_unique<GraphRunner>(std::nullopt, call, max_graphs, warmup_calls, static_outputs,
                                                  std::move(backend), std::move(warn));
           }),
           py::arg("function"), py::arg("max_graphs"), py::arg("warmup_calls"), py::arg("static_outputs"),
           py::arg("backend") = nullptr, py::arg("warn") = py::none())
      .def("forward", &GraphRunner::forward)
      .def_property_readonly("captured_graphs", [](const GraphRunner& r) { return r.runner->captured_graphs(); });
  m.def("capture_failure_message", &ifx_torch::capture_failure_message, py::arg("error"),
        "The warning a failed capture gives, for an error's text.");
  m.def("reset_kernel_override", &ifx::ops::reset_kernel_override,
        "Back to the environment's override (IFX_CONV_PATH, IFX_POINTWISE_KERNEL), if any.");
#ifdef IFX_TORCH_WITH_CUDA
  m.def("set_programmatic_launch", &ifx::kernels::set_programmatic_launch, py::arg("enabled"),
        "Whether ifx kernels launch with programmatic dependent launch (default off; IFX_PDL=1 turns it on). "
        "Graphs keep the setting they were captured with.");
  m.def("programmatic_launch", &ifx::kernels::programmatic_launch);
  m.def("hopper_gemm_available", &ifx::kernels::hopper_gemm_available,
        "Whether the current CUDA device runs the Hopper GEMM kernels (compute capability 9.0 and their sm_90a code in this build).");
#endif
}
