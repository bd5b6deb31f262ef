// pump.cpp - the I/O pump: one poll loop over the child's stdin, stdout and
// stderr (and its pidfd while lingering), bounded by a deadline.
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <exception>
#include <string>

#include "io_util.hpp"
#include "process_access.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "sys.hpp"

namespace safeexec {
using detail::close_fd;
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
  ~ShrinkOnExit() {
    if (s_.capacity() < kReserveAfter || s_.capacity() / 2 < s_.size()) return;
    try {
      s_.shrink_to_fit();
    } catch (const std::exception&) {  // keeping the larger buffer is correct too
    }
  }

 private:
  std::string& s_;
};

}  // namespace

// One poll loop over stdin (write), stdout and stderr (read) and, when a
// linger time is asked for, the pidfd (child exit). Servicing all of them
// together is what prevents the classic deadlock: parent blocked writing
// stdin while the child is blocked writing a full stdout pipe (F09, F14).
PumpResult ProcessAccess::pump(Process& p, const PumpRequest& req, Output& output) {
  const ShrinkOnExit shrink_out(output.out);
  const ShrinkOnExit shrink_err(output.err);
  PumpResult result;
  std::size_t written = 0;
  if (p.stdin_fd_ >= 0 && req.input.empty()) p.close_stdin();
  std::optional<SigpipeGuard> sigpipe;
  if (p.stdin_fd_ >= 0) sigpipe.emplace();

  std::optional<Deadline> deadline = req.deadline;
  bool child_exited = false;
  std::array<char, 64 * 1024> buf;  // NOLINT: filled by read()

  const auto read_stream = [&](int& fd, std::string& sink, const char* name) -> bool {
    for (;;) {
      const std::size_t room = req.max_output_bytes - sink.size();
      // Read one byte past the cap, so that exactly-at-cap is not an error.
      const std::size_t want = std::min<std::size_t>(
          buf.size(), room == static_cast<std::size_t>(-1) ? buf.size() : room + 1);
      const ssize_t n = sys::read(fd, buf.data(), want);
      if (n > 0) {
        reserve_toward_cap(sink, static_cast<std::size_t>(n), req.max_output_bytes);
        sink.append(buf.data(), static_cast<std::size_t>(n));
        if (sink.size() > req.max_output_bytes) {
          result.end = PumpEnd::output_limit;
          result.overflowed_stream = name;
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

  for (;;) {
    std::array<pollfd, 4> fds{};
    nfds_t n = 0;
    int in_idx = -1, out_idx = -1, err_idx = -1, pid_idx = -1;
    if (p.stdin_fd_ >= 0) {
      in_idx = static_cast<int>(n);
      fds[n++] = {p.stdin_fd_, POLLOUT, 0};
    }
    if (p.stdout_fd_ >= 0) {
      out_idx = static_cast<int>(n);
      fds[n++] = {p.stdout_fd_, POLLIN, 0};
    }
    if (p.stderr_fd_ >= 0) {
      err_idx = static_cast<int>(n);
      fds[n++] = {p.stderr_fd_, POLLIN, 0};
    }
    if (n == 0) return result;  // every pipe done: eof
    if (req.linger_after_exit && !child_exited && p.pidfd_ >= 0) {
      pid_idx = static_cast<int>(n);
      fds[n++] = {p.pidfd_, POLLIN, 0};
    }

    const int ready = sys::poll(fds.data(), n, poll_timeout_ms(deadline));
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw IoError("poll on child's pipes failed", errno);
    }
    if (ready == 0) {
      // Timed out: either the caller's deadline or the linger after exit.
      result.end =
          (req.deadline && Clock::now() >= *req.deadline) ? PumpEnd::deadline : PumpEnd::lingered;
      if (result.end == PumpEnd::lingered) {
        p.close_stdin();
        close_fd(p.stdout_fd_);
        close_fd(p.stderr_fd_);
      }
      return result;
    }

    if (in_idx >= 0 && fds[in_idx].revents != 0) {
      const std::string_view rest = req.input.substr(written);
      const ssize_t w =
          sys::write(p.stdin_fd_, rest.data(), std::min<std::size_t>(rest.size(), 1 << 20));
      if (w >= 0) {
        written += static_cast<std::size_t>(w);
        if (written == req.input.size()) p.close_stdin();
      } else if (errno == EPIPE) {
        // The child closed its stdin or exited without reading: not our error.
        sigpipe->saw_epipe();
        p.close_stdin();
      } else if (errno != EINTR && errno != EAGAIN) {
        throw IoError("write to child's stdin failed", errno);
      }
    }
    if (out_idx >= 0 && fds[out_idx].revents != 0 &&
        !read_stream(p.stdout_fd_, output.out, "stdout")) {
      return result;
    }
    if (err_idx >= 0 && fds[err_idx].revents != 0 &&
        !read_stream(p.stderr_fd_, output.err, "stderr")) {
      return result;
    }
    if (pid_idx >= 0 && fds[pid_idx].revents != 0) {
      // The child has exited but something (a grandchild) may still hold its
      // pipes: read them for at most the linger time more.
      child_exited = true;
      const Deadline linger_end = Clock::now() + *req.linger_after_exit;
      deadline = deadline ? std::min(*deadline, linger_end) : linger_end;
    }
  }
}

}  // namespace detail
}  // namespace safeexec
