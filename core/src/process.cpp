// process.cpp - the Process handle: waiting, signalling, and the I/O loop.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <exception>
#include <string>
#include <thread>
#include <utility>

#include "log_internal.hpp"
#include "process_access.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "sys.hpp"

namespace safeexec {
namespace {

void close_fd(int& fd) noexcept {
  if (fd >= 0) (void)::close(fd);
  fd = -1;
}

/// Milliseconds until `deadline` for poll(), rounded up so that we never
/// wake a little early and spin; -1 (forever) without a deadline.
int poll_timeout_ms(std::optional<Deadline> deadline) {
  if (!deadline) return -1;
  const auto left = *deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<long long>(ms, 1 << 30));
}

/// SIGPIPE for a write to a pipe is sent to the writing thread. Block it on
/// this thread while we write, and on EPIPE take back the SIGPIPE we caused
/// (unless one was already pending), so the host never dies of it and no
/// process-wide disposition is changed (a library must not SIG_IGN for you).
class SigpipeGuard {
 public:
  SigpipeGuard() noexcept {
    sigset_t pipe_only{};
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigset_t pending{};
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    (void)pthread_sigmask(SIG_BLOCK, &pipe_only, &old_);  // cannot fail: valid how and set
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  void saw_epipe() noexcept { saw_epipe_ = true; }
  ~SigpipeGuard() {
    if (saw_epipe_ && !was_pending_) {
      sigset_t pipe_only{};
      sigemptyset(&pipe_only);
      sigaddset(&pipe_only, SIGPIPE);
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    (void)pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_{};
  bool was_pending_ = false;
  bool saw_epipe_ = false;
};

/// Waits until the child has exited or `deadline` passes, without reaping
/// it (WNOWAIT): its pid stays reserved until someone waits for it.
void await_exit_unreaped(pid_t pid, int pidfd, Deadline deadline) noexcept {
  auto backoff = std::chrono::microseconds(100);
  for (;;) {
    siginfo_t info{};
    info.si_pid = 0;
    const int options = WEXITED | WNOHANG | WNOWAIT;
    const int rc = (pidfd >= 0) ? sys::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, options)
                                : sys::waitid(P_PID, static_cast<id_t>(pid), &info, options);
    if (rc == 0 && info.si_pid != 0) return;  // exited
    if (rc != 0 && errno != EINTR) return;    // not ours to wait for (ECHILD)
    if (Clock::now() >= deadline) return;
    if (pidfd >= 0) {
      pollfd pfd{pidfd, POLLIN, 0};  // readable once the child has exited
      (void)sys::poll(&pfd, 1, poll_timeout_ms(deadline));
    } else {
      std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - Clock::now()));
      backoff = std::min(backoff * 2, std::chrono::microseconds(10000));
    }
  }
}

}  // namespace

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      stdin_fd_(std::exchange(other.stdin_fd_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      stderr_fd_(std::exchange(other.stderr_fd_, -1)),
      own_group_(std::exchange(other.own_group_, false)),
      status_(std::exchange(other.status_, ExitStatus())) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    reset();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    stdin_fd_ = std::exchange(other.stdin_fd_, -1);
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    stderr_fd_ = std::exchange(other.stderr_fd_, -1);
    own_group_ = std::exchange(other.own_group_, false);
    status_ = std::exchange(other.status_, ExitStatus());
  }
  return *this;
}

Process::~Process() {
  reset();
}

// Kill (group first, while the unreaped leader pins the pgid number), reap,
// close: after this the handle owns nothing.
void Process::reset() noexcept {
  close_fd(stdin_fd_);
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
  if (pid_ > 0 && status_.running()) {
    if (own_group_) (void)::kill(-pid_, SIGKILL);
    if (pidfd_ >= 0) {
      (void)::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0U);
    } else {
      (void)::kill(pid_, SIGKILL);
    }
    reap_blocking();
  }
  close_fd(pidfd_);
  pid_ = -1;
}

ExitStatus Process::record(int how, int value) noexcept {
  status_ = (how == CLD_EXITED) ? ExitStatus::exited(value) : ExitStatus::signaled(value);
  close_fd(pidfd_);
  return status_;
}

void Process::reap_blocking() noexcept {
  siginfo_t info{};
  for (;;) {
    const int rc = (pidfd_ >= 0) ? sys::waitid(P_PIDFD, static_cast<id_t>(pidfd_), &info, WEXITED)
                                 : sys::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED);
    if (rc == 0) {
      record(info.si_code, info.si_status);
      return;
    }
    if (errno == EINTR) continue;
    if (errno != ECHILD) {
      // Any other failure of the pidfd wait (none is documented for a child
      // we own; the fault seam can inject one) must not leave a zombie: the
      // pid is still pinned by our unreaped child, so wait for it by pid.
      int raw = 0;
      pid_t got = -1;
      do {
        got = ::waitpid(pid_, &raw, 0);
      } while (got < 0 && errno == EINTR);
      if (got == pid_) {
        record(WIFEXITED(raw) ? CLD_EXITED : CLD_KILLED,
               WIFEXITED(raw) ? WEXITSTATUS(raw) : WTERMSIG(raw));
        return;
      }
    }
    // ECHILD: someone else (a global SIGCHLD reaper) took our child. Nothing
    // is left to reap; say so once and forget the pid.
    detail::log(LogLevel::warning, "safeexec: child " + std::to_string(pid_) +
                                       " was reaped by someone else; its status is lost");
    status_ = ExitStatus::signaled(0);
    close_fd(pidfd_);
    return;
  }
}

// A failed wait leaves the handle as it was unless the kernel says the child
// is no longer ours (ECHILD): the child stays `running`, so a later wait or
// the destructor still kills and reaps it.
void Process::wait_failed(int error) {
  if (error == ECHILD) {
    status_ = ExitStatus::signaled(0);
    close_fd(pidfd_);
  }
  throw IoError("waitid on child " + std::to_string(pid_) + " failed", error);
}

void Process::close_stdin() noexcept {
  close_fd(stdin_fd_);
}

std::optional<ExitStatus> Process::try_wait() {
  if (!status_.running() || pid_ <= 0) return status_;
  siginfo_t info{};
  for (;;) {
    info.si_pid = 0;
    const int rc = (pidfd_ >= 0)
                       ? sys::waitid(P_PIDFD, static_cast<id_t>(pidfd_), &info, WEXITED | WNOHANG)
                       : sys::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG);
    if (rc == 0) {
      if (info.si_pid == 0) return std::nullopt;
      return record(info.si_code, info.si_status);
    }
    if (errno == EINTR) continue;
    wait_failed(errno);
  }
}

ExitStatus Process::wait() {
  if (!status_.running() || pid_ <= 0) return status_;
  siginfo_t info{};
  for (;;) {
    const int rc = (pidfd_ >= 0) ? sys::waitid(P_PIDFD, static_cast<id_t>(pidfd_), &info, WEXITED)
                                 : sys::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED);
    if (rc == 0) return record(info.si_code, info.si_status);
    if (errno == EINTR) continue;
    wait_failed(errno);
  }
}

std::optional<ExitStatus> Process::wait_until(Deadline deadline) {
  auto backoff = std::chrono::microseconds(100);
  for (;;) {
    if (auto st = try_wait()) return st;
    if (Clock::now() >= deadline) return std::nullopt;
    if (pidfd_ >= 0) {
      // A pidfd becomes readable when the child exits.
      pollfd pfd{pidfd_, POLLIN, 0};
      const int rc = sys::poll(&pfd, 1, poll_timeout_ms(deadline));
      if (rc < 0 && errno != EINTR) throw IoError("poll on pidfd failed", errno);
    } else {
      // No pidfd (pre-5.3 kernels): poll with a bounded backoff.
      std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - Clock::now()));
      backoff = std::min(backoff * 2, std::chrono::microseconds(10000));
    }
  }
}

KillOutcome Process::send_signal(int signal) {
  if (signal < 0 || signal > 64) {
    throw InvalidArgument("signal " + std::to_string(signal) + " is out of range");
  }
  if (pid_ <= 0 || !status_.running()) return KillOutcome::gone;
  const long rc = (pidfd_ >= 0) ? ::syscall(SYS_pidfd_send_signal, pidfd_, signal, nullptr, 0U)
                                : ::kill(pid_, signal);  // unreaped: the pid is still ours
  if (rc == 0) return KillOutcome::delivered;
  if (errno == ESRCH) return KillOutcome::gone;
  KillError e(pid_, signal, errno);
  detail::log(LogLevel::error, e.what());
  throw e;
}

KillOutcome Process::signal_group(int signal) {
  if (!own_group_) return send_signal(signal);
  if (signal < 0 || signal > 64) {
    throw InvalidArgument("signal " + std::to_string(signal) + " is out of range");
  }
  if (pid_ <= 0 || !status_.running()) return KillOutcome::gone;
  // The leader is unreaped, so its pid - the group's id - cannot be reused.
  if (::kill(-pid_, signal) == 0) return KillOutcome::delivered;
  if (errno == ESRCH) return KillOutcome::gone;
  KillError e(-pid_, signal, errno);
  detail::log(LogLevel::error, e.what());
  throw e;
}

ExitStatus Process::terminate(std::chrono::milliseconds grace) {
  if (pid_ <= 0 || !status_.running()) return status_;
  (void)signal_group(SIGTERM);
  if (!own_group_) {
    if (auto st = wait_until(deadline_after(grace))) return *st;
    (void)send_signal(SIGKILL);
    return wait();
  }
  // A group: members may ignore SIGTERM or outlive the leader (a shell or
  // xargs dies of SIGTERM at once, the command it started does not). So wait
  // for the leader without reaping it - an unreaped leader keeps its pid, the
  // group's id, from being reused - then SIGKILL what is left of the group,
  // and only then reap.
  await_exit_unreaped(pid_, pidfd_, deadline_after(grace));
  (void)signal_group(SIGKILL);
  return wait();
}

Output Process::communicate(std::string_view input, std::optional<Deadline> deadline,
                            std::size_t max_output_bytes) {
  Output output;
  detail::PumpRequest req;
  req.input = input;
  req.deadline = deadline;
  req.max_output_bytes = max_output_bytes;
  const detail::PumpResult r = detail::ProcessAccess::pump(*this, req, output);
  switch (r.end) {
    case detail::PumpEnd::deadline:
      throw TimeoutError("communicate: deadline passed before the child finished",
                         std::chrono::milliseconds(0));
    case detail::PumpEnd::output_limit:
      throw OutputLimitError(std::string("communicate: child wrote more than ") +
                                 std::to_string(max_output_bytes) + " bytes on " +
                                 r.overflowed_stream,
                             r.overflowed_stream, max_output_bytes);
    case detail::PumpEnd::eof:
    case detail::PumpEnd::lingered:
      break;
  }
  if (deadline) {
    if (!wait_until(*deadline)) {
      throw TimeoutError("communicate: deadline passed before the child exited",
                         std::chrono::milliseconds(0));
    }
  } else {
    (void)wait();
  }
  return output;
}

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
