// A libtorch program that knows nothing of ifx_torch, as a model server is:
//   ifx_plain_loader MODEL.pt INPUT.pt OUTPUT.pt
// loads a TorchScript file, runs it on one tensor saved by Python's torch.save
// and writes the output with torch::pickle_save. Models that call ifx:: ops run
// only when the op library is preloaded (LD_PRELOAD=libifx_torch.so), which is
// how Triton's libtorch backend takes custom ops.
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/script.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

namespace {

std::vector<char> read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot read ") + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: ifx_plain_loader MODEL.pt INPUT.pt OUTPUT.pt\n";
    return 2;
  }
  try {
    torch::jit::Module model = torch::jit::load(argv[1]);
    const at::Tensor input = torch::jit::pickle_load(read_file(argv[2])).toTensor();
    torch::NoGradGuard no_grad;
    const c10::IValue output = model.forward({input});
    const std::vector<char> bytes = torch::jit::pickle_save(output);
    std::ofstream(argv[3], std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  } catch (const std::exception& error) {
    std::cerr << "ifx_plain_loader: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
