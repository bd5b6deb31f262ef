// safeexec/process.hpp - create_process() and the Process handle.
//
// Spawning is clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) + execve: no fork, so
// latency does not grow with the parent's memory, and no shell, ever (F11).
// argv, envp and the descriptor plan are built in the parent; the child only
// makes async-signal-safe system calls. The child starts with default signal
// dispositions, an empty signal mask, the planned 0/1/2 and nothing else
// open (plus the descriptors named by keep_fd()) (F06).
//
//   auto p = safeexec::create_process({"sort"},
//       safeexec::SpawnOptions{}.stdin_pipe().stdout_pipe());
//   auto out = p.communicate("b\na\n", safeexec::deadline_after(5s));
//   safeexec::ExitStatus st = p.wait();
//
// Thread safety: distinct Process objects may be used from distinct threads
// freely; one Process is not safe for concurrent use. Every descriptor the
// library opens is close-on-exec from birth, so concurrent spawns from other
// threads (ours or anyone's) cannot inherit it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safeexec/env.hpp"
#include "safeexec/exit_status.hpp"
#include "safeexec/pid.hpp"

namespace safeexec {

namespace detail {
struct ProcessAccess;
}  // namespace detail

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

/// A deadline `d` from now.
inline Deadline deadline_after(Clock::duration d) {
  return Clock::now() + d;
}

/// What a child's stdin/stdout/stderr is connected to.
enum class Stdio {
  inherit,  ///< the parent's descriptor of the same number
  pipe,     ///< a pipe to the parent, exposed by the Process handle
  null,     ///< /dev/null (opened by the library; if it cannot be, spawn fails)
};

/// How to start a child. Chainable setters; getters of the same name.
class SpawnOptions {
 public:
  SpawnOptions& stdin_mode(Stdio m) {
    stdin_ = m;
    return *this;
  }
  SpawnOptions& stdout_mode(Stdio m) {
    stdout_ = m;
    return *this;
  }
  SpawnOptions& stderr_mode(Stdio m) {
    stderr_ = m;
    return *this;
  }
  SpawnOptions& stdin_pipe() { return stdin_mode(Stdio::pipe); }
  SpawnOptions& stdout_pipe() { return stdout_mode(Stdio::pipe); }
  SpawnOptions& stderr_pipe() { return stderr_mode(Stdio::pipe); }
  SpawnOptions& all_pipes() { return stdin_pipe().stdout_pipe().stderr_pipe(); }
  /// Environment additions on top of the parent's (validated, F01/F02).
  SpawnOptions& addl_env(EnvMap env) {
    addl_env_ = std::move(env);
    return *this;
  }
  SpawnOptions& env_policy(EnvPolicy p) {
    policy_ = std::move(p);
    return *this;
  }
  /// Working directory of the child (empty: the parent's).
  SpawnOptions& cwd(std::string dir) {
    cwd_ = std::move(dir);
    return *this;
  }
  /// Put the child in a new process group led by itself (setpgid(0, 0)), so
  /// that the group can be signalled as a whole.
  SpawnOptions& new_process_group(bool on) {
    new_group_ = on;
    return *this;
  }
  /// Pass descriptor `fd` (>= 3) to the child under the same number, on purpose.
  SpawnOptions& keep_fd(int fd) {
    keep_fds_.push_back(fd);
    return *this;
  }

  Stdio stdin_mode() const noexcept { return stdin_; }
  Stdio stdout_mode() const noexcept { return stdout_; }
  Stdio stderr_mode() const noexcept { return stderr_; }
  const EnvMap& addl_env() const noexcept { return addl_env_; }
  const EnvPolicy& env_policy() const noexcept { return policy_; }
  const std::string& cwd() const noexcept { return cwd_; }
  bool new_process_group() const noexcept { return new_group_; }
  const std::vector<int>& keep_fds() const noexcept { return keep_fds_; }

 private:
  Stdio stdin_ = Stdio::inherit;
  Stdio stdout_ = Stdio::inherit;
  Stdio stderr_ = Stdio::inherit;
  EnvMap addl_env_;
  EnvPolicy policy_ = EnvPolicy::deny_dangerous();
  std::string cwd_;
  bool new_group_ = false;
  std::vector<int> keep_fds_;
};

/// What communicate() collected.
struct Output {
  std::string out;  ///< everything read from the child's stdout
  std::string err;  ///< everything read from the child's stderr
};

/// A running (or finished) child. Move-only. Destroying a handle whose child
/// has not been reaped kills it (SIGKILL, and its process group when it leads
/// one), reaps it and closes every descriptor: no zombie, no leaked fd (F05).
class Process {
 public:
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const noexcept { return pid_; }
  /// A pidfd for the child (close-on-exec), or -1 after it was reaped.
  int pidfd() const noexcept { return pidfd_; }
  /// The parent's ends of the pipes, or -1 when not piped or already closed.
  /// The stdin end is non-blocking.
  int stdin_fd() const noexcept { return stdin_fd_; }
  int stdout_fd() const noexcept { return stdout_fd_; }
  int stderr_fd() const noexcept { return stderr_fd_; }
  /// True when the child leads its own process group (new_process_group()).
  bool leads_process_group() const noexcept { return own_group_; }

  /// Closes the parent's end of stdin (the child sees EOF).
  void close_stdin() noexcept;

  /// Writes `input` to stdin (then closes it) while reading stdout and stderr,
  /// all in one poll loop, until both reach EOF and the child has exited;
  /// then reaps it. A child that exits without reading its input is not an
  /// error (EPIPE is absorbed; the caller never sees SIGPIPE). Throws
  /// TimeoutError at `deadline` and OutputLimitError when a stream passes
  /// `max_output_bytes`; in both cases the child is left as it is (kill it
  /// with terminate() or let the destructor do it).
  Output communicate(std::string_view input = {}, std::optional<Deadline> deadline = std::nullopt,
                     std::size_t max_output_bytes = static_cast<std::size_t>(-1));

  /// Waits for the child to exit and reaps it. Idempotent.
  ExitStatus wait();
  /// Waits until `deadline`; nullopt when the child is still running then.
  std::optional<ExitStatus> wait_until(Deadline deadline);
  /// Reaps the child if it has exited; nullopt when it is still running.
  std::optional<ExitStatus> try_wait();
  /// The status as far as known without a system call.
  ExitStatus status() const noexcept { return status_; }

  /// Signals the child through its pidfd, so a recycled pid is never hit.
  /// Returns gone once the child has exited. Throws KillError otherwise.
  KillOutcome send_signal(int signal);
  /// Signals the child's process group (only when it leads one; otherwise the
  /// child alone). Safe against pid reuse while the child is unreaped.
  KillOutcome signal_group(int signal);
  /// SIGTERM, wait up to `grace`, then SIGKILL; reaps. Returns the status.
  ExitStatus terminate(std::chrono::milliseconds grace = std::chrono::seconds(1));

 private:
  friend struct detail::ProcessAccess;
  Process() = default;
  void reset() noexcept;
  void reap_blocking() noexcept;
  ExitStatus record(int how, int value) noexcept;
  [[noreturn]] void wait_failed(int error);

#ifdef _WIN32
 public:
  // Windows: pidfd() is -1; the pipe "fds" are the pipes' HANDLE values
  // (kernel handles carry 32 significant bits, so they fit an int and are
  // sign-extended back). Every handle is owned by this object.
  /// The process HANDLE (nullptr once closed).
  void* native_handle() const noexcept {
    return process_handle_;
  }
  /// The job object the child and everything it starts belong to
  /// (KILL_ON_JOB_CLOSE: destroying the handle ends the whole tree).
  void* job_handle() const noexcept {
    return job_;
  }

 private:
  void* process_handle_ = nullptr;
  void* job_ = nullptr;
  bool killed_ = false;  ///< the status comes from our own TerminateJobObject
#endif
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  bool own_group_ = false;
  ExitStatus status_;
};

/// Starts `argv` (argv[0] is searched in PATH when it holds no '/'; PATH is
/// the child's, after addl_env). Throws InvalidArgument (empty argv, NUL in an
/// argument, env refused) before anything starts, SpawnError (stage + errno)
/// when the child could not be started; in either case nothing is left
/// behind.
Process create_process(std::vector<std::string> argv, const SpawnOptions& options = {});

}  // namespace safeexec
