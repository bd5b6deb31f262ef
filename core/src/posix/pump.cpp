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
#include "stream_delivery.hpp"
#include "sys.hpp"

namespace safeexec {
namespace detail {
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
PumpResult ProcessAccess::pump(Process& p, const PumpRequest& req, PumpIo& io) {
  ProcessState& s = *p.state_;
  PumpResult result;
  InputFeed& input = io.in();
  if (s.stdin_fd >= 0 && !input.may_have_more()) s.close_stdin();
  std::optional<SigpipeGuard> sigpipe;
  if (s.stdin_fd >= 0) sigpipe.emplace();

  // Off the caller's stack: execute() must run on small thread stacks. Left
  // uninitialised, as make_unique_for_overwrite would (libc++ 14 lacks it).
  constexpr std::size_t kBufBytes = std::size_t{64} * 1024;
  const std::unique_ptr<char[]> buf(new char[kBufBytes]);

  // Process::cancel() or the caller's token: its eventfd joins the poll set.
  const int cancel_fd = s.cancel ? static_cast<int>(s.cancel->wake()) : -1;
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

  // Bytes read (0 at EOF or when nothing was there), -1 past the cap.
  const auto read_stream = [&](int& fd, StreamDelivery& sink, const char* name) -> ssize_t {
    for (;;) {
      const ssize_t n = sys::read(fd, buf.get(), sink.read_size(kBufBytes));
      if (n > 0) {
        if (!sink.deliver(buf.get(), static_cast<std::size_t>(n))) {
          result.end = PumpEnd::output_limit;
          result.overflowed_stream = name;
          io.keep_capacity();
          return -1;
        }
        return n;
      }
      if (n == 0) {
        close_fd(fd);
        sink.finish();
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
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
    for (int* fd : {&s.stdout_fd, &s.stderr_fd}) {
      const bool is_out = fd == &s.stdout_fd;
      StreamDelivery& sink = is_out ? io.out() : io.err();
      std::size_t taken = 0;
      while (*fd >= 0 && taken < kDrainBytes) {
        pollfd pfd{*fd, POLLIN, 0};
        if (sys::poll(&pfd, 1, 0) <= 0 || pfd.revents == 0) break;
        const ssize_t got = read_stream(*fd, sink, is_out ? "stdout" : "stderr");
        if (got < 0) return result;
        if (*fd >= 0 && got == 0) break;  // EAGAIN
        taken += static_cast<std::size_t>(got);
      }
    }
    const bool cut = s.stdout_fd >= 0 || s.stderr_fd >= 0;
    // The streams end here: the last unfinished lines are delivered.
    if (s.stdout_fd >= 0) io.out().finish();
    if (s.stderr_fd >= 0) io.err().finish();
    s.close_pipes();
    result.end = cut ? PumpEnd::lingered : PumpEnd::eof;
    return result;
  };

  for (;;) {
    const Deadline now = Clock::now();
    if (cancel_fd >= 0 && s.cancel->cancelled()) {
      io.keep_capacity();
      return {PumpEnd::cancelled, nullptr};
    }
    if (linger_end && now >= *linger_end) return end_lingering();
    if (req.deadline && now >= *req.deadline) {
      // The command finished before its deadline and only a background job
      // holds the pipes: that is not a timeout.
      if (watch_exit && (child_exited || s.child.has_exited())) return end_lingering();
      result.end = PumpEnd::deadline;
      io.keep_capacity();
      return result;
    }
    if (exit_by_polling && !child_exited && s.child.has_exited()) note_exit(now);

    std::array<pollfd, 5> fds{};
    nfds_t n = 0;
    // The slot of `fd` in the set, or -1 when it is not watched.
    const auto watch = [&](int fd, short events) {
      if (fd < 0) return -1;
      fds[n] = {fd, events, 0};
      return static_cast<int>(n++);
    };
    const int in_idx = watch(s.stdin_fd, POLLOUT);
    const int out_idx = watch(s.stdout_fd, POLLIN);
    const int err_idx = watch(s.stderr_fd, POLLIN);
    if (n == 0) return result;  // every pipe done: eof
    const int pid_idx = watch(watch_exit && !child_exited ? s.child.exit_fd() : -1, POLLIN);
    (void)watch(cancel_fd, POLLIN);  // readable once cancelled: the check at the top decides

    std::optional<Deadline> wake = req.deadline;
    if (linger_end) wake = wake ? std::min(*wake, *linger_end) : *linger_end;
    int timeout_ms = poll_timeout_ms(wake);
    if (exit_by_polling && !child_exited) {
      timeout_ms = (timeout_ms < 0) ? 10 : std::min(timeout_ms, 10);
    }
    if (req.one_pass) timeout_ms = 0;
    const int ready = sys::poll(fds.data(), n, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw IoError("poll on child's pipes failed", errno);
    }
    if (ready == 0 && req.one_pass) return {PumpEnd::pending, nullptr};
    if (ready == 0) continue;  // the checks at the top decide

    if (in_idx >= 0 && fds[in_idx].revents != 0) {
      const std::string_view rest = input.next();
      const ssize_t w = rest.empty() ? 0
                                     : sys::write(s.stdin_fd, rest.data(),
                                                  std::min<std::size_t>(rest.size(), 1 << 20));
      if (w >= 0) {
        input.advance(static_cast<std::size_t>(w));
        if (!input.may_have_more()) s.close_stdin();
      } else if (errno == EPIPE) {
        // The child closed its stdin or exited without reading: not our error.
        sigpipe->saw_epipe();
        s.close_stdin();
      } else if (errno != EINTR && errno != EAGAIN) {
        throw IoError("write to child's stdin failed", errno);
      }
    }
    if (out_idx >= 0 && fds[out_idx].revents != 0 &&
        read_stream(s.stdout_fd, io.out(), "stdout") < 0) {
      return result;
    }
    if (err_idx >= 0 && fds[err_idx].revents != 0 &&
        read_stream(s.stderr_fd, io.err(), "stderr") < 0) {
      return result;
    }
    if (pid_idx >= 0 && fds[pid_idx].revents != 0) note_exit(Clock::now());
    if (req.one_pass) return {PumpEnd::pending, nullptr};
  }
}

}  // namespace detail
}  // namespace safeexec
