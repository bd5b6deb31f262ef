// safeexec/containment.hpp - what a child may use and become (issue 19).
//
// One Containment value on SpawnOptions (SpawnOptions::containment()) says
// everything: a cgroup v2 leaf of its own, resource limits of that leaf, and
// the per-process steps the child takes before execve (rlimits, umask,
// no_new_privs, a parent-death signal, a new session, credentials). Nothing
// here is a silent no-op: what the host cannot provide is refused with a
// typed error before anything starts (Linux), or with InvalidArgument naming
// the option where the platform has no such thing (Windows).
//
//   auto opts = safeexec::SpawnOptions{}.containment(
//       safeexec::Containment{}
//           .cgroup(safeexec::CgroupOptions{}.pids_max(64))
//           .no_new_privs(true)
//           .rlimit(RLIMIT_CORE, 0, 0));
//
// cgroup (Linux, cgroup v2 only - a v1 hierarchy is never touched):
//   * a fresh leaf "safeexec-<pid>-<n>" is made under parent() or, when none
//     is named, under the caller's own v2 cgroup (found from
//     /proc/self/cgroup and the cgroup2 mount in /proc/self/mountinfo);
//   * the child is in the leaf before it runs any code of its own: clone3
//     with CLONE_INTO_CGROUP (Linux 5.7+, x86-64); elsewhere the child writes
//     itself into cgroup.procs (opened by the parent) before execve, and the
//     spawn fails with SpawnError(SpawnStage::cgroup) if it cannot;
//   * the handle's kills (terminate(), signal_group(), execute()'s timeout,
//     the destructor) reach every process in the leaf - a setsid()'d,
//     double-forked daemon included: SIGKILL through cgroup.kill (5.14+),
//     otherwise freeze the leaf, signal each member in cgroup.procs, thaw;
//   * the destructor kills what is left, waits (bounded) until the leaf is
//     empty and removes it; a leaf that cannot be removed is logged once;
//   * limits (memory.max, memory.swap.max, pids.max, cpu.max) are written
//     before the child starts; a limit whose controller the parent does not
//     enable for its children (cgroup.subtree_control) is refused with
//     ContainmentError naming the controller, before anything starts.
//
// Windows: every command already runs in a job object of its own (kill on
// close); its limits are set on that job before the child exists (the job is
// made before CreateProcessW, the child created suspended, assigned, then
// resumed). cgroup(CgroupOptions) maps where the meaning is the same:
//   memory_max  -> JOB_OBJECT_LIMIT_JOB_MEMORY (committed memory of the job)
//   pids_max    -> JOB_OBJECT_LIMIT_ACTIVE_PROCESS (processes alive at once)
//   cpu_max     -> CPU rate control, hard cap (quota / period / processors)
// and refuses what has none (parent(): no cgroup tree; memory_swap_max():
// commit has no separate swap part) with InvalidArgument; remove_wait() has
// nothing to wait for. JobLimits adds what only a job has (per-process
// memory, user-mode CPU time). A limit the job cannot take (SetInformation-
// JobObject fails) is a ContainmentError naming the limit, and nothing is
// left (no process exists yet). rlimit, umask, no_new_privs,
// parent_death_signal, setsid and credentials are refused with InvalidArgument.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "safeexec/errors.hpp"

namespace safeexec {

/// A resource the host cannot provide as asked: a cgroup controller that is
/// not enabled, no writable cgroup v2 parent. Thrown before anything starts.
class ContainmentError : public SystemError {
 public:
  using SystemError::SystemError;
};

/// cpu.max: `quota` of CPU time in each `period`.
struct CpuMax {
  std::chrono::microseconds quota;
  std::chrono::microseconds period{100000};
};

/// The cgroup v2 leaf a child runs in. Chainable setters; getters of the same name.
class CgroupOptions {
 public:
  /// The cgroup the leaf is made under: an absolute path inside the cgroup2
  /// mount (e.g. "/sys/fs/cgroup/unified/jobs"). Empty (the default): the
  /// caller's own v2 cgroup.
  CgroupOptions& parent(std::string dir) {
    parent_ = std::move(dir);
    return *this;
  }
  /// memory.max in bytes (memory controller).
  CgroupOptions& memory_max(std::uint64_t bytes) {
    memory_max_ = bytes;
    return *this;
  }
  /// memory.swap.max in bytes (memory controller).
  CgroupOptions& memory_swap_max(std::uint64_t bytes) {
    memory_swap_max_ = bytes;
    return *this;
  }
  /// pids.max: tasks the leaf may hold at once (pids controller).
  CgroupOptions& pids_max(std::uint64_t n) {
    pids_max_ = n;
    return *this;
  }
  /// cpu.max (cpu controller).
  CgroupOptions& cpu_max(CpuMax m) {
    cpu_max_ = m;
    return *this;
  }
  /// How long the destructor waits for the killed leaf to empty before it
  /// gives up removing it (and logs that). Default 2 s.
  CgroupOptions& remove_wait(std::chrono::milliseconds d) {
    remove_wait_ = d;
    return *this;
  }

  const std::string& parent() const noexcept { return parent_; }
  const std::optional<std::uint64_t>& memory_max() const noexcept { return memory_max_; }
  const std::optional<std::uint64_t>& memory_swap_max() const noexcept { return memory_swap_max_; }
  const std::optional<std::uint64_t>& pids_max() const noexcept { return pids_max_; }
  const std::optional<CpuMax>& cpu_max() const noexcept { return cpu_max_; }
  std::chrono::milliseconds remove_wait() const noexcept { return remove_wait_; }

 private:
  std::string parent_;
  std::optional<std::uint64_t> memory_max_;
  std::optional<std::uint64_t> memory_swap_max_;
  std::optional<std::uint64_t> pids_max_;
  std::optional<CpuMax> cpu_max_;
  std::chrono::milliseconds remove_wait_{2000};
};

/// One setrlimit the child makes before execve.
struct Rlimit {
  int resource;  ///< RLIMIT_*
  std::uint64_t soft;
  std::uint64_t hard;  ///< RLIM_INFINITY for none
};

/// Who the child runs as. The child drops in the only safe order:
/// supplementary groups, then the gid, then the uid (after setuid it could
/// no longer change its groups).
/// (Plain 32-bit ids: the header also compiles where uid_t does not exist.)
struct Credentials {
  std::uint32_t uid;
  std::uint32_t gid;
  std::vector<std::uint32_t> groups;  ///< replaces every supplementary group (empty: none)
};

/// Limits only a Windows job object has (Containment::job_limits(); refused
/// with InvalidArgument on Linux, where rlimit() and cgroup() are the tools).
/// Each is set on the command's job before the child exists; 0 is refused
/// (leave a limit unset for none).
class JobLimits {
 public:
  /// JOB_OBJECT_LIMIT_PROCESS_MEMORY: committed memory of each process in the
  /// job; an allocation past it fails in that process.
  JobLimits& process_memory_max(std::uint64_t bytes) {
    process_memory_max_ = bytes;
    return *this;
  }
  /// JOB_OBJECT_LIMIT_PROCESS_TIME: user-mode CPU time of each process; one
  /// that uses more is terminated by Windows.
  JobLimits& process_user_time_max(std::chrono::microseconds t) {
    process_user_time_max_ = t;
    return *this;
  }
  /// JOB_OBJECT_LIMIT_JOB_TIME: user-mode CPU time of all the job's processes
  /// together; past it Windows terminates every process of the job.
  JobLimits& job_user_time_max(std::chrono::microseconds t) {
    job_user_time_max_ = t;
    return *this;
  }

  const std::optional<std::uint64_t>& process_memory_max() const noexcept {
    return process_memory_max_;
  }
  const std::optional<std::chrono::microseconds>& process_user_time_max() const noexcept {
    return process_user_time_max_;
  }
  const std::optional<std::chrono::microseconds>& job_user_time_max() const noexcept {
    return job_user_time_max_;
  }

 private:
  std::optional<std::uint64_t> process_memory_max_;
  std::optional<std::chrono::microseconds> process_user_time_max_;
  std::optional<std::chrono::microseconds> job_user_time_max_;
};

/// Everything the child is confined by. Chainable setters; getters of the same name.
class Containment {
 public:
  /// Run the child in a fresh cgroup v2 leaf (Linux); on Windows the limits
  /// go to the command's job object (see the mapping at the top).
  Containment& cgroup(CgroupOptions c) {
    cgroup_ = std::move(c);
    return *this;
  }
  /// Limits of the command's job object (Windows only).
  Containment& job_limits(JobLimits j) {
    job_limits_ = j;
    return *this;
  }
  /// setrlimit(resource, {soft, hard}) in the child; may be given repeatedly.
  Containment& rlimit(int resource, std::uint64_t soft, std::uint64_t hard) {
    rlimits_.push_back(Rlimit{resource, soft, hard});
    return *this;
  }
  /// umask(mask) in the child (0 to 0777).
  Containment& umask(std::uint32_t mask) {
    umask_ = mask;
    return *this;
  }
  /// PR_SET_NO_NEW_PRIVS: execve never grants privileges (setuid bits and
  /// file capabilities are ignored), for the child and all it starts.
  Containment& no_new_privs(bool on) {
    no_new_privs_ = on;
    return *this;
  }
  /// PR_SET_PDEATHSIG: the child gets `signal` when the thread that spawned
  /// it exits (Linux ties it to the thread, not the process). A child whose
  /// parent died before it could ask is not started (the race is closed: it
  /// checks getppid() against the parent recorded before clone).
  Containment& parent_death_signal(int signal) {
    pdeath_signal_ = signal;
    return *this;
  }
  /// setsid(): the child leads a new session (and so a new process group,
  /// whichever SpawnOptions::new_process_group() says), with no controlling
  /// terminal.
  Containment& setsid(bool on) {
    setsid_ = on;
    return *this;
  }
  /// Change groups, gid and uid (in that order) in the child. Needs
  /// CAP_SETUID/CAP_SETGID: refused with SpawnError(SpawnStage::credentials,
  /// EPERM) otherwise.
  Containment& credentials(Credentials c) {
    credentials_ = std::move(c);
    return *this;
  }

  const std::optional<CgroupOptions>& cgroup() const noexcept { return cgroup_; }
  const std::optional<JobLimits>& job_limits() const noexcept { return job_limits_; }
  const std::vector<Rlimit>& rlimits() const noexcept { return rlimits_; }
  const std::optional<std::uint32_t>& umask() const noexcept { return umask_; }
  bool no_new_privs() const noexcept { return no_new_privs_; }
  int parent_death_signal() const noexcept { return pdeath_signal_; }
  bool setsid() const noexcept { return setsid_; }
  const std::optional<Credentials>& credentials() const noexcept { return credentials_; }

 private:
  std::optional<CgroupOptions> cgroup_;
  std::optional<JobLimits> job_limits_;
  std::vector<Rlimit> rlimits_;
  std::optional<std::uint32_t> umask_;
  bool no_new_privs_ = false;
  int pdeath_signal_ = 0;
  bool setsid_ = false;
  std::optional<Credentials> credentials_;
};

/// What the processes of a cgroup leaf used, as the kernel counts it. A
/// field is nullopt ("unknown") when its file does not exist in the leaf
/// (memory.peak and memory.events need the memory controller; cpu.stat's
/// user/system are there on every v2 cgroup).
/// Windows: what the command's job object counted for every process it ever
/// held (JOBOBJECT_BASIC_ACCOUNTING_INFORMATION TotalUserTime/TotalKernelTime;
/// PeakJobMemoryUsed, committed memory, for memory_peak_bytes); oom_kills is
/// unknown (a job refuses allocations, it kills nothing).
struct CgroupUsage {
  std::optional<std::chrono::microseconds> cpu_user;
  std::optional<std::chrono::microseconds> cpu_system;
  std::optional<std::uint64_t> memory_peak_bytes;
  std::optional<std::uint64_t> oom_kills;  ///< memory.events oom_kill
  /// "cpu user 12us system 3us, memory peak unknown, oom kills unknown".
  std::string str() const;
};

/// What one finished child used, as the kernel counted it when it was
/// reaped (Linux: the rusage of the reaping waitid, on the pidfd and the pid
/// paths alike). The child alone: descendants it did not wait for are not in
/// it (a cgroup leaf counts those: CgroupUsage).
/// Windows: read when the handle first sees the exit - GetProcessTimes
/// (user, kernel) and the peak working set (GetProcessMemoryInfo, the
/// resident peak like ru_maxrss; 0 where Windows does not say). Wine 8
/// reports 0 for another process's times and usually its memory.
struct ResourceUsage {
  std::chrono::microseconds cpu_user;
  std::chrono::microseconds cpu_system;
  std::uint64_t max_rss_bytes;
};

}  // namespace safeexec
