// ifx::needs_op_library: a no-op that an optimized graph calls first, so a
// saved model loaded without this library fails on a line that says how to
// load it (torch names the unknown op and prints the call with its argument).
// No tensors, so one catch-all kernel; the graph executor removes the call
// (no outputs, no side effects) before the first run.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(ifx, m) {
  m.def("needs_op_library(str how_to_load) -> ()", [](c10::string_view) {});
}
