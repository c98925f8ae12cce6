// ifx_consumer MODEL.pt OUT.pt SEED N C H W: runs MODEL on torch::randn after
// torch::manual_seed(SEED) and saves the output for torch.load.
#include <torch/script.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: ifx_consumer MODEL.pt OUT.pt SEED N C H W\n";
    return 2;
  }
  try {
    torch::jit::Module model = torch::jit::load(argv[1]);
    torch::manual_seed(std::stoull(argv[3]));
    const torch::Tensor x = torch::randn({std::stol(argv[4]), std::stol(argv[5]), std::stol(argv[6]), std::stol(argv[7])});
    const torch::NoGradGuard no_grad;
    const std::vector<char> bytes = torch::pickle_save(model.forward({x}));
    std::ofstream(argv[2], std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  } catch (const std::exception& error) {
    std::cerr << "ifx_consumer: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
