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

#include "io_util.hpp"
#include "log_internal.hpp"
#include "process_access.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "sys.hpp"

namespace safeexec {
using detail::close_fd;
using detail::poll_timeout_ms;
namespace {

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

}  // namespace safeexec
