// process.cpp - the Process handle on Windows: waiting and terminating
// through the process handle and the job object.
//
// Windows has no signals. send_signal(0) asks whether the child still runs;
// any other number terminates it (TerminateProcess, exit code 128 + signal),
// signal_group() and terminate() end the whole job - the child and
// everything it started - at once (there is no polite request to wait a
// grace period for). A status we caused is reported as killed by that
// signal, since the exit code a job kill leaves behind is not reliable
// (Wine reports 0).
#include <windows.h>

#include <string>
#include <utility>

#include "log_internal.hpp"
#include "process_access.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "win_util.hpp"

namespace safeexec {
namespace {

constexpr int kSigKill = 9;

void validate_signal(int signal) {
  if (signal < 0 || signal > 64) {
    throw InvalidArgument("signal " + std::to_string(signal) + " is out of range");
  }
}

}  // namespace

Process::Process(Process&& other) noexcept
    : process_handle_(std::exchange(other.process_handle_, nullptr)),
      job_(std::exchange(other.job_, nullptr)),
      killed_(std::exchange(other.killed_, false)),
      pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      stdin_fd_(std::exchange(other.stdin_fd_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      stderr_fd_(std::exchange(other.stderr_fd_, -1)),
      own_group_(std::exchange(other.own_group_, false)),
      status_(std::exchange(other.status_, ExitStatus())) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    reset();
    process_handle_ = std::exchange(other.process_handle_, nullptr);
    job_ = std::exchange(other.job_, nullptr);
    killed_ = std::exchange(other.killed_, false);
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

// Kill the whole job, wait for the child, close everything: after this the
// handle owns nothing, and closing the job (KILL_ON_JOB_CLOSE) ends any
// grandchild still in it.
void Process::reset() noexcept {
  detail::win::close_int_handle(stdin_fd_);
  detail::win::close_int_handle(stdout_fd_);
  detail::win::close_int_handle(stderr_fd_);
  if (process_handle_ != nullptr && status_.running()) {
    if (job_ != nullptr) (void)::TerminateJobObject(static_cast<HANDLE>(job_), 128 + kSigKill);
    (void)::TerminateProcess(static_cast<HANDLE>(process_handle_), 128 + kSigKill);
    killed_ = true;
    reap_blocking();
  }
  if (process_handle_ != nullptr) ::CloseHandle(static_cast<HANDLE>(process_handle_));
  if (job_ != nullptr) ::CloseHandle(static_cast<HANDLE>(job_));
  process_handle_ = nullptr;
  job_ = nullptr;
  pid_ = -1;
}

// how: 0 = read the exit code from the handle.
ExitStatus Process::record(int /*how*/, int /*value*/) noexcept {
  DWORD code = 0;
  (void)::GetExitCodeProcess(static_cast<HANDLE>(process_handle_), &code);
  status_ = killed_ ? ExitStatus::signaled(kSigKill) : ExitStatus::exited(static_cast<int>(code));
  return status_;
}

void Process::reap_blocking() noexcept {
  (void)::WaitForSingleObject(static_cast<HANDLE>(process_handle_), INFINITE);
  record(0, 0);
}

void Process::wait_failed(int error) {
  throw IoError("wait on child " + std::to_string(pid_) + " failed", error);
}

void Process::close_stdin() noexcept {
  detail::win::close_int_handle(stdin_fd_);
}

std::optional<ExitStatus> Process::try_wait() {
  if (!status_.running() || process_handle_ == nullptr) return status_;
  const DWORD r = ::WaitForSingleObject(static_cast<HANDLE>(process_handle_), 0);
  if (r == WAIT_TIMEOUT) return std::nullopt;
  if (r != WAIT_OBJECT_0) wait_failed(static_cast<int>(::GetLastError()));
  return record(0, 0);
}

ExitStatus Process::wait() {
  if (!status_.running() || process_handle_ == nullptr) return status_;
  const DWORD r = ::WaitForSingleObject(static_cast<HANDLE>(process_handle_), INFINITE);
  if (r != WAIT_OBJECT_0) wait_failed(static_cast<int>(::GetLastError()));
  return record(0, 0);
}

std::optional<ExitStatus> Process::wait_until(Deadline deadline) {
  for (;;) {
    if (auto st = try_wait()) return st;
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return std::nullopt;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    const DWORD r = ::WaitForSingleObject(static_cast<HANDLE>(process_handle_),
                                          static_cast<DWORD>(std::min<long long>(ms, 0x7FFFFFFF)));
    if (r == WAIT_FAILED) wait_failed(static_cast<int>(::GetLastError()));
  }
}

KillOutcome Process::send_signal(int signal) {
  validate_signal(signal);
  if (process_handle_ == nullptr || !status_.running()) return KillOutcome::gone;
  HANDLE h = static_cast<HANDLE>(process_handle_);
  if (::WaitForSingleObject(h, 0) == WAIT_OBJECT_0) return KillOutcome::gone;
  if (signal == 0) return KillOutcome::delivered;
  if (::TerminateProcess(h, static_cast<UINT>(128 + signal))) {
    killed_ = true;
    return KillOutcome::delivered;
  }
  const DWORD e = ::GetLastError();
  // TerminateProcess on a process that has just exited fails with
  // ERROR_ACCESS_DENIED: that is "gone", not an error.
  if (::WaitForSingleObject(h, 0) == WAIT_OBJECT_0) return KillOutcome::gone;
  KillError err(pid_, signal, static_cast<int>(e));
  detail::log(LogLevel::error, err.what());
  throw err;
}

KillOutcome Process::signal_group(int signal) {
  validate_signal(signal);
  if (process_handle_ == nullptr || !status_.running()) return KillOutcome::gone;
  if (signal == 0 || job_ == nullptr) return send_signal(signal);
  const bool was_running =
      ::WaitForSingleObject(static_cast<HANDLE>(process_handle_), 0) == WAIT_TIMEOUT;
  if (::TerminateJobObject(static_cast<HANDLE>(job_), static_cast<UINT>(128 + signal))) {
    if (was_running) killed_ = true;
    return was_running ? KillOutcome::delivered : KillOutcome::gone;
  }
  KillError err(pid_, signal, static_cast<int>(::GetLastError()));
  detail::log(LogLevel::error, err.what());
  throw err;
}

ExitStatus Process::terminate(std::chrono::milliseconds /*grace*/) {
  if (process_handle_ == nullptr || !status_.running()) return status_;
  // The whole job, at once: Windows has no SIGTERM to wait a grace for.
  HANDLE h = static_cast<HANDLE>(process_handle_);
  const bool was_running = ::WaitForSingleObject(h, 0) == WAIT_TIMEOUT;
  BOOL ok = job_ != nullptr && ::TerminateJobObject(static_cast<HANDLE>(job_), 128 + kSigKill);
  if (!ok) ok = ::TerminateProcess(h, 128 + kSigKill);
  if (!ok && ::WaitForSingleObject(h, 0) == WAIT_TIMEOUT) {
    KillError err(pid_, kSigKill, static_cast<int>(::GetLastError()));
    detail::log(LogLevel::error, err.what());
    throw err;
  }
  if (was_running) killed_ = true;
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
