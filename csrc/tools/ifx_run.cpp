// ifx_run: load a TorchScript file, optionally optimize it with ifx_torch, or an
// AOTInductor package (.pt2) that ifx_torch.save_package wrote; run it on seeded
// random inputs and print its outputs and latency.
//
//   ifx_run model.pt|model.pt2 (--shape 1,3,224,224 [--shape ...] | --input inputs.pt) [--optimize]
//           [--device cpu|cuda] [--dtype float32|float16|bfloat16|float64] [--seed N] [--iters N]
//           [--warmup N] [--save-output out.pt] [--save-optimized opt.pt] [--no-tf32] [--cuda-graphs]
//           [--auto-fusion]
//
// --cuda-graphs runs the model through ifx_torch::CudaGraphModule (graph replay on CUDA; a
// package through its GraphCall constructor).
// A .pt2 is loaded with ifx_torch::load_package onto --device (it must be the device type the
// package was compiled for); --optimize, --save-optimized and --auto-fusion apply to
// TorchScript files only. Its outputs print as a TorchScript model's do (one tensor: "output").
// --auto-fusion turns on plugin mode (ifx_torch::enable_auto_fusion) and prints the
// ops of the graph TorchScript's executor last ran.
// Inputs are torch::randn(shape) after torch::manual_seed(seed), drawn on the
// CPU, so Python reproduces them with torch.manual_seed(seed); torch.randn(shape).
// --input instead reads them from a file written by Python's torch.save (a CPU
// tensor, or a tuple or list of them) and uses them as they are: dtype and strides
// (channels_last) kept, --dtype not applied, only moved to --device. That is how
// a comparison with Python runs both on identical inputs in any dtype and layout.
// --save-output writes the outputs with torch::pickle_save (torch.load reads it).
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ifx_torch/cuda_graph_module.h"
#include "ifx_torch/ifx_torch.h"

namespace {

struct Options {
  std::string model_path;
  std::vector<std::vector<int64_t>> shapes;
  std::string input_path;
  bool optimize = false;
  std::string device = "cpu";
  std::string dtype = "float32";
  uint64_t seed = 0;
  int iters = 20;
  int warmup = 3;
  std::string save_output;
  std::string save_optimized;
  bool no_tf32 = false;
  bool cuda_graphs = false;  // full fp32 convs/matmuls on CUDA instead of libtorch's defaults
  bool auto_fusion = false;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "ifx_run: " << message << "\n"
            << "usage: ifx_run MODEL.pt|MODEL.pt2 (--shape 1,3,224,224 [--shape ...] | --input INPUTS.pt) [--optimize]\n"
            << "               [--device cpu|cuda] [--dtype float32|float16|bfloat16|float64] [--seed N] [--iters N]\n"
            << "               [--warmup N] [--save-output OUT.pt] [--save-optimized OPT.pt] [--no-tf32]\n"
            << "               [--cuda-graphs] [--auto-fusion]\n";
  std::exit(2);
}

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    try {
      size_t used = 0;
      const long long dim = std::stoll(item, &used);
      if (used != item.size() || dim < 0) throw std::invalid_argument(item);
      shape.push_back(dim);
    } catch (const std::exception&) {
      usage_error("bad --shape '" + text + "': expected comma-separated non-negative integers");
    }
  }
  if (shape.empty()) usage_error("empty --shape");
  return shape;
}

int parse_count(const std::string& flag, const std::string& text) {
  try {
    size_t used = 0;
    const int value = std::stoi(text, &used);
    if (used == text.size() && value >= 0) return value;
  } catch (const std::exception&) {
  }
  usage_error("bad " + flag + " '" + text + "': expected a non-negative integer");
}

bool is_package(const std::string& path) {
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".pt2") == 0;
}

// A package's outputs as a TorchScript model would return them: one tensor, or a tuple.
torch::IValue package_output(std::vector<torch::Tensor> outputs) {
  if (outputs.size() == 1) return outputs.front();
  return c10::ivalue::Tuple::create(std::vector<torch::IValue>(outputs.begin(), outputs.end()));
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--shape") options.shapes.push_back(parse_shape(value()));
    else if (arg == "--input") options.input_path = value();
    else if (arg == "--optimize") options.optimize = true;
    else if (arg == "--device") options.device = value();
    else if (arg == "--dtype") options.dtype = value();
    else if (arg == "--seed") options.seed = static_cast<uint64_t>(parse_count(arg, value()));
    else if (arg == "--iters") options.iters = parse_count(arg, value());
    else if (arg == "--warmup") options.warmup = parse_count(arg, value());
    else if (arg == "--save-output") options.save_output = value();
    else if (arg == "--save-optimized") options.save_optimized = value();
    else if (arg == "--no-tf32") options.no_tf32 = true;
    else if (arg == "--cuda-graphs") options.cuda_graphs = true;
    else if (arg == "--auto-fusion") options.auto_fusion = true;
    else if (arg == "-h" || arg == "--help") usage_error("help");
    else if (!arg.empty() && arg[0] == '-') usage_error("unknown option " + arg);
    else if (options.model_path.empty()) options.model_path = arg;
    else usage_error("more than one model path given");
  }
  if (options.model_path.empty()) usage_error("no model path given");
  if (options.shapes.empty() && options.input_path.empty()) usage_error("give at least one --shape, or --input");
  if (!options.shapes.empty() && !options.input_path.empty()) usage_error("give --shape or --input, not both");
  if (is_package(options.model_path) && (options.optimize || !options.save_optimized.empty() || options.auto_fusion)) {
    usage_error("--optimize, --save-optimized and --auto-fusion apply to TorchScript files; a .pt2 package is "
                "optimized already (ifx_torch.save_package)");
  }
  return options;
}

torch::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return torch::kFloat;
  if (name == "float16") return torch::kHalf;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float64") return torch::kDouble;
  usage_error("unknown --dtype " + name);
}

// The tensors of a torch.save file (a tensor, or a tuple or list of tensors), as
// they are, moved to the device (Tensor::to keeps strides: channels_last stays).
std::vector<torch::jit::IValue> load_inputs(const std::string& path, const torch::Device& device) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("could not read --input " + path);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const torch::IValue saved = torch::pickle_load(bytes);
  std::vector<torch::IValue> values;
  if (saved.isTuple()) {
    values = saved.toTupleRef().elements().vec();
  } else if (saved.isList()) {
    values = saved.toList().vec();
  } else {
    values.push_back(saved);
  }
  std::vector<torch::jit::IValue> inputs;
  for (const auto& value : values) {
    if (!value.isTensor()) {
      throw std::runtime_error("--input " + path + ": expected a tensor or a tuple or list of tensors, found " +
                               value.tagKind());
    }
    inputs.emplace_back(value.toTensor().to(device));
  }
  if (inputs.empty()) throw std::runtime_error("--input " + path + " holds no tensors");
  return inputs;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? 0 : device.index());
}

void print_tensor_summary(const std::string& name, const torch::Tensor& t) {
  const torch::Tensor values = t.detach().to(torch::kCPU, torch::kDouble);
  std::cout << name << ": shape " << t.sizes() << " dtype " << t.dtype();
  if (values.numel() > 0) {
    std::cout << " sum " << values.sum().item<double>() << " mean " << values.mean().item<double>()
              << " first [";
    const torch::Tensor flat = values.flatten();
    for (int64_t i = 0; i < std::min<int64_t>(5, flat.numel()); ++i) {
      std::cout << (i ? ", " : "") << flat[i].item<double>();
    }
    std::cout << "]";
  }
  std::cout << "\n";
}

void print_outputs(const torch::IValue& output) {
  if (output.isTensor()) {
    print_tensor_summary("output", output.toTensor());
  } else if (output.isTuple()) {
    const auto& elements = output.toTupleRef().elements();
    for (size_t i = 0; i < elements.size(); ++i) {
      if (elements[i].isTensor()) print_tensor_summary("output[" + std::to_string(i) + "]", elements[i].toTensor());
    }
  } else {
    std::cout << "output: " << output.tagKind() << "\n";
  }
}

}  // namespace

// The ops of the graph TorchScript's executor optimized and ran last, as JSON.
void print_executed_ops() {
  const auto graph = torch::jit::lastExecutedOptimizedGraph();
  if (!graph) {
    std::cout << "executed graph ops: none (the executor has not optimized a graph yet)\n";
    return;
  }
  std::string text;
  for (const auto& [kind, count] : ifx_torch::op_histogram(graph)) {
    text += (text.empty() ? "" : ", ") + ("\"" + kind + "\": " + std::to_string(count));
  }
  std::cout << "executed graph ops: {" << text << "}\n";
}

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  try {
    const torch::Device device(options.device);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      std::cerr << "ifx_run: --device " << options.device << " asked for, but no CUDA device is available\n";
      return 2;
    }
    if (options.no_tf32) {
      at::globalContext().setAllowTF32CuDNN(false);
      at::globalContext().setAllowTF32CuBLAS(false);
    }
    const torch::NoGradGuard no_grad;
    if (options.auto_fusion) ifx_torch::enable_auto_fusion();
    // Loading onto the device also moves a frozen model's weights, which are
    // constants that Module::to() leaves where they are.
    const bool package_file = is_package(options.model_path);
    std::optional<ifx_torch::Package> package;
    torch::jit::Module module;
    if (package_file) {
      package = ifx_torch::load_package(options.model_path, device);
      std::cout << "package loaded onto " << device << "; report "
                << package->report_json() << "\n";
    } else {
      module = torch::jit::load(options.model_path, device);
      module.eval();
    }
    if (options.optimize) {
      const auto start = std::chrono::steady_clock::now();
      module = ifx_torch::optimize(module);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      std::cout << "optimized in " << ms << " ms; report " << ifx_torch::report_json(module) << "\n";
      if (!options.save_optimized.empty()) module.save(options.save_optimized);
    }

    std::vector<torch::jit::IValue> inputs;
    if (!options.input_path.empty()) {
      inputs = load_inputs(options.input_path, device);
    } else {
      torch::manual_seed(options.seed);
      for (const auto& shape : options.shapes) {
        inputs.emplace_back(torch::randn(shape).to(device, parse_dtype(options.dtype)));
      }
    }

    // A package's call: the tensors in, its flattened outputs out.
    const ifx_torch::GraphCall run_package = [&package](const std::vector<torch::IValue>& args) {
      std::vector<torch::Tensor> tensors;
      for (const auto& arg : args) tensors.push_back(arg.toTensor());
      return package_output((*package)(tensors));
    };
    std::unique_ptr<ifx_torch::CudaGraphModule> runner =
        package_file ? std::make_unique<ifx_torch::CudaGraphModule>(run_package, ifx_torch::CudaGraphOptions{})
                     : std::make_unique<ifx_torch::CudaGraphModule>(module);
    auto forward = [&]() {
      if (options.cuda_graphs) return runner->forward(inputs);
      return package_file ? run_package(inputs) : module.forward(inputs);
    };

    torch::IValue output;
    for (int i = 0; i < options.warmup; ++i) output = forward();
    std::vector<double> latencies_ms;
    for (int i = 0; i < options.iters; ++i) {
      synchronize(device);
      const auto start = std::chrono::steady_clock::now();
      output = forward();
      synchronize(device);
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    if (options.iters == 0) output = forward();
    if (options.cuda_graphs) std::cout << "graph replay: " << runner->captured_graphs() << " signature(s) captured\n";
    if (options.auto_fusion) print_executed_ops();

    print_outputs(output);
    if (!latencies_ms.empty()) {
      std::sort(latencies_ms.begin(), latencies_ms.end());
      auto percentile = [&](double p) {
        return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<size_t>(p * latencies_ms.size()))];
      };
      std::cout << "latency over " << latencies_ms.size() << " runs (sync after each): p50 " << percentile(0.5)
                << " ms, p90 " << percentile(0.9) << " ms, p99 " << percentile(0.99) << " ms, min "
                << latencies_ms.front() << " ms\n";
      // Throughput: the same number of calls back to back, one sync at the end.
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < options.iters; ++i) output = forward();
      synchronize(device);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const torch::Tensor& first = inputs.front().toTensor();
      const int64_t batch = first.dim() > 0 ? first.size(0) : 1;
      std::cout << "throughput: " << (batch * options.iters) / seconds << " inputs/s (batch " << batch << ", "
                << options.iters << " calls back to back)\n";
    }
    if (!options.save_output.empty()) {
      const std::vector<char> bytes = torch::pickle_save(output);
      std::ofstream file(options.save_output, std::ios::binary);
      file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!file) {
        std::cerr << "ifx_run: could not write " << options.save_output << "\n";
        return 1;
      }
    }
  } catch (const c10::Error& error) {
    std::cerr << "ifx_run: " << error.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "ifx_run: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
