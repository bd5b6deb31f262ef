// pump.cpp - the I/O pump: one poll loop over the child's stdin, stdout and
// stderr (and its pidfd while lingering), bounded by a deadline.
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <exception>
#include <memory>
#include <string>

#include "io_util.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "sys.hpp"

namespace safeexec {
namespace detail {
namespace {

// Large outputs: growing a string by doubling copies every byte again at
// each step and faults in fresh pages for each discarded buffer (about twice
// the output in page faults). Once a stream has passed 1 MiB and the caller
// set a cap, reserve up to the cap in one go instead: malloc serves it with
// mmap, so the untouched part is address space, not memory. If the
// reservation is refused (no overcommit), doubling goes on as before.
constexpr std::size_t kReserveAfter = std::size_t{1} << 20;

void reserve_toward_cap(std::string& sink, std::size_t incoming, std::size_t cap) noexcept {
  if (sink.size() + incoming <= sink.capacity() || sink.size() < kReserveAfter) return;
  if (cap == static_cast<std::size_t>(-1) || cap >= sink.max_size()) return;
  try {
    sink.reserve(cap + 1);           // +1: the pump reads one byte past the cap
  } catch (const std::exception&) {  // bad_alloc / length_error: keep doubling
  }
}

// ... and give back what a large reservation did not use, so that a result
// far below its cap does not hold the cap's address space.
class ShrinkOnExit {
 public:
  explicit ShrinkOnExit(std::string& s) noexcept : s_(s) {}
  ShrinkOnExit(const ShrinkOnExit&) = delete;
  ShrinkOnExit& operator=(const ShrinkOnExit&) = delete;
  /// A run that is being timed out or killed for its size must end within
  /// its bound: copying hundreds of MiB to shrink them is not worth the time.
  void cancel() noexcept { cancelled_ = true; }
  ~ShrinkOnExit() {
    if (cancelled_ || s_.capacity() < kReserveAfter || s_.capacity() / 2 < s_.size()) return;
    try {
      s_.shrink_to_fit();
    } catch (const std::exception&) {  // keeping the larger buffer is correct too
    }
  }

 private:
  std::string& s_;
  bool cancelled_ = false;
};

}  // namespace

// One poll loop over stdin (write), stdout and stderr (read) and, when a
// linger time is asked for, the child's exit. Servicing all of them together
// is what prevents the classic deadlock: parent blocked writing stdin while
// the child is blocked writing a full stdout pipe (F09, F14).
//
// The clock is read on every pass, not only when poll() times out: a child
// that never stops writing keeps a pipe readable forever, and a loop that
// looked at the deadline only on a poll timeout would never end (as
// CPython's _communicate, each pass checks the remaining time). Each pass
// reads at most one buffer per stream, so the work between two checks is
// bounded, and nothing is read after the deadline.
PumpResult ProcessAccess::pump(Process& p, const PumpRequest& req, Output& output) {
  ProcessState& s = *p.state_;
  ShrinkOnExit shrink_out(output.out);
  ShrinkOnExit shrink_err(output.err);
  PumpResult result;
  std::size_t written = s.pump.input_offset;
  if (s.stdin_fd >= 0 && written >= req.input.size()) s.close_stdin();
  std::optional<SigpipeGuard> sigpipe;
  if (s.stdin_fd >= 0) sigpipe.emplace();

  // Off the caller's stack: execute() must run on small thread stacks. Left
  // uninitialised, as make_unique_for_overwrite would (libc++ 14 lacks it).
  constexpr std::size_t kBufBytes = std::size_t{64} * 1024;
  const std::unique_ptr<char[]> buf(new char[kBufBytes]);

  const bool watch_exit = req.linger_after_exit.has_value();
  bool child_exited = false;
  std::optional<Deadline> linger_end;
  // Without a pidfd the exit is noticed by asking waitid on each pass, so
  // poll must wake up now and then to ask.
  const bool exit_by_polling = watch_exit && s.child.exit_fd() < 0;

  const auto note_exit = [&](Deadline now) {
    child_exited = true;
    linger_end = saturating_deadline(now, *req.linger_after_exit);
  };

  const auto read_stream = [&](int& fd, std::string& sink, const char* name) -> bool {
    for (;;) {
      const std::size_t room = req.max_output_bytes - sink.size();
      // Read one byte past the cap, so that exactly-at-cap is not an error.
      const std::size_t want = std::min<std::size_t>(
          kBufBytes, room == static_cast<std::size_t>(-1) ? kBufBytes : room + 1);
      const ssize_t n = sys::read(fd, buf.get(), want);
      if (n > 0) {
        reserve_toward_cap(sink, static_cast<std::size_t>(n), req.max_output_bytes);
        sink.append(buf.get(), static_cast<std::size_t>(n));
        if (sink.size() > req.max_output_bytes) {
          result.end = PumpEnd::output_limit;
          result.overflowed_stream = name;
          shrink_out.cancel();
          shrink_err.cancel();
          return false;
        }
        return true;
      }
      if (n == 0) {
        close_fd(fd);
        return true;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
      throw IoError(std::string("read from child's ") + name + " failed", errno);
    }
  };

  // The child has exited and our time to wait for EOF is up. What it wrote
  // before exiting may still sit in the pipes: take it (without waiting, and
  // at most kDrainBytes a stream, since a background job may write without
  // end), then close what is still open. Pipes that reached EOF while
  // draining make this a plain eof: nothing was cut.
  constexpr std::size_t kDrainBytes = std::size_t{4} << 20;
  const auto end_lingering = [&] {
    s.pump.input_offset = written;
    for (int* fd : {&s.stdout_fd, &s.stderr_fd}) {
      const bool is_out = fd == &s.stdout_fd;
      std::string& sink = is_out ? output.out : output.err;
      std::size_t taken = 0;
      while (*fd >= 0 && taken < kDrainBytes) {
        pollfd pfd{*fd, POLLIN, 0};
        if (sys::poll(&pfd, 1, 0) <= 0 || pfd.revents == 0) break;
        const std::size_t before = sink.size();
        if (!read_stream(*fd, sink, is_out ? "stdout" : "stderr")) return result;
        if (*fd >= 0 && sink.size() == before) break;  // EAGAIN
        taken += sink.size() - before;
      }
    }
    const bool cut = s.stdout_fd >= 0 || s.stderr_fd >= 0;
    s.close_pipes();
    result.end = cut ? PumpEnd::lingered : PumpEnd::eof;
    return result;
  };

  for (;;) {
    const Deadline now = Clock::now();
    if (linger_end && now >= *linger_end) return end_lingering();
    if (req.deadline && now >= *req.deadline) {
      // The command finished before its deadline and only a background job
      // holds the pipes: that is not a timeout.
      if (watch_exit && (child_exited || s.child.has_exited())) return end_lingering();
      result.end = PumpEnd::deadline;
      s.pump.input_offset = written;
      shrink_out.cancel();
      shrink_err.cancel();
      return result;
    }
    if (exit_by_polling && !child_exited && s.child.has_exited()) note_exit(now);

    std::array<pollfd, 4> fds{};
    nfds_t n = 0;
    int in_idx = -1, out_idx = -1, err_idx = -1, pid_idx = -1;
    if (s.stdin_fd >= 0) {
      in_idx = static_cast<int>(n);
      fds[n++] = {s.stdin_fd, POLLOUT, 0};
    }
    if (s.stdout_fd >= 0) {
      out_idx = static_cast<int>(n);
      fds[n++] = {s.stdout_fd, POLLIN, 0};
    }
    if (s.stderr_fd >= 0) {
      err_idx = static_cast<int>(n);
      fds[n++] = {s.stderr_fd, POLLIN, 0};
    }
    if (n == 0) {  // every pipe done: eof
      s.pump.input_offset = written;
      return result;
    }
    if (watch_exit && !child_exited && s.child.exit_fd() >= 0) {
      pid_idx = static_cast<int>(n);
      fds[n++] = {s.child.exit_fd(), POLLIN, 0};
    }

    std::optional<Deadline> wake = req.deadline;
    if (linger_end) wake = wake ? std::min(*wake, *linger_end) : *linger_end;
    int timeout_ms = poll_timeout_ms(wake);
    if (exit_by_polling && !child_exited) {
      timeout_ms = (timeout_ms < 0) ? 10 : std::min(timeout_ms, 10);
    }
    const int ready = sys::poll(fds.data(), n, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw IoError("poll on child's pipes failed", errno);
    }
    if (ready == 0) continue;  // the checks at the top decide

    if (in_idx >= 0 && fds[in_idx].revents != 0) {
      const std::string_view rest = req.input.substr(written);
      const ssize_t w =
          sys::write(s.stdin_fd, rest.data(), std::min<std::size_t>(rest.size(), 1 << 20));
      if (w >= 0) {
        written += static_cast<std::size_t>(w);
        if (written == req.input.size()) s.close_stdin();
      } else if (errno == EPIPE) {
        // The child closed its stdin or exited without reading: not our error.
        sigpipe->saw_epipe();
        s.close_stdin();
      } else if (errno != EINTR && errno != EAGAIN) {
        throw IoError("write to child's stdin failed", errno);
      }
    }
    if (out_idx >= 0 && fds[out_idx].revents != 0 &&
        !read_stream(s.stdout_fd, output.out, "stdout")) {
      s.pump.input_offset = written;
      return result;
    }
    if (err_idx >= 0 && fds[err_idx].revents != 0 &&
        !read_stream(s.stderr_fd, output.err, "stderr")) {
      s.pump.input_offset = written;
      return result;
    }
    if (pid_idx >= 0 && fds[pid_idx].revents != 0) note_exit(Clock::now());
  }
}

}  // namespace detail
}  // namespace safeexec
