// safeexec/process.hpp - create_process() and the Process handle.
//
// Spawning is clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) + execve: no fork, so
// latency does not grow with the parent's memory, and no shell, ever (F11).
// argv, envp and the descriptor plan are built in the parent; the child only
// makes async-signal-safe system calls. The child starts with default
// dispositions for the signals the host handles (ignored ones stay ignored
// unless reset_ignored_signals()), an empty signal mask, the planned 0/1/2
// and nothing else open (plus the descriptors named by keep_fd()) (F06).
//
// Caller's stack: the child runs on a stack of its own (mmap'ed, with a guard
// page), so create_process() needs little of the calling thread's: it ran,
// failure path included, on a 16 KiB pthread stack (release build); 32 KiB
// is what the tests hold it to (test_spawn_hardening).
//
//   auto p = safeexec::create_process({"sort"},
//       safeexec::SpawnOptions{}.stdin_pipe().stdout_pipe());
//   auto out = p.communicate("b\na\n", safeexec::deadline_after(5s));
//   safeexec::ExitStatus st = p.wait();
//
// Thread safety: distinct Process objects may be used from distinct threads
// freely; one Process is not safe for concurrent use, except cancel(), which
// any thread may call while another runs communicate(). Every descriptor the
// library opens is close-on-exec from birth, so concurrent spawns from other
// threads (ours or anyone's) cannot inherit it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safeexec/containment.hpp"
#include "safeexec/env.hpp"
#include "safeexec/exit_status.hpp"
#include "safeexec/pid.hpp"
#include "safeexec/spawn_strategy.hpp"
#include "safeexec/stdio.hpp"
#include "safeexec/stream.hpp"

namespace safeexec {

namespace detail {
struct ProcessAccess;
struct ProcessState;
}  // namespace detail

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

/// `d` in the clock's unit, saturated: milliseconds::max() would overflow
/// the nanosecond clock if converted as it is.
template <class Rep, class Period>
constexpr Clock::duration clamp_to_clock(std::chrono::duration<Rep, Period> d) noexcept {
  using D = std::chrono::duration<Rep, Period>;
  if (d >= std::chrono::duration_cast<D>(Clock::duration::max())) return Clock::duration::max();
  if (d <= std::chrono::duration_cast<D>(Clock::duration::min())) return Clock::duration::min();
  return std::chrono::duration_cast<Clock::duration>(d);
}

/// `start + d`, saturated: never a deadline wrapped into the past.
Deadline saturating_deadline(Deadline start, Clock::duration d) noexcept;

/// A deadline `d` from now. Saturates: a duration too long to represent
/// (milliseconds::max(), say) gives the farthest deadline, never a wrapped one
/// in the past. A negative `d` gives a deadline that has already passed.
template <class Rep, class Period>
Deadline deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  return saturating_deadline(Clock::now(), clamp_to_clock(d));
}

/// How to start a child. Chainable setters; getters of the same name.
class SpawnOptions {
 public:
  /// Where the child's stdin comes from, stdout and stderr go (stdio.hpp).
  /// Not chosen: create_process() inherits the parent's stream, execute()
  /// connects a pipe.
  SpawnOptions& stdin_from(StdioRoute r) {
    stdin_ = std::move(r);
    return *this;
  }
  SpawnOptions& stdout_to(StdioRoute r) {
    stdout_ = std::move(r);
    return *this;
  }
  SpawnOptions& stderr_to(StdioRoute r) {
    stderr_ = std::move(r);
    return *this;
  }
  SpawnOptions& stdin_mode(Stdio m) { return stdin_from(m); }
  SpawnOptions& stdout_mode(Stdio m) { return stdout_to(m); }
  SpawnOptions& stderr_mode(Stdio m) { return stderr_to(m); }
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
  /// Which of the parent's variables the child inherits before the additions
  /// (default EnvInherit::all(); see env.hpp).
  SpawnOptions& inherit_env(EnvInherit i) {
    inherit_ = std::move(i);
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
  /// Pass descriptor `fd` (>= 3) to the child under the same number, on
  /// purpose. Not one a stream borrows (InvalidArgument).
  SpawnOptions& keep_fd(int fd) {
    keep_fds_.push_back(fd);
    return *this;
  }
  /// The argv[0] the child sees, when it is not the program run: the
  /// program is still found from argv[0] of the argv vector (PATH search
  /// included); only what the child reads as its name changes (CPython's
  /// executable=, Rust's Command::arg0). Windows: the command line's first
  /// token (quoted by the program-name rules); refused for a batch file. A
  /// NUL byte is InvalidArgument before anything starts.
  SpawnOptions& argv0(std::string name) {
    argv0_ = std::move(name);
    return *this;
  }
  const std::optional<std::string>& argv0() const noexcept { return argv0_; }
  /// How long the Process destructor waits for a SIGKILLed child before
  /// handing it to a background reaper (default 2 s; see Process).
  SpawnOptions& destroy_wait(std::chrono::milliseconds d) {
    destroy_wait_ = d;
    return *this;
  }

  /// Signals the host ignores (SIG_IGN) stay ignored in the child by default,
  /// as with posix_spawn and CPython (a nohup'd host's children keep SIGHUP
  /// ignored, and a host that ignores SIGPIPE passes that on); handled ones
  /// always start as SIG_DFL. true: every signal starts as SIG_DFL.
  SpawnOptions& reset_ignored_signals(bool on) {
    reset_ignored_ = on;
    return *this;
  }
  bool reset_ignored_signals() const noexcept { return reset_ignored_; }

  /// Direct clone or the spawn server (spawn_strategy.hpp; POSIX only).
  SpawnOptions& spawn_strategy(SpawnStrategy s) noexcept {
    strategy_ = s;
    return *this;
  }
  SpawnStrategy spawn_strategy() const noexcept { return strategy_; }

  /// The routes chosen (nullopt: none, see stdin_from()).
  const std::optional<StdioRoute>& stdin_route() const noexcept { return stdin_; }
  const std::optional<StdioRoute>& stdout_route() const noexcept { return stdout_; }
  const std::optional<StdioRoute>& stderr_route() const noexcept { return stderr_; }
  /// cgroup leaf, limits, rlimits, credentials... (containment.hpp).
  SpawnOptions& containment(Containment c) {
    containment_ = std::move(c);
    return *this;
  }
  const Containment& containment() const noexcept { return containment_; }

  const EnvMap& addl_env() const noexcept { return addl_env_; }
  const EnvPolicy& env_policy() const noexcept { return policy_; }
  const EnvInherit& inherit_env() const noexcept { return inherit_; }
  const std::string& cwd() const noexcept { return cwd_; }
  bool new_process_group() const noexcept { return new_group_; }
  const std::vector<int>& keep_fds() const noexcept { return keep_fds_; }
  std::chrono::milliseconds destroy_wait() const noexcept { return destroy_wait_; }

 private:
  std::optional<StdioRoute> stdin_;
  std::optional<StdioRoute> stdout_;
  std::optional<StdioRoute> stderr_;
  EnvMap addl_env_;
  EnvPolicy policy_ = EnvPolicy::deny_dangerous();
  EnvInherit inherit_ = EnvInherit::all();
  std::string cwd_;
  bool new_group_ = false;
  std::vector<int> keep_fds_;
  std::chrono::milliseconds destroy_wait_{2000};
  bool reset_ignored_ = false;
  SpawnStrategy strategy_ = SpawnStrategy::process_default;
  Containment containment_;
  std::optional<std::string> argv0_;
};

/// What communicate() collected.
struct Output {
  std::string out;  ///< everything read from the child's stdout
  std::string err;  ///< everything read from the child's stderr
};

/// A running (or finished) child. Move-only.
///
/// A caller who wants the child to outlive the handle says so: detach().
/// Destruction is bounded: destroying a handle whose child has not been
/// reaped sends SIGKILL (to its process group too when it leads one), waits
/// up to SpawnOptions::destroy_wait() for it to die, reaps it and closes every
/// descriptor: no zombie, no leaked fd (F05). A child that cannot be killed
/// in that time (it runs as another user, so kill() says EPERM, or it is
/// stuck in the kernel) is handed to a detached reaper thread that reaps it
/// whenever it exits, and a warning is logged: a destructor never blocks
/// longer than destroy_wait().
///
/// Hosts that ignore SIGCHLD or reap every child themselves (a SIGCHLD
/// handler calling waitpid(-1)): waiting never blocks inside waitid() (it
/// polls the pidfd), so it still returns when the child exits. On Linux 6.15+
/// the exit status is recovered from the pidfd (PIDFD_INFO_EXIT); on older
/// kernels wait() throws StatusLostError (an IoError with ECHILD naming
/// SIGCHLD) rather than inventing a status - and so does every later wait,
/// try_wait and terminate; status() is then ExitStatus::lost().
///
/// A child a foreign ptrace tracer holds (PTRACE_SEIZE by a debugger or a
/// monitor that has not called waitpid) has exited but cannot be reaped
/// until the tracer lets go: wait() waits for that without spinning,
/// wait_until() keeps its deadline, terminate() throws KillError and
/// execute() its TimeoutError within their bounds saying "exited, not yet
/// reapable: traced by pid N", and the destructor hands the child to the
/// background reaper after destroy_wait().
class Process {
 public:
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const noexcept;
  /// A pidfd for the child (close-on-exec), or -1 after it was reaped or on
  /// kernels without pidfds (the handle then uses the unreaped pid).
  int pidfd() const noexcept;
  /// The parent's ends of the pipes, or -1 when not piped or already closed.
  /// The stdin end is non-blocking.
  int stdin_fd() const noexcept;
  int stdout_fd() const noexcept;
  int stderr_fd() const noexcept;
  /// True when the child leads its own process group (new_process_group()).
  bool leads_process_group() const noexcept;

  /// Closes the parent's end of stdin (the child sees EOF).
  void close_stdin() noexcept;

  /// Writes `input` to stdin (then closes it) while reading stdout and stderr,
  /// all in one poll loop, until both reach EOF and the child has exited;
  /// then reaps it. A child that exits without reading its input is not an
  /// error (EPIPE is absorbed; the caller never sees SIGPIPE). When a stream
  /// passes `max_output_bytes` it throws OutputLimitError; at `deadline` it
  /// throws TimeoutError carrying the output read so far (timeout() is the
  /// time this call was given). In both cases the child is left as it is:
  /// kill it with terminate(), let the destructor do it, or - after a
  /// TimeoutError - call communicate() again to go on: the handle keeps the
  /// pump's state (how much input was written, the output so far), so the
  /// next call continues where this one stopped and returns all the output.
  /// Pass the same input again, or none; different input throws
  /// InvalidArgument. Non-empty input that cannot reach the child - its
  /// stdin is not stdin_pipe(), or is closed already (close_stdin(), or a
  /// communicate() that finished: input goes to a child once) - throws
  /// InvalidArgument before anything is read, never silently dropped.
  Output communicate(std::string_view input = {}, std::optional<Deadline> deadline = std::nullopt,
                     std::size_t max_output_bytes = static_cast<std::size_t>(-1));
  /// The same with sinks and a stdin source (stream.hpp): what a sink does
  /// not capture is absent from the Output; max_output_bytes applies to what
  /// is captured. An exception from a callback kills the child (SIGTERM and
  /// SIGKILL to its group at once), reaps it, and propagates. A continued
  /// call (after a TimeoutError) keeps the unfinished lines; pass the sinks
  /// again (they may be other objects).
  Output communicate(const Streams& streams, std::string_view input = {},
                     std::optional<Deadline> deadline = std::nullopt,
                     std::size_t max_output_bytes = static_cast<std::size_t>(-1));

  /// Waits for the child to exit and reaps it. Idempotent.
  ExitStatus wait();
  /// Waits until `deadline`; nullopt when the child is still running then.
  std::optional<ExitStatus> wait_until(Deadline deadline);
  /// Reaps the child if it has exited; nullopt when it is still running.
  std::optional<ExitStatus> try_wait();
  /// The status as far as known without a system call (ExitStatus::lost()
  /// once StatusLostError was thrown).
  ExitStatus status() const noexcept;

  /// Signals the child through its pidfd, so a recycled pid is never hit
  /// (through kill() on the unreaped pid where pidfd_send_signal is missing or
  /// refused). Returns gone once the child has exited, reaped or not (a
  /// zombie is checked for first, as CPython does). Throws KillError
  /// otherwise, InvalidArgument for a signal outside 0..64.
  KillOutcome send_signal(int signal);
  /// Signals the child's process group (only when it leads one; otherwise the
  /// child alone; and the child through its handle when it left its group,
  /// so that no group has its id any more). Safe against pid reuse while the child is unreaped.
  /// Where the kernel refuses the group signal with EPERM (a member runs as another user, or a
  /// seccomp filter refuses negative pids), each member found in /proc is signalled by pid and the
  /// leader directly: KillError only when the leader itself cannot be signalled.
  KillOutcome signal_group(int signal);
  /// SIGTERM, wait up to `grace`, then SIGKILL; reaps. Returns the status.
  /// Never waits longer than `grace` plus the time the kernel needs to
  /// deliver SIGKILL. When the child cannot be signalled (EPERM) and does not
  /// exit by itself within `grace`, throws KillError and leaves the child to
  /// the handle (its destructor then applies the bounded destroy above).
  ExitStatus terminate(std::chrono::milliseconds grace = std::chrono::seconds(1));

  /// Stops a communicate() running on another thread (or the next one):
  /// it returns promptly with CancelledError carrying the output so far,
  /// after the child was stopped as a timeout stops it in execute() -
  /// SIGTERM to its group, up to 1 s, SIGKILL, reaped. A cancelled handle
  /// stays cancelled: every later communicate() throws CancelledError at
  /// once (wait() and status() go on working). Safe to call from any
  /// thread at any time while the handle lives, idempotent, never blocks;
  /// after the child was reaped it changes nothing but that. (The pump
  /// waits on an eventfd - Windows: an event - that the handle's first
  /// communicate() makes and the handle closes.)
  void cancel() noexcept;

  /// Gives the child up on purpose: the handle stops owning it, and its
  /// destructor neither kills nor waits for it. The parent's pipe ends are
  /// closed (a child still writing to them gets EPIPE/SIGPIPE: route its
  /// streams to files or /dev/null first). POSIX: an unreaped child is
  /// handed to a background thread that reaps it whenever it exits (its
  /// status is discarded), so it never stays a zombie; it keeps its process
  /// group and signals; Containment::parent_death() still fires when the
  /// thread that started it ends. Windows: the job stops killing on close
  /// (KILL_ON_JOB_CLOSE is cleared, other limits stay) and every handle is
  /// closed. Returns the pid (for a log line: once the child exits it is
  /// reaped, and the number may be reused - never signal it by pid later).
  /// A child in a cgroup leaf (Containment::cgroup()) cannot be detached:
  /// the leaf is removed with the handle (InvalidArgument, nothing changes).
  /// After detach() the handle is empty: pid() and the fd accessors give
  /// -1, status() ExitStatus() ("running": unknown here), cancel() does
  /// nothing, cgroup_usage() and resource_usage() nullopt, and every other
  /// method throws DetachedError.
  pid_t detach();

  /// What the child's cgroup leaf has used so far (Containment::cgroup());
  /// nullopt without a leaf. Windows: what the command's job object has
  /// counted so far (every command has one). Readable until the handle is
  /// destroyed: the leaf (the job) outlives the child's exit.
  std::optional<CgroupUsage> cgroup_usage() const;
  /// What the child used (ResourceUsage), known once this handle reaped it
  /// (Windows: saw it exit); nullopt before and when someone else reaped it.
  std::optional<ResourceUsage> resource_usage() const;

 private:
  friend struct detail::ProcessAccess;
#ifdef _WIN32
 public:
  // Windows: pidfd() is -1; the pipe "fds" are the pipes' HANDLE values
  // (kernel handles carry 32 significant bits, so they fit an int and are
  // sign-extended back). Every handle is owned by this object.
  /// The process HANDLE (nullptr once closed).
  void* native_handle() const noexcept;
  /// The job object the child and everything it starts belong to
  /// (KILL_ON_JOB_CLOSE: destroying the handle ends the whole tree).
  void* job_handle() const noexcept;

 private:
#endif
  Process();
  /// Throws DetachedError naming `method` when detach() emptied the handle.
  void refuse_if_detached(const char* method) const;
  std::unique_ptr<detail::ProcessState> state_;
  bool detached_ = false;
};

/// Starts `argv` (argv[0] is searched in PATH when it holds no '/'; PATH is
/// the child's, after addl_env). Throws InvalidArgument (empty argv, NUL in an
/// argument, env refused) before anything starts, SpawnError (stage + errno)
/// when the child could not be started; in either case nothing is left
/// behind.
///
/// PATH search never runs a program from the working directory: an empty
/// entry (":/usr/bin", "/usr/bin:", PATH="") means "." to POSIX, and a
/// relative entry ("bin") is relative to it - the child's cwd(), or the
/// host's if none - where anyone who can write there could plant a program.
/// Such entries are searched only to refuse: if argv[0] is an executable file
/// there, the spawn fails with SpawnError(SpawnStage::path_lookup, EACCES)
/// (Go 1.19's exec.ErrDot), even when a later entry has it too; otherwise the
/// search goes on with the next entry. To run a program from the working
/// directory, say so: "./prog".
Process create_process(std::vector<std::string> argv, const SpawnOptions& options = {});

}  // namespace safeexec
