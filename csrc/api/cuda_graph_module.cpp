// The replay runner: signatures, the LRU cache, the fallback and the outputs.
// What a graph is and how it is captured is the backend's (cuda_graph_backend.cpp).
#include "ifx_torch/cuda_graph_module.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <list>
#include <mutex>
#include <utility>

namespace ifx_torch {
namespace {

// A call's arguments in the order they are walked: containers and non-tensor
// values as tokens, tensors by their metadata. Two calls with equal
// signatures can share a graph.
struct Token {
  enum class Kind : uint8_t { kTensor, kTuple, kList, kDict, kValue };
  Kind kind;
  size_t size = 0;    // containers: elements
  c10::IValue value;  // kValue: the value itself
  // kTensor
  std::vector<int64_t> sizes, strides;
  c10::ScalarType dtype = c10::ScalarType::Undefined;
  c10::Device device = c10::Device(c10::kCPU);
};

// Values a signature can hold and compare: what ints, floats, bools, strings
// and None arguments are. Anything else (objects, futures, ...) is not replayed.
bool is_plain_value(const c10::IValue& v) {
  return v.isNone() || v.isBool() || v.isInt() || v.isDouble() || v.isString() || v.isDevice();
}

bool same_plain_value(const c10::IValue& a, const c10::IValue& b) {
  if (a.tagKind() != b.tagKind()) return false;
  if (a.isNone()) return true;
  if (a.isBool()) return a.toBool() == b.toBool();
  if (a.isInt()) return a.toInt() == b.toInt();
  if (a.isDouble()) return a.toDouble() == b.toDouble();
  if (a.isString()) return a.toStringRef() == b.toStringRef();
  return a.toDevice() == b.toDevice();
}

// Appends `value`'s tokens and tensors; false when it holds something a
// signature cannot.
bool flatten(const c10::IValue& value, std::vector<Token>& tokens, std::vector<at::Tensor>& tensors) {
  Token token;
  if (value.isTensor()) {
    const at::Tensor& t = value.toTensor();
    token.kind = Token::Kind::kTensor;
    token.sizes = t.sizes().vec();
    token.strides = t.strides().vec();
    token.dtype = t.scalar_type();
    token.device = t.device();
    tokens.push_back(std::move(token));
    tensors.push_back(t);
    return true;
  }
  if (value.isTuple() || value.isList()) {
    const bool tuple = value.isTuple();
    const auto elements = tuple ? value.toTupleRef().elements().vec() : value.toListRef().vec();
    tokens.push_back({tuple ? Token::Kind::kTuple : Token::Kind::kList, elements.size()});
    for (const auto& element : elements) {
      if (!flatten(element, tokens, tensors)) return false;
    }
    return true;
  }
  if (value.isGenericDict()) {
    const auto dict = value.toGenericDict();
    tokens.push_back({Token::Kind::kDict, dict.size()});
    for (const auto& entry : dict) {
      if (!is_plain_value(entry.key())) return false;
      tokens.push_back({Token::Kind::kValue, 0, entry.key()});
      if (!flatten(entry.value(), tokens, tensors)) return false;
    }
    return true;
  }
  if (!is_plain_value(value)) return false;
  tokens.push_back({Token::Kind::kValue, 0, value});
  return true;
}

// Walks `value` against tokens[at...], collecting its tensors into `tensors`
// (cleared by the caller): the common call, with no allocation past the
// first and nothing hashed or printed.
bool matches(const c10::IValue& value, const std::vector<Token>& tokens, size_t& at, std::vector<at::Tensor>& tensors) {
  if (at >= tokens.size()) return false;
  const Token& token = tokens[at++];
  if (value.isTensor()) {
    if (token.kind != Token::Kind::kTensor) return false;
    const at::Tensor& t = value.toTensor();
    if (t.scalar_type() != token.dtype || t.device() != token.device || t.sizes() != at::IntArrayRef(token.sizes) ||
        t.strides() != at::IntArrayRef(token.strides)) {
      return false;
    }
    tensors.push_back(t);
    return true;
  }
  if (value.isTuple() || value.isList()) {
    const auto kind = value.isTuple() ? Token::Kind::kTuple : Token::Kind::kList;
    const c10::ArrayRef<c10::IValue> elements =
        value.isTuple() ? value.toTupleRef().elements() : value.toListRef();
    if (token.kind != kind || token.size != elements.size()) return false;
    for (const auto& element : elements) {
      if (!matches(element, tokens, at, tensors)) return false;
    }
    return true;
  }
  if (value.isGenericDict()) {
    const auto dict = value.toGenericDict();
    if (token.kind != Token::Kind::kDict || token.size != dict.size()) return false;
    for (const auto& entry : dict) {
      if (at >= tokens.size() || tokens[at].kind != Token::Kind::kValue ||
          !same_plain_value(entry.key(), tokens[at].value)) {
        return false;
      }
      ++at;
      if (!matches(entry.value(), tokens, at, tensors)) return false;
    }
    return true;
  }
  return token.kind == Token::Kind::kValue && is_plain_value(value) && same_plain_value(value, token.value);
}

// `value` with its tensors replaced, in walk order, by `replacements`.
c10::IValue rebuild(const c10::IValue& value, const std::vector<at::Tensor>& replacements, size_t& next) {
  if (value.isTensor()) return replacements[next++];
  if (value.isTuple()) {
    std::vector<c10::IValue> elements;
    for (const auto& element : value.toTupleRef().elements()) elements.push_back(rebuild(element, replacements, next));
    return c10::ivalue::Tuple::create(std::move(elements));
  }
  if (value.isList()) {
    auto list = value.toList().copy();
    for (size_t i = 0; i < list.size(); ++i) list.set(i, rebuild(list.get(i), replacements, next));
    return list;
  }
  if (value.isGenericDict()) {
    auto dict = value.toGenericDict().copy();
    for (auto& entry : dict) entry.setValue(rebuild(entry.value(), replacements, next));
    return dict;
  }
  return value;
}

// Outputs the caller owns: every tensor copied once, containers rebuilt.
c10::IValue fresh_copy(const c10::IValue& value) {
  if (value.isTensor()) return value.toTensor().clone();
  if (value.isTuple()) {
    std::vector<c10::IValue> elements;
    for (const auto& element : value.toTupleRef().elements()) elements.push_back(fresh_copy(element));
    return c10::ivalue::Tuple::create(std::move(elements));
  }
  if (value.isList()) {
    auto list = value.toList().copy();
    for (size_t i = 0; i < list.size(); ++i) list.set(i, fresh_copy(list.get(i)));
    return list;
  }
  if (value.isGenericDict()) {
    auto dict = value.toGenericDict().copy();
    for (auto& entry : dict) entry.setValue(fresh_copy(entry.value()));
    return dict;
  }
  return value;
}

bool walk(const std::vector<c10::IValue>& inputs, const std::vector<Token>& tokens, std::vector<at::Tensor>& tensors) {
  tensors.clear();
  size_t at = 0;
  for (const auto& input : inputs) {
    if (!matches(input, tokens, at, tensors)) return false;
  }
  return at == tokens.size();
}

// The first line of an error that says what failed: TorchScript puts its own
// header and a traceback before the op's error ("RuntimeError: ...").
std::string error_summary(const std::string& error) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= error.size()) {
    size_t end = error.find('\n', start);
    if (end == std::string::npos) end = error.size();
    const std::string line = error.substr(start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
    start = end + 1;
  }
  if (lines.empty()) return "unknown error";
  if (lines[0].rfind("The following operation failed in the TorchScript interpreter", 0) == 0) {
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(": ");
      if (colon == std::string::npos || colon == 0) continue;
      const std::string name = lines[i].substr(0, colon);
      const bool is_error_name = name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") ==
                                     std::string::npos &&
                                 (name.size() >= 5 && (name.compare(name.size() - 5, 5, "Error") == 0 ||
                                                       (name.size() >= 9 && name.compare(name.size() - 9, 9, "Exception") == 0)));
      if (is_error_name) return lines[i];
    }
  }
  return lines[0];
}

}  // namespace

std::string capture_failure_message(const std::string& error) {
  const std::string summary = error_summary(error);
  const std::string cause = summary.find("out of memory") != std::string::npos
                                ? "The warm-up and the graph's own memory pool need memory besides what the model uses "
                                  "without replay."
                                : "A host synchronisation (.item(), .cpu(), data-dependent control flow) inside the "
                                  "model is the usual cause.";
  return "ifx_torch: CUDA graph capture failed (" + summary + "); this input signature runs without graph replay. " +
         cause;
}

struct CudaGraphModule::Impl {
  std::optional<torch::jit::Module> module;
  GraphCall call;
  CudaGraphOptions options;
  std::shared_ptr<GraphBackend> backend;
  std::function<void(const std::string&)> warn;

  struct Entry {
    std::vector<Token> tokens;
    std::vector<at::Tensor> static_tensors;  // walk order
    std::vector<c10::IValue> static_inputs;
    CapturedGraph graph;  // no replay: the capture failed, run as it is
  };
  mutable std::mutex mutex;
  std::list<Entry> entries;          // most recently used first
  std::vector<at::Tensor> tensors;   // this call's tensors, reused across calls
  bool warned = false;

  // The entry for the call (moved to the front), or a new capture of it; null
  // when the call cannot be replayed at all.
  Entry* lookup_or_capture(const std::vector<c10::IValue>& inputs, c10::Device device) {
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      if (walk(inputs, it->tokens, tensors)) {
        if (it != entries.begin()) entries.splice(entries.begin(), entries, it);
        return &entries.front();
      }
    }
    Entry entry;
    tensors.clear();
    for (const auto& input : inputs) {
      if (!flatten(input, entry.tokens, tensors)) return nullptr;
    }
    capture(entry, inputs, device);
    entries.push_front(std::move(entry));
    if (entries.size() > options.max_graphs) entries.pop_back();  // its memory returns to the pool
    return &entries.front();
  }

  void capture(Entry& entry, const std::vector<c10::IValue>& inputs, c10::Device device) {
    try {
      // Static buffers are ordinary tensors, also when the caller is in inference mode.
      const c10::InferenceMode not_inference(false);
      const at::NoGradGuard no_grad;
      for (const at::Tensor& t : tensors) entry.static_tensors.push_back(t.clone());
      size_t next = 0;
      for (const auto& input : inputs) entry.static_inputs.push_back(rebuild(input, entry.static_tensors, next));
      entry.graph = backend->capture(call, entry.static_inputs, device, options.warmup_calls);
    } catch (const std::exception& error) {
      entry.graph = CapturedGraph{};  // keeps no buffers: after running out of memory, that memory is wanted back
      entry.static_tensors.clear();
      entry.static_inputs.clear();
      if (!warned) {
        warned = true;
        warn(capture_failure_message(error.what()));
      }
    }
  }

  c10::IValue replay(Entry& entry, c10::Device device) {
    const at::NoGradGuard no_grad;
    backend->before_replay(device);
    for (size_t i = 0; i < tensors.size(); ++i) entry.static_tensors[i].copy_(tensors[i]);
    entry.graph.replay();
    c10::IValue output = options.static_outputs ? entry.graph.static_output : fresh_copy(entry.graph.static_output);
    backend->after_replay(device);
    return output;
  }
};

CudaGraphModule::CudaGraphModule(torch::jit::Module module, CudaGraphOptions options)
    : CudaGraphModule(GraphCall(), options) {
  impl_->module = std::move(module);
  impl_->call = [m = *impl_->module](const std::vector<c10::IValue>& inputs) mutable { return m.forward(inputs); };
}

CudaGraphModule::CudaGraphModule(GraphCall call, CudaGraphOptions options, std::shared_ptr<GraphBackend> backend,
                                 std::function<void(const std::string&)> warn)
    : impl_(std::make_unique<Impl>()) {
  TORCH_CHECK(options.max_graphs >= 1, "ifx_torch::CudaGraphModule: max_graphs must be at least 1, got ",
              options.max_graphs);
  TORCH_CHECK(options.warmup_calls >= 1, "ifx_torch::CudaGraphModule: warmup_calls must be at least 1, got ",
              options.warmup_calls);
  impl_->call = std::move(call);
  impl_->options = options;
  impl_->backend = backend ? std::move(backend) : cuda_graph_backend();
  impl_->warn = warn ? std::move(warn) : [](const std::string& message) { TORCH_WARN(message); };
}

CudaGraphModule::~CudaGraphModule() = default;

c10::IValue CudaGraphModule::forward(const std::vector<c10::IValue>& inputs) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  // The most recent signature first, walked without allocating.
  Impl::Entry* entry = nullptr;
  if (!impl_->entries.empty() && walk(inputs, impl_->entries.front().tokens, impl_->tensors)) {
    entry = &impl_->entries.front();
  } else {
    impl_->tensors.clear();
    std::vector<Token> tokens;
    for (const auto& input : inputs) {
      if (!flatten(input, tokens, impl_->tensors)) {
        lock.unlock();
        return impl_->call(inputs);
      }
    }
  }
  const std::optional<c10::Device> device = impl_->backend->replay_device(impl_->tensors);
  if (!device) {
    lock.unlock();
    return impl_->call(inputs);
  }
  if (entry == nullptr) entry = impl_->lookup_or_capture(inputs, *device);
  if (entry == nullptr || !entry->graph.replay) {
    lock.unlock();
    return impl_->call(inputs);
  }
  return impl_->replay(*entry, *device);
}

size_t CudaGraphModule::captured_graphs() const {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  size_t count = 0;
  for (const auto& entry : impl_->entries) count += entry.graph.replay != nullptr;
  return count;
}

const CudaGraphOptions& CudaGraphModule::options() const { return impl_->options; }

torch::jit::Module& CudaGraphModule::module() {
  TORCH_CHECK(impl_->module.has_value(), "ifx_torch::CudaGraphModule: made from a call, not a module");
  return *impl_->module;
}

}  // namespace ifx_torch
