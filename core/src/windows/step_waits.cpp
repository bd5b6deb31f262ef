// step_waits.cpp - what a caller's loop waits on between steps (Windows):
// the event of the read or write a pass left in flight on each open pipe
// (the pump starts one on every open pipe before it returns pending).
#include "step_waits.hpp"

#include "pipe_ops.hpp"

namespace safeexec::detail {

std::vector<WaitItem> step_wait_set(ProcessState& s) {
  std::vector<WaitItem> w;
  if (!s.pipe_ops) return w;
  for (std::size_t i = 0; i < s.pipe_ops->ops.size(); ++i) {
    const win::PipeOp& op = s.pipe_ops->ops[i];
    if (op.is_open() && op.pending) w.push_back({op.event.get(), i != 0, i == 0});
  }
  return w;
}

}  // namespace safeexec::detail
