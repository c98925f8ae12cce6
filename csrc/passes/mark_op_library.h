// Contract: when the graph calls any ifx:: op, puts one call of
// ifx::needs_op_library("<how to load the library>") at its start (none if
// one is there already), so that loading the saved model without the library
// fails with instructions instead of only "Unknown builtin op". Run it last:
// the call has no outputs and dead-code elimination removes it. Returns
// whether it inserted the call.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

namespace ifx::passes {

extern const char* const kHowToLoadOpLibrary;

bool MarkOpLibrary(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace ifx::passes
