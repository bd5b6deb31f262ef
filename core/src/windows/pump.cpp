// pump.cpp - the I/O pump on Windows: one thread, overlapped I/O on the
// parent's pipe ends, one WaitForMultipleObjects over stdin (write),
// stdout and stderr (read), the child's process handle and the deadline.
// Servicing all of them together is what prevents the deadlock of a parent
// blocked writing stdin while the child is blocked writing a full stdout
// (F09, F14). Every operation still pending when the pump returns is
// cancelled and waited for: its OVERLAPPED and buffer live on this stack.
#include <windows.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "process_access.hpp"
#include "safeexec/errors.hpp"
#include "win_util.hpp"

namespace safeexec::detail {
namespace {

using win::int_to_handle;
using win::UniqueHandle;

DWORD wait_ms(const std::optional<Deadline>& deadline) {
  if (!deadline) return INFINITE;
  const auto left = *deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<DWORD>(std::min<long long>(ms, 0x7FFFFFFF));
}

/// One overlapped operation on one pipe end.
struct Op {
  int* handle = nullptr;  ///< the Process's int slot; -1 once closed
  OVERLAPPED ov{};
  UniqueHandle event;
  bool pending = false;
  std::vector<char> buf;

  HANDLE h() const { return int_to_handle(*handle); }
  bool is_open() const { return handle != nullptr && *handle != -1; }
  /// Cancels a pending operation and waits until the system is done with
  /// `ov` and `buf`; returns the bytes it moved before the cancel.
  DWORD cancel() noexcept {
    DWORD n = 0;
    if (pending) {
      (void)::CancelIoEx(h(), &ov);
      if (!::GetOverlappedResult(h(), &ov, &n, TRUE)) n = 0;
      pending = false;
    }
    return n;
  }
  void close() noexcept {
    (void)cancel();
    win::close_int_handle(*handle);
  }
};

bool broken(DWORD e) {
  return e == ERROR_BROKEN_PIPE || e == ERROR_NO_DATA || e == ERROR_PIPE_NOT_CONNECTED;
}

}  // namespace

PumpResult ProcessAccess::pump(Process& p, const PumpRequest& req, Output& output) {
  PumpResult result;
  std::array<Op, 3> ops;  // stdin, stdout, stderr
  ops[0].handle = &p.stdin_fd_;
  ops[1].handle = &p.stdout_fd_;
  ops[2].handle = &p.stderr_fd_;
  std::string* sinks[3] = {nullptr, &output.out, &output.err};
  const char* names[3] = {"stdin", "stdout", "stderr"};
  for (Op& op : ops) {
    op.event = UniqueHandle(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    if (!op.event) throw IoError("CreateEvent for the I/O loop failed", int(::GetLastError()));
    op.ov.hEvent = op.event.get();
  }
  ops[1].buf.resize(64 * 1024);
  ops[2].buf.resize(64 * 1024);
  // Whatever happens below, nothing stays pending past this frame.
  struct CancelAll {
    std::array<Op, 3>& ops;
    ~CancelAll() {
      for (Op& op : ops) {
        if (op.is_open()) (void)op.cancel();
      }
    }
  } cancel_all{ops};

  std::size_t written = 0;
  if (ops[0].is_open() && req.input.empty()) ops[0].close();
  const bool child_known = p.process_handle_ != nullptr && p.status_.running();
  bool child_exited = !child_known;
  std::optional<Deadline> linger_until;

  // Appends what a finished read returned; false when past the cap.
  const auto take = [&](int i, DWORD n) -> bool {
    sinks[i]->append(ops[i].buf.data(), n);
    if (sinks[i]->size() > req.max_output_bytes) {
      result.end = PumpEnd::output_limit;
      result.overflowed_stream = names[i];
      return false;
    }
    return true;
  };

  for (;;) {
    // Start whatever is not in flight.
    if (ops[0].is_open() && !ops[0].pending) {
      const std::string_view rest = req.input.substr(written);
      const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(rest.size(), 1 << 20));
      (void)::ResetEvent(ops[0].ov.hEvent);
      if (::WriteFile(ops[0].h(), rest.data(), chunk, nullptr, &ops[0].ov) ||
          ::GetLastError() == ERROR_IO_PENDING) {
        ops[0].pending = true;
      } else if (broken(::GetLastError())) {
        ops[0].close();  // the child closed its stdin or exited: not our error
      } else {
        throw IoError("write to child's stdin failed", int(::GetLastError()));
      }
    }
    for (int i = 1; i <= 2; ++i) {
      Op& op = ops[i];
      if (!op.is_open() || op.pending) continue;
      const std::size_t room = req.max_output_bytes - sinks[i]->size();
      // One byte past the cap, so that exactly-at-cap is not an error.
      const DWORD want = static_cast<DWORD>(
          std::min<std::size_t>(op.buf.size(), room >= op.buf.size() ? op.buf.size() : room + 1));
      (void)::ResetEvent(op.ov.hEvent);
      if (::ReadFile(op.h(), op.buf.data(), want, nullptr, &op.ov) ||
          ::GetLastError() == ERROR_IO_PENDING) {
        op.pending = true;
      } else if (broken(::GetLastError())) {
        op.close();  // EOF
      } else {
        throw IoError(std::string("read from child's ") + names[i] + " failed",
                      int(::GetLastError()));
      }
    }

    std::array<HANDLE, 4> waits{};
    std::array<int, 4> which{};
    DWORD n = 0;
    for (int i = 0; i < 3; ++i) {
      if (ops[i].pending) {
        waits[n] = ops[i].ov.hEvent;
        which[n++] = i;
      }
    }
    if (n == 0) return result;  // every pipe done: eof
    if (!child_exited) {
      waits[n] = static_cast<HANDLE>(p.process_handle_);
      which[n++] = 3;
    }
    std::optional<Deadline> until = req.deadline;
    if (linger_until && (!until || *linger_until < *until)) until = linger_until;

    const DWORD r = ::WaitForMultipleObjects(n, waits.data(), FALSE, wait_ms(until));
    if (r == WAIT_TIMEOUT) {
      result.end =
          (req.deadline && Clock::now() >= *req.deadline) ? PumpEnd::deadline : PumpEnd::lingered;
      if (result.end == PumpEnd::lingered) {
        for (Op& op : ops) {
          if (op.is_open()) op.close();
        }
      }
      return result;
    }
    if (r >= WAIT_OBJECT_0 + n)
      throw IoError("wait on child's pipes failed", int(::GetLastError()));
    const int i = which[r - WAIT_OBJECT_0];
    if (i == 3) {
      // The child exited: its pipes may stay open in a grandchild, so read
      // them for at most the linger time; a write it will never read ends.
      child_exited = true;
      if (req.linger_after_exit) linger_until = Clock::now() + *req.linger_after_exit;
      if (ops[0].is_open()) ops[0].close();
      continue;
    }
    Op& op = ops[i];
    DWORD moved = 0;
    const BOOL ok = ::GetOverlappedResult(op.h(), &op.ov, &moved, FALSE);
    op.pending = false;
    if (!ok) {
      const DWORD e = ::GetLastError();
      if (!broken(e) && e != ERROR_OPERATION_ABORTED) {
        throw IoError(
            std::string(i == 0 ? "write to" : "read from") + " child's " + names[i] + " failed",
            int(e));
      }
      op.close();
      continue;
    }
    if (i == 0) {
      written += moved;
      if (written == req.input.size()) op.close();
    } else if (moved == 0) {
      // A zero-byte read on a byte-mode pipe: try again.
    } else if (!take(i, moved)) {
      return result;
    }
  }
}

}  // namespace safeexec::detail
