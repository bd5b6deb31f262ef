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

#include <algorithm>
#include <string>
#include <utility>

#include "job_usage.hpp"
#include "log_internal.hpp"
#include "pipe_ops.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "win_util.hpp"

namespace safeexec {
using detail::ProcessState;

Deadline saturating_deadline(Deadline start, Clock::duration d) noexcept {
  if (d > Clock::duration::zero() && start > Deadline::max() - d) return Deadline::max();
  if (d < Clock::duration::zero() && start < Deadline::min() - d) return Deadline::min();
  return start + d;
}

namespace detail {

ProcessState::ProcessState() = default;

ProcessState::~ProcessState() {
  close_pipes();
  if (process != nullptr) ::CloseHandle(static_cast<HANDLE>(process));
  if (job != nullptr) ::CloseHandle(static_cast<HANDLE>(job));
}

void ProcessState::close_stdin() noexcept {
  if (pipe_ops) (void)pipe_ops->ops[0].cancel();  // a write step() left in flight
  win::close_int_handle(stdin_fd);
}

void ProcessState::close_pipes() noexcept {
  if (pipe_ops) pipe_ops->cancel_all();
  win::close_int_handle(stdin_fd);
  win::close_int_handle(stdout_fd);
  win::close_int_handle(stderr_fd);
}

}  // namespace detail

namespace {

constexpr int kSigKill = 9;

void validate_signal(int signal) {
  if (signal < 0 || signal > 64) {
    throw InvalidArgument("signal " + std::to_string(signal) + " is out of range");
  }
}

HANDLE process_of(const ProcessState& s) {
  return static_cast<HANDLE>(s.process);
}

DWORD ms_until(Deadline deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<DWORD>(std::min<long long>(ms, 0x7FFFFFFE));
}

// Reads the exit code (and what it used) of a process that has exited.
ExitStatus record(ProcessState& s) noexcept {
  DWORD code = 0;
  (void)::GetExitCodeProcess(process_of(s), &code);
  if (!s.usage) s.usage = detail::win::read_process_usage(process_of(s));
  s.status = s.killed ? ExitStatus::signaled(kSigKill) : ExitStatus::exited(static_cast<int>(code));
  return s.status;
}

[[noreturn]] void wait_failed(const ProcessState& s, DWORD error) {
  throw IoError("wait on child " + std::to_string(s.pid) + " failed", static_cast<int>(error));
}

/// Ends the whole job (the child and everything it started); false when
/// neither the job nor the process could be terminated and it still runs.
bool kill_all(ProcessState& s) noexcept {
  HANDLE h = process_of(s);
  const bool was_running = ::WaitForSingleObject(h, 0) == WAIT_TIMEOUT;
  BOOL ok = s.job != nullptr && ::TerminateJobObject(static_cast<HANDLE>(s.job), 128 + kSigKill);
  if (!ok) ok = ::TerminateProcess(h, 128 + kSigKill);
  if (!ok && ::WaitForSingleObject(h, 0) == WAIT_TIMEOUT) return false;
  if (was_running) s.killed = true;
  return true;
}

// Kill the whole job, wait for the child within destroy_wait, close
// everything: after this the state owns nothing. There is no zombie to reap
// on Windows: a child still dying after the wait is ended by closing the
// job (KILL_ON_JOB_CLOSE), and its handle is simply closed.
void destroy(ProcessState& s) noexcept {
  s.close_pipes();
  if (s.process != nullptr && s.status.running()) {
    (void)kill_all(s);
    if (::WaitForSingleObject(process_of(s), static_cast<DWORD>(std::min<long long>(
                                                 s.destroy_wait.count(), 0x7FFFFFFE))) ==
        WAIT_OBJECT_0) {
      (void)record(s);
    } else {
      detail::log(LogLevel::warning,
                  "safeexec: child " + std::to_string(s.pid) +
                      " did not end within destroy_wait after TerminateJobObject; its handle "
                      "is closed (the job's closing ends it)");
    }
  }
  if (s.process != nullptr) ::CloseHandle(process_of(s));
  if (s.job != nullptr) ::CloseHandle(static_cast<HANDLE>(s.job));
  s.process = nullptr;
  s.job = nullptr;
  s.pid = -1;
}

std::optional<ExitStatus> try_wait_impl(ProcessState& s) {
  if (!s.status.running() || s.process == nullptr) return s.status;
  const DWORD r = ::WaitForSingleObject(process_of(s), 0);
  if (r == WAIT_TIMEOUT) return std::nullopt;
  if (r != WAIT_OBJECT_0) wait_failed(s, ::GetLastError());
  return record(s);
}

}  // namespace

pid_t Process::pid() const noexcept {
  return state_ ? state_->pid : -1;
}
int Process::pidfd() const noexcept {
  return -1;
}
void* Process::native_handle() const noexcept {
  return state_ ? state_->process : nullptr;
}
void* Process::job_handle() const noexcept {
  return state_ ? state_->job : nullptr;
}

void Process::close_stdin() noexcept {
  if (state_) state_->close_stdin();
}

std::optional<ExitStatus> Process::try_wait() {
  if (!state_) {
    refuse_if_detached("try_wait");
    return ExitStatus();
  }
  return try_wait_impl(*state_);
}

ExitStatus Process::wait() {
  if (!state_) {
    refuse_if_detached("wait");
    return ExitStatus();
  }
  ProcessState& s = *state_;
  if (!s.status.running() || s.process == nullptr) return s.status;
  const DWORD r = ::WaitForSingleObject(process_of(s), INFINITE);
  if (r != WAIT_OBJECT_0) wait_failed(s, ::GetLastError());
  return record(s);
}

std::optional<ExitStatus> Process::wait_until(Deadline deadline) {
  if (!state_) {
    refuse_if_detached("wait_until");
    return ExitStatus();
  }
  ProcessState& s = *state_;
  for (;;) {
    if (auto st = try_wait_impl(s)) return st;
    if (Clock::now() >= deadline) return std::nullopt;
    const DWORD r = ::WaitForSingleObject(process_of(s), ms_until(deadline));
    if (r == WAIT_FAILED) wait_failed(s, ::GetLastError());
  }
}

KillOutcome Process::send_signal(int signal) {
  validate_signal(signal);
  if (!state_) {
    refuse_if_detached("send_signal");
    return KillOutcome::gone;
  }
  ProcessState& s = *state_;
  if (s.process == nullptr || !s.status.running()) return KillOutcome::gone;
  HANDLE h = process_of(s);
  if (::WaitForSingleObject(h, 0) == WAIT_OBJECT_0) return KillOutcome::gone;
  if (signal == 0) return KillOutcome::delivered;
  if (::TerminateProcess(h, static_cast<UINT>(128 + signal))) {
    s.killed = true;
    return KillOutcome::delivered;
  }
  const DWORD e = ::GetLastError();
  // TerminateProcess on a process that has just exited fails with
  // ERROR_ACCESS_DENIED: that is "gone", not an error.
  if (::WaitForSingleObject(h, 0) == WAIT_OBJECT_0) return KillOutcome::gone;
  KillError err(s.pid, signal, static_cast<int>(e));
  detail::log(LogLevel::error, err.what());
  throw err;
}

KillOutcome Process::signal_group(int signal) {
  validate_signal(signal);
  if (!state_) {
    refuse_if_detached("signal_group");
    return KillOutcome::gone;
  }
  ProcessState& s = *state_;
  if (s.process == nullptr || !s.status.running()) return KillOutcome::gone;
  if (signal == 0 || s.job == nullptr) return send_signal(signal);
  const bool was_running = ::WaitForSingleObject(process_of(s), 0) == WAIT_TIMEOUT;
  if (::TerminateJobObject(static_cast<HANDLE>(s.job), static_cast<UINT>(128 + signal))) {
    if (was_running) s.killed = true;
    return was_running ? KillOutcome::delivered : KillOutcome::gone;
  }
  KillError err(s.pid, signal, static_cast<int>(::GetLastError()));
  detail::log(LogLevel::error, err.what());
  throw err;
}

ExitStatus Process::terminate(std::chrono::milliseconds /*grace*/) {
  if (!state_) {
    refuse_if_detached("terminate");
    return ExitStatus();
  }
  ProcessState& s = *state_;
  if (s.process == nullptr || !s.status.running()) return s.status;
  // The whole job, at once: Windows has no SIGTERM to wait a grace for.
  if (!kill_all(s)) {
    KillError err(s.pid, kSigKill, static_cast<int>(::GetLastError()));
    detail::log(LogLevel::error, err.what());
    throw err;
  }
  return wait();
}

namespace detail {

void destroy_state(ProcessState& s) noexcept {
  destroy(s);
}

void ProcessAccess::kill_leftover_group(Process& p) noexcept {
  // The child has exited (it is not "killed": its own exit code stands);
  // what is left in its job only holds our pipes.
  ProcessState& s = *p.state_;
  if (s.job != nullptr) (void)::TerminateJobObject(static_cast<HANDLE>(s.job), 128 + kSigKill);
}

std::optional<ExitStatus> ProcessAccess::terminate_bounded(
    Process& p, std::chrono::milliseconds /*grace*/) noexcept {
  ProcessState& s = *p.state_;
  if (s.process == nullptr || !s.status.running()) return s.status;
  if (!kill_all(s)) {
    const KillError e(s.pid, kSigKill, static_cast<int>(::GetLastError()));
    detail::log(LogLevel::error, e.what());
  }
  // A terminated process ends at once unless refused: a short bound suffices.
  if (::WaitForSingleObject(process_of(s), 1000) != WAIT_OBJECT_0) return std::nullopt;
  return record(s);
}

}  // namespace detail
}  // namespace safeexec
