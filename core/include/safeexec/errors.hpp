// safeexec/errors.hpp - the typed errors every safeexec call can raise.
//
// Every error derives from safeexec::Error, so `catch (const safeexec::Error&)`
// catches everything the library throws on purpose. Errors that come from a
// system call carry its errno (`error_code()`), and spawn failures also carry
// the stage of the child set-up that failed, so a caller can act on them
// without parsing text. No message ever holds the process input (F13).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "safeexec/exit_status.hpp"

namespace safeexec {

/// Base of every error safeexec throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A caller passed something the library refuses before any process starts:
/// an empty argv, an argument or env value holding NUL, an env key outside the
/// grammar or refused by the EnvPolicy, a pid that is not positive or above
/// pid_max, a signal number out of range.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

/// Which step of starting a child failed. The child reports the step with
/// its errno through memory it shares with the suspended parent; parent-side
/// steps report directly.
enum class SpawnStage {
  pipes,          ///< parent: creating the stdio or error pipes
  clone,          ///< parent: clone(CLONE_VM|CLONE_VFORK) itself
  signals,        ///< child: resetting signal dispositions or the mask
  process_group,  ///< child: setpgid
  stdio,          ///< child: dup2 of stdin/stdout/stderr
  close_fds,      ///< child: closing inherited descriptors
  chdir,          ///< child: changing to the requested working directory
  exec,           ///< child: execve of every candidate path failed
  /// child: argv[0] was found only through an empty or relative PATH entry,
  /// i.e. relative to the child's working directory; refused (EACCES) - see
  /// create_process() in process.hpp.
  path_lookup,
  /// parent: opening a file a stream is routed to, or duplicating a
  /// borrowed handle (stdio.hpp); the message names the stream and the route.
  redirect,
  // Containment (containment.hpp, issue 19):
  cgroup,        ///< parent: making the leaf; child: joining it through cgroup.procs
  session,       ///< child: setsid
  rlimit,        ///< child: setrlimit (prlimit64)
  credentials,   ///< child: setgroups, setresgid, setresuid
  no_new_privs,  ///< child: PR_SET_NO_NEW_PRIVS
  parent_death,  ///< child: PR_SET_PDEATHSIG, or the parent was already gone (ESRCH)
  /// parent: the spawn server (spawn_strategy.hpp) died or broke its protocol
  /// while it held this request; a child it had made was killed and reaped.
  spawn_server,
};

/// The stable name of a stage ("exec", "chdir", ...).
const char* to_string(SpawnStage stage) noexcept;

/// An error that carries an errno value.
class SystemError : public Error {
 public:
  SystemError(const std::string& what, int error_code);
  /// The errno value of the failing call.
  int error_code() const noexcept { return error_code_; }

 private:
  int error_code_;
};

/// Starting the child failed; nothing is left behind (the child, if one was
/// created, has been reaped, and every descriptor is closed).
class SpawnError : public SystemError {
 public:
  SpawnError(SpawnStage stage, int error_code, const std::string& program);
  /// With what was being done, for the message ("stdout to the file 'x'").
  SpawnError(SpawnStage stage, int error_code, const std::string& program,
             const std::string& doing);
  SpawnStage stage() const noexcept { return stage_; }
  /// The program (argv[0]) that was being started.
  const std::string& program() const noexcept { return program_; }

 private:
  SpawnStage stage_;
  std::string program_;
};

/// A poll/read/write/wait on a running child failed with an errno that is not
/// a retry (EINTR and EAGAIN are retried internally).
class IoError : public SystemError {
 public:
  using SystemError::SystemError;
};

/// The child has exited but its exit status is gone: the host process
/// ignores SIGCHLD (SIG_IGN or SA_NOCLDWAIT, so the kernel reaped it) or a
/// SIGCHLD handler of the host reaped it with waitpid(-1), on a kernel older
/// than 6.15, whose pidfds cannot recover the status. error_code() is ECHILD.
class StatusLostError : public IoError {
 public:
  using IoError::IoError;
};

/// execute(): the child ended with a status the caller did not accept.
/// The message holds the masked argv, the status, and bounded excerpts of
/// stdout/stderr, never the process input.
class ProcessExecutionError : public Error {
 public:
  ProcessExecutionError(const std::string& what, ExitStatus status, std::string stdout_excerpt,
                        std::string stderr_excerpt);
  const ExitStatus& status() const noexcept { return status_; }
  /// -1 when the child was killed by a signal.
  int exit_code() const noexcept { return status_.exit_code(); }
  const std::string& stdout_excerpt() const noexcept { return stdout_excerpt_; }
  const std::string& stderr_excerpt() const noexcept { return stderr_excerpt_; }

 private:
  ExitStatus status_;
  std::string stdout_excerpt_;
  std::string stderr_excerpt_;
};

/// The deadline passed. When raised by execute(), the child and its process
/// group have been killed and reaped before the throw. Carries what the child
/// wrote before the deadline (as CPython's TimeoutExpired does); the message
/// never holds it.
class TimeoutError : public Error {
 public:
  TimeoutError(const std::string& what, std::chrono::milliseconds timeout,
               std::string partial_stdout = {}, std::string partial_stderr = {});
  /// The time the call was given.
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }
  /// stdout / stderr read before the deadline.
  const std::string& partial_stdout() const noexcept { return partial_stdout_; }
  const std::string& partial_stderr() const noexcept { return partial_stderr_; }

 private:
  std::chrono::milliseconds timeout_;
  std::string partial_stdout_;
  std::string partial_stderr_;
};

/// The run was cancelled (CancelSource::cancel(), Process::cancel(); see
/// cancel.hpp). When raised by execute() or communicate(), the child and its
/// process group have been stopped as on a timeout (SIGTERM, the grace,
/// SIGKILL) and reaped before the throw; execute() throws it before starting
/// anything when the token was cancelled already. Carries what the child
/// wrote before the cancel, as TimeoutError does; the message never holds it.
class CancelledError : public Error {
 public:
  CancelledError(const std::string& what, std::string partial_stdout = {},
                 std::string partial_stderr = {});
  const std::string& partial_stdout() const noexcept { return partial_stdout_; }
  const std::string& partial_stderr() const noexcept { return partial_stderr_; }

 private:
  std::string partial_stdout_;
  std::string partial_stderr_;
};

/// A Process method was called after Process::detach(): the handle owns
/// no child any more, so there is nothing it could wait for or signal.
class DetachedError : public Error {
 public:
  using Error::Error;
};

/// A child wrote more than max_output_bytes on one stream. When raised by
/// execute(), the child and its process group have been killed and reaped.
class OutputLimitError : public Error {
 public:
  OutputLimitError(const std::string& what, std::string stream, std::size_t limit);
  /// "stdout" or "stderr".
  const std::string& stream() const noexcept { return stream_; }
  std::size_t limit() const noexcept { return limit_; }

 private:
  std::string stream_;
  std::size_t limit_;
};

/// kill_process() could not deliver a signal to a process that still exists
/// (EPERM, for instance), or - with `why` - signalled a process that could
/// then not be reaped in time (ETIMEDOUT; `why` says what held it, e.g.
/// "exited, not yet reapable: traced by pid 42"). Logged once at error level
/// when raised.
class KillError : public SystemError {
 public:
  KillError(pid_t pid, int signal, int error_code, const std::string& why = {});
  pid_t pid() const noexcept { return pid_; }
  int signal() const noexcept { return signal_; }

 private:
  pid_t pid_;
  int signal_;
};

}  // namespace safeexec
