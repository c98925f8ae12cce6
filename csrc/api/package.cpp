// ifx_torch::load_package: an AOTInductor package (.pt2) written by Python's
// ifx_torch.save_package, run through torch::inductor::AOTIModelPackageLoader.
// The package's wrapper calls the ifx ops by name through the dispatcher (its
// proxy executor), so they resolve in this library's registrations.
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <mutex>
#include <string>
#include <vector>

#include "ifx_torch/ifx_torch.h"

namespace ifx_torch {
namespace {

constexpr const char* kModelName = "model";  // the name aoti_compile_and_package gives the model
constexpr const char* kReportKey = "ifx_torch.report";
constexpr const char* kOpsKey = "ifx_torch.ops";
constexpr const char* kHowToLoad =
    "load the op library first: link (or dlopen, or LD_PRELOAD) libifx_torch.so in C++, `import ifx_torch` in "
    "Python, before loading the package";
// What AOTInductor's proxy executor says when the package calls an op nobody registered.
constexpr const char* kUnknownOp = "Could not find schema for ";

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string value_or(const std::unordered_map<std::string, std::string>& map, const std::string& key,
                     const std::string& fallback) {
  const auto found = map.find(key);
  return found == map.end() ? fallback : found->second;
}

}  // namespace

std::vector<at::Tensor> Package::operator()(const std::vector<at::Tensor>& inputs) const {
  TORCH_CHECK(loader_ != nullptr, "ifx_torch::Package: not loaded (use ifx_torch::load_package)");
  const std::lock_guard<std::mutex> turn(*run_turn_);
  return loader_->run(inputs);
}

std::string Package::report_json() const { return value_or(metadata_, kReportKey, ""); }

Package load_package(const std::string& path, const c10::Device& device) {
  Package package;
  try {
    package.metadata_ = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path, kModelName);
  } catch (const std::exception& error) {
    TORCH_CHECK(false, "ifx_torch::load_package: could not read ", path, " as an AOTInductor package (.pt2): ",
                first_line(error.what()));
  }
  const std::string compiled_for = value_or(package.metadata_, "AOTI_DEVICE_KEY", "cpu");
  TORCH_CHECK(c10::Device(compiled_for).type() == device.type(), "ifx_torch::load_package: ", path,
              " was compiled for ", compiled_for, " and runs there only, not on ", device.str(),
              " (save it from a model on that device)");
  const c10::DeviceIndex index = device.has_index() ? device.index() : -1;
  // The single-threaded runner: the thread-aware one asks the GPU whether the previous run finished
  // (cudaEventQuery), which a stream being captured into a CUDA graph does not permit, so graph
  // replay could never capture a package. Package::operator() serializes the calls instead.
  try {
    package.loader_ = std::make_shared<torch::inductor::AOTIModelPackageLoader>(path, kModelName,
                                                                                /*run_single_threaded=*/true,
                                                                                /*num_runners=*/1, index);
  } catch (const std::exception& error) {
    const std::string what = first_line(error.what());
    const auto at = what.find(kUnknownOp);
    if (at == std::string::npos) throw;
    std::string op = what.substr(at + std::string(kUnknownOp).size());
    if (!op.empty() && op.back() == '.') op.pop_back();
    TORCH_CHECK(false, "ifx_torch::load_package: ", path, " calls ", op,
                ", which no library loaded in this process registers (ops it calls: ",
                value_or(package.metadata_, kOpsKey, "?"), "): ", kHowToLoad,
                ". A libifx_torch that lacks one of them is older than the package. AOTInductor said: ", what);
  }
  package.device_ = device;
  return package;
}

}  // namespace ifx_torch
