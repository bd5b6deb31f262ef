// pipe_ops.cpp - the overlapped operations a Windows handle keeps
// (pipe_ops.hpp).
#include "pipe_ops.hpp"

#include <memory>

#include "process_state.hpp"
#include "safeexec/errors.hpp"

namespace safeexec::detail::win {

DWORD PipeOp::cancel() noexcept {
  DWORD n = 0;
  if (pending) {
    (void)::CancelIoEx(h(), &ov);
    if (!::GetOverlappedResult(h(), &ov, &n, TRUE)) n = 0;
    pending = false;
  }
  return n;
}

void PipeOp::close() noexcept {
  (void)cancel();
  close_int_handle(*handle);
}

void PipeOps::cancel_all() noexcept {
  for (PipeOp& op : ops) {
    if (op.is_open()) (void)op.cancel();
  }
}

PipeOps& pipe_ops(ProcessState& s) {
  if (s.pipe_ops) return *s.pipe_ops;
  auto made = std::make_unique<PipeOps>();
  int* slots[3] = {&s.stdin_fd, &s.stdout_fd, &s.stderr_fd};
  for (std::size_t i = 0; i < made->ops.size(); ++i) {
    PipeOp& op = made->ops[i];
    op.handle = slots[i];
    op.event = UniqueHandle(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    if (!op.event) throw IoError("CreateEvent for the I/O loop failed", int(::GetLastError()));
    op.ov.hEvent = op.event.get();
  }
  made->ops[1].buf.resize(64 * 1024);
  made->ops[2].buf.resize(64 * 1024);
  s.pipe_ops = std::move(made);
  return *s.pipe_ops;
}

}  // namespace safeexec::detail::win
