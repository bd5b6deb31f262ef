// spawn.cpp - create_process(): the parent side of a spawn.
//
// Order of work, and why:
//   1. Validate argv, cwd, keep_fds and the environment additions, and build
//      argv/envp/candidate paths as plain arrays. All allocation and every
//      InvalidArgument happen here, before any descriptor exists.
//   2. The stdio plan (stdio_fds.cpp): pipes, files and /dev/null, each
//      close-on-exec from birth, so a concurrent spawn on another thread -
//      ours or anyone's - cannot inherit them (F06); refused plans throw
//      InvalidArgument there. They are held by UniqueFd, so any throw closes
//      them (F05).
//   3. Block every signal, clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) onto a
//      stack mapped for the child (with a guard page), restore the mask. The
//      pidfd comes from the same syscall, so there is no window where the pid
//      could be recycled. Or the spawn server does the same for us, the
//      child still ours (spawn_launch.cpp, issue 20).
//   4. clone() returns once the child exec'd or exited. Its report in the plan
//      (shared memory) says which: a failure {stage, errno} means it has
//      exited, so reap it and throw. No pipe is read, so a fork() on another
//      thread of the host, whose copy would hold a pipe's write end, cannot
//      hold up the spawn (only the TSan build, whose child is a real fork,
//      still uses a report pipe).
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cgroup_leaf.hpp"
#include "child.hpp"
#include "child_containment.hpp"
#include "child_env.hpp"
#include "clone_child.hpp"
#include "exec_argv.hpp"
#include "kernel_features.hpp"
#include "log_internal.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "spawn_launch.hpp"
#include "stdio_fds.hpp"
#include "sys.hpp"
#include "unique_fd.hpp"

namespace safeexec {
namespace {

using detail::UniqueFd;

bool has_nul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

void validate_argv(const std::vector<std::string>& argv) {
  if (argv.empty()) throw InvalidArgument("argv is empty: there is no program to run");
  if (argv[0].empty()) throw InvalidArgument("argv[0] is empty: there is no program to run");
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (has_nul(argv[i])) {
      throw InvalidArgument("argv[" + std::to_string(i) +
                            "] holds a NUL byte; execve would silently cut it there");
    }
  }
}

void validate_keep_fds(const std::vector<int>& fds) {
  for (int fd : fds) {
    if (fd < 3) throw InvalidArgument("keep_fd(" + std::to_string(fd) + "): must be >= 3");
    if (::fcntl(fd, F_GETFD) < 0) {  // NOLINT(cppcoreguidelines-pro-type-vararg)
      throw InvalidArgument("keep_fd(" + std::to_string(fd) + "): not an open descriptor");
    }
  }
}

/// One execve candidate as the parent builds it (see detail::ExecCandidate).
struct Candidate {
  std::string path;
  bool relative_to_cwd;
};

/// Where execve is tried: argv[0] itself when it holds a '/' (a relative one
/// like "./tool" is the caller's explicit choice), else each PATH entry in
/// order. An empty entry means the current directory (POSIX) and a relative
/// one ("bin") is relative to it: both are marked, and the child refuses to
/// run a program found there (SpawnStage::path_lookup).
std::vector<Candidate> exec_candidates(const std::string& program, const std::string& path) {
  if (program.find('/') != std::string::npos) return {Candidate{program, false}};
  std::vector<Candidate> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir.assign(1, '.');  // not `= "."`: g++ 12 -O3 false -Wrestrict (PR 105329)
    const bool relative = dir.front() != '/';
    dir.append(1, '/').append(program);
    out.push_back(Candidate{std::move(dir), relative});
    start = end + 1;
  }
  return out;
}

[[noreturn]] void throw_spawn(SpawnStage stage, int error, const std::string& program) {
  SpawnError e(stage, error, program);
  detail::log(LogLevel::error, e.what());
  throw e;
}

/// The last close-on-exec fallback scans descriptors below this bound.
unsigned descriptor_limit() noexcept {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 1U << 20;
  return rl.rlim_cur > (1U << 30) ? 1U << 30 : static_cast<unsigned>(rl.rlim_cur);
}

/// Reaps a child that reported failure; it has already _exited.
void reap_failed_child(pid_t pid) noexcept {
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED) != 0 && errno == EINTR) {
  }
}

}  // namespace

Process create_process(std::vector<std::string> argv, const SpawnOptions& options) {
  // 1. Everything that can be refused is refused before any resource exists.
  validate_argv(argv);
  if (has_nul(options.cwd())) throw InvalidArgument("cwd holds a NUL byte");
  validate_keep_fds(options.keep_fds());
  // One snapshot of environ for the child's environment and the PATH lookup.
  const detail::ChildEnvironment env(options);
  std::vector<Candidate> candidates = exec_candidates(argv[0], env.search_path());
  const std::string& program = argv[0];

  std::optional<std::string> argv0 = options.argv0();
  std::vector<char*> argv_c = detail::exec_argv(argv, argv0);
  // Containment last among the refusals: it may make a cgroup leaf.
  detail::PreparedContainment containment(options.containment(), program);
  std::vector<detail::ExecCandidate> paths_c;
  paths_c.reserve(candidates.size());
  for (const Candidate& c : candidates) paths_c.push_back({c.path.c_str(), c.relative_to_cwd});

  // 2. Descriptors, each owned, each close-on-exec (stdio_fds.cpp).
  detail::StdioFds stdio = detail::open_stdio(options, program);
  detail::Pipe report;  // TSan build only: its child is a real fork, sharing no memory
  if (detail::kChildReportsThroughPipe) report = detail::make_pipe(program);

  const detail::KernelFeatures features = detail::kernel_features();
  detail::ChildPlan plan{};
  plan.exec_paths = paths_c.data();
  plan.exec_count = paths_c.size();
  plan.argv = argv_c.data();
  plan.envp = env.envp();
  plan.cwd = options.cwd().empty() ? nullptr : options.cwd().c_str();
  for (std::size_t i = 0; i < 3; ++i) plan.stdio_src[i] = stdio.source[i];
  plan.keep_fds = options.keep_fds().data();
  plan.keep_count = options.keep_fds().size();
  plan.report_fd = report.write_end ? report.write_end.get() : -1;
  // setsid makes the child a group leader itself (and fails on one).
  plan.new_process_group = options.new_process_group() && !options.containment().setsid();
  plan.reset_ignored_signals = options.reset_ignored_signals();
  plan.use_close_range = features.close_range_cloexec;
  plan.fd_limit = descriptor_limit();  // one getrlimit: cheap, and close_range may still fail
  plan.containment = containment.child_plan();
  plan.report = detail::ChildReport{0, 0, 0};

  // 3. Start the child, directly or through the spawn server (spawn_launch.cpp).
  const detail::Launched launched =
      detail::launch_child(plan, options, features, containment.cgroup_dir_fd());
  const pid_t pid = launched.pid;
  const int pidfd = launched.pidfd;
  if (pid < 0) throw_spawn(launched.stage, launched.error, program);
  UniqueFd pidfd_owner(pidfd);

  // The child has exec'd or exited (CLONE_VFORK): its ends are ours to close.
  for (detail::UniqueFd& fd : stdio.owned) fd.reset();
  report.write_end.reset();

  // 4. The child's report: written into the plan before it exited (shared
  //    memory), or, in the TSan build, sent over the pipe (EOF: exec'd).
  detail::ChildReport r = plan.report;
  if (detail::kChildReportsThroughPipe) {
    ssize_t got = 0;
    for (;;) {
      got = sys::read(report.read_end.get(), &r, sizeof r);
      if (got >= 0 || errno != EINTR) break;
    }
    const int read_errno = errno;
    if (got != 0 && got != static_cast<ssize_t>(sizeof r)) {
      // A failed read or a short report: we cannot tell whether execve
      // succeeded, and the program may be waiting on pipes we are about to
      // close. Kill it (unreaped, so the pid is still ours), reap, report.
      (void)::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0U);
      if (pidfd < 0) (void)::kill(pid, SIGKILL);
      reap_failed_child(pid);
      throw_spawn(SpawnStage::exec, got < 0 ? read_errno : EIO, program);
    }
  }
  if (r.reported != 0) {
    // The child reported {stage, errno} and has already exited.
    reap_failed_child(pid);
    throw_spawn(static_cast<SpawnStage>(r.stage), r.error, program);
  }

  if (!pidfd_owner) {
    // Kernels without CLONE_PIDFD (before 5.2; the TSan build opened its own
    // in clone_child, before its child could run, or had none to have): open
    // one now. Without pidfds at all (pre-5.3) the handle falls back to
    // pid-based waiting, as it does when pidfd_open is refused (ENOSYS,
    // EPERM): -1, never an error.
    if (features.pidfd_open && !detail::kChildReportsThroughPipe) {
      pidfd_owner.reset(sys::pidfd_open(pid));
    }
  }

  auto state = std::make_unique<detail::ProcessState>();
  state->child = detail::ChildRef(pid, pidfd_owner.release());
  state->stdin_fd = stdio.parent[0].release();
  state->stdout_fd = stdio.parent[1].release();
  state->stderr_fd = stdio.parent[2].release();
  state->own_group = options.new_process_group() || options.containment().setsid();
  state->leaf = containment.take_leaf();
  state->destroy_wait = options.destroy_wait();
  Process p = detail::ProcessAccess::make(std::move(state));
  return p;
}

}  // namespace safeexec
