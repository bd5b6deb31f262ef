// pump.cpp - the I/O pump on Windows: one thread, overlapped I/O on the
// parent's pipe ends, one WaitForMultipleObjects over stdin (write),
// stdout and stderr (read), the child's process handle and the deadline.
// Servicing all of them together is what prevents the deadlock of a parent
// blocked writing stdin while the child is blocked writing a full stdout
// (F09, F14). The operations live on the handle (pipe_ops.hpp); every one
// still pending when a blocking pump returns is cancelled and waited for. A
// one_pass (step()) services what has completed, restarts it and returns
// with the operations in flight: their events are what the caller waits on.
#include <windows.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "pipe_ops.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "stream_delivery.hpp"
#include "win_util.hpp"

namespace safeexec::detail {
namespace {

using Op = win::PipeOp;

DWORD wait_ms(const std::optional<Deadline>& deadline) {
  if (!deadline) return INFINITE;
  const auto left = *deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<DWORD>(std::min<long long>(ms, 0x7FFFFFFF));
}

bool broken(DWORD e) {
  return e == ERROR_BROKEN_PIPE || e == ERROR_NO_DATA || e == ERROR_PIPE_NOT_CONNECTED;
}

}  // namespace

PumpResult ProcessAccess::pump(Process& p, const PumpRequest& req, PumpIo& io) {
  PumpResult result;
  ProcessState& s = state(p);
  std::array<Op, 3>& ops = win::pipe_ops(s).ops;  // stdin, stdout, stderr
  StreamDelivery* sinks[3] = {nullptr, &io.out(), &io.err()};
  const char* names[3] = {"stdin", "stdout", "stderr"};
  // Whatever happens below, nothing stays pending past a blocking call.
  struct CancelAll {
    win::PipeOps& ops;
    bool active;
    ~CancelAll() {
      if (active) ops.cancel_all();
    }
  } cancel_all{*s.pipe_ops, !req.one_pass};
  // A one_pass services at most this many completions: bounded work, and
  // a stream that never pauses cannot keep step() from returning.
  constexpr int kPassBudget = 4;
  int serviced = 0;

  // Input continues from where an earlier (timed-out) call stopped.
  InputFeed& input = io.in();
  if (ops[0].is_open() && !input.may_have_more()) ops[0].close();
  // Process::cancel() or the caller's token: its event joins the wait set.
  HANDLE cancel_event = s.cancel ? reinterpret_cast<HANDLE>(s.cancel->wake()) : nullptr;
  const bool child_known = s.process != nullptr && s.status.running();
  bool child_exited = !child_known;
  std::optional<Deadline> linger_until;

  // Delivers what a finished read returned; false when past the cap.
  const auto take = [&](int i, DWORD n) -> bool {
    if (!sinks[i]->deliver(ops[i].buf.data(), n)) {
      result.end = PumpEnd::output_limit;
      result.overflowed_stream = names[i];
      io.keep_capacity();
      return false;
    }
    return true;
  };
  // An output stream ends (EOF, or closed for good): its last line goes out.
  const auto end_stream = [&](int i) {
    ops[i].close();
    sinks[i]->finish();
  };
  // Stops every operation in flight, keeping what it moved before the
  // cancel (read bytes are output; written bytes advance the offset, so a
  // continued communicate() does not send them twice). False on overflow.
  const auto settle_all = [&]() -> bool {
    bool within = true;
    if (ops[0].pending) input.advance(ops[0].cancel());
    for (int i = 1; i <= 2; ++i) {
      if (!ops[i].pending) continue;
      const DWORD moved = ops[i].cancel();
      if (moved > 0 && within) within = take(i, moved);
    }
    return within;
  };
  // The child has exited and its pipes are still open (a grandchild holds
  // them): read what is already in them, then close them. eof when every
  // pipe reached EOF while draining, lingered when one had to be cut.
  const auto drain_and_close = [&]() -> PumpResult {
    if (!settle_all()) return result;
    if (ops[0].is_open()) ops[0].close();
    bool cut = false;
    for (int i = 1; i <= 2; ++i) {
      Op& op = ops[i];
      while (op.is_open()) {
        DWORD avail = 0;
        if (!::PeekNamedPipe(op.h(), nullptr, 0, nullptr, &avail, nullptr)) {
          if (!broken(::GetLastError())) cut = true;
          end_stream(i);  // EOF (or unreadable: cut)
          break;
        }
        if (avail == 0) {
          cut = true;
          end_stream(i);
          break;
        }
        const DWORD want = static_cast<DWORD>(std::min<std::size_t>(op.buf.size(), avail));
        (void)::ResetEvent(op.ov.hEvent);
        DWORD moved = 0;
        if (!::ReadFile(op.h(), op.buf.data(), want, nullptr, &op.ov) &&
            ::GetLastError() != ERROR_IO_PENDING) {
          if (!broken(::GetLastError())) cut = true;
          end_stream(i);
          break;
        }
        // The bytes are there: this completes at once.
        if (!::GetOverlappedResult(op.h(), &op.ov, &moved, TRUE)) {
          if (!broken(::GetLastError())) cut = true;
          end_stream(i);
          break;
        }
        if (moved > 0 && !take(i, moved)) return result;
      }
    }
    result.end = cut ? PumpEnd::lingered : PumpEnd::eof;
    return result;
  };

  for (;;) {
    if (cancel_event != nullptr && s.cancel->cancelled()) {
      io.keep_capacity();
      (void)settle_all();  // what was read stays in the output (CancelledError)
      return {PumpEnd::cancelled, nullptr};
    }
    // Start whatever is not in flight.
    if (ops[0].is_open() && !ops[0].pending) {
      // Stays valid until input.advance(): the write may be pending.
      const std::string_view rest = input.next();
      const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(rest.size(), 1 << 20));
      (void)::ResetEvent(ops[0].ov.hEvent);
      if (rest.empty()) {
        ops[0].close();  // the source said the input is over
      } else if (::WriteFile(ops[0].h(), rest.data(), chunk, nullptr, &ops[0].ov) ||
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
      const DWORD want = static_cast<DWORD>(sinks[i]->read_size(op.buf.size()));
      (void)::ResetEvent(op.ov.hEvent);
      if (::ReadFile(op.h(), op.buf.data(), want, nullptr, &op.ov) ||
          ::GetLastError() == ERROR_IO_PENDING) {
        op.pending = true;
      } else if (broken(::GetLastError())) {
        end_stream(i);  // EOF
      } else {
        throw IoError(std::string("read from child's ") + names[i] + " failed",
                      int(::GetLastError()));
      }
    }

    std::array<HANDLE, 5> waits{};
    std::array<int, 5> which{};
    DWORD n = 0;
    for (int i = 0; i < 3; ++i) {
      if (ops[i].pending) {
        waits[n] = ops[i].ov.hEvent;
        which[n++] = i;
      }
    }
    if (n == 0) return result;  // every pipe done: eof
    if (req.one_pass && serviced++ == kPassBudget) return {PumpEnd::pending, nullptr};
    if (!child_exited) {
      waits[n] = static_cast<HANDLE>(s.process);
      which[n++] = 3;
    }
    if (cancel_event != nullptr) {
      waits[n] = cancel_event;
      which[n++] = 4;  // set for good once cancelled: the check at the top decides
    }
    std::optional<Deadline> until = req.deadline;
    if (linger_until && (!until || *linger_until < *until)) until = linger_until;

    const DWORD r =
        ::WaitForMultipleObjects(n, waits.data(), FALSE, req.one_pass ? 0 : wait_ms(until));
    if (r == WAIT_TIMEOUT && req.one_pass) return {PumpEnd::pending, nullptr};
    if (r == WAIT_TIMEOUT) {
      // A deadline reached after the child exited is not a timeout: the
      // command finished, only its pipes outlived it.
      if (child_exited) return drain_and_close();
      if (req.deadline && Clock::now() >= *req.deadline) {
        result.end = PumpEnd::deadline;
        io.keep_capacity();
        (void)settle_all();  // what was read stays in the output (TimeoutError)
        return result;
      }
      continue;  // an early wake-up
    }
    if (r >= WAIT_OBJECT_0 + n)
      throw IoError("wait on child's pipes failed", int(::GetLastError()));
    const int i = which[r - WAIT_OBJECT_0];
    if (i == 4) continue;
    if (i == 3) {
      // The child exited: its pipes may stay open in a grandchild, so read
      // them for at most the linger time; a write it will never read ends.
      child_exited = true;
      if (req.linger_after_exit) {
        linger_until = saturating_deadline(Clock::now(), *req.linger_after_exit);
      }
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
      if (i == 0) {
        op.close();
      } else {
        end_stream(i);
      }
      continue;
    }
    if (i == 0) {
      input.advance(moved);
      if (!input.may_have_more()) op.close();
    } else if (moved == 0) {
      // A zero-byte read on a byte-mode pipe: try again.
    } else if (!take(i, moved)) {
      return result;
    }
  }
}

}  // namespace safeexec::detail
