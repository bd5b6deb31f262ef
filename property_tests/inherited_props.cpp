// inherited_props.cpp - a child started through the spawn server starts
// where a direct child of the same caller starts (FINDINGS.md S19, S20).
//
// For any set of changes a caller makes after its server started - to the
// calling thread (nice value, scheduling policy, CPU affinity, timer slack,
// I/O priority) and to the process (umask, working directory, oom_score_adj,
// the core, descriptor and stack limits, an ignored signal, personality, a
// new UTS or mount namespace, no_new_privs, a seccomp filter, a capability
// dropped from the bounding set, new credentials: a supplementary group and
// nobody's uid and gid), applied in any order in a forked copy of the
// property - a child spawned
// with SpawnStrategy::server and one spawned with SpawnStrategy::direct
// read the same in /proc: I1 every inherited attribute below is equal; I2
// the direct child has the caller's nice value, umask, oom_score_adj,
// credentials, capabilities, no_new_privs and filter count as they are at
// the spawn, so the comparison is not between two children that
// both missed the changes; I3 nothing is left in the fork (both children
// and its server killed and reaped, no descriptor it did not have) and
// nothing in the property's process (LeakGuard). The cases are tagged with
// the path the served spawn took: a thread whose state differs from the
// server's spawns directly, by design.
//
// Nice value, oom_score_adj and the limits only go up (the limits down),
// which anyone may do; a namespace, the bounding set and credentials need
// root, a seccomp filter root or no_new_privs first, and without them that
// change is not made and the case is tagged "some not permitted" (after a
// change to nobody, every later one that needs root is). Without CAP_SYS_NICE another process's
// timer slack reads empty on both sides. Where no server can run (a TSan
// build, a ci/kernels profile without clone3 or pidfds) every spawn is
// direct and the property says so once.
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <rapidcheck.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "prop_gtest.hpp"
#include "safeexec/safeexec.hpp"
#include "safeexec/testing/spawn_server.hpp"
#include "support.hpp"
#include "support/child_census.hpp"

namespace safeexec_props {
namespace {

using namespace std::chrono_literals;

/// One change of the caller's, made after its server started.
enum class Kind {
  nice,
  sched_batch,
  affinity,
  timer_slack,
  io_priority,
  umask,
  cwd,
  oom_score_adj,
  core_limit,
  ignore_sigusr2,
  no_aslr,
  uts_namespace,
  mount_namespace,
  nofile_limit,
  stack_limit,
  no_new_privs,
  seccomp_filter,
  capability_bound,
  credentials,
};

struct Change {
  Kind kind = Kind::nice;
  long value = 0;  ///< what the kind needs: a nice value, a mask, a level...
};

std::string show(const Change& c) {
  static const char* const names[] = {"nice",
                                      "sched_batch",
                                      "affinity",
                                      "timer_slack",
                                      "io_priority",
                                      "umask",
                                      "cwd",
                                      "oom_score_adj",
                                      "core_limit",
                                      "ignore_sigusr2",
                                      "no_aslr",
                                      "uts_namespace",
                                      "mount_namespace",
                                      "nofile_limit",
                                      "stack_limit",
                                      "no_new_privs",
                                      "seccomp_filter",
                                      "capability_bound",
                                      "credentials"};
  return std::string(names[static_cast<int>(c.kind)]) + "=" + std::to_string(c.value);
}

/// The values each kind draws from, [lo, hi), in the order of Kind: a nice
/// value, the bits that pick CPUs, a timer slack in ns, a best-effort I/O
/// level, a umask, one of three directories, an oom_score_adj (raising it
/// needs no privilege; lowering it needs CAP_SYS_RESOURCE), a core limit, a
/// hostname's number, a descriptor limit, a stack limit in KiB, a
/// capability number to drop from the bounding set, a supplementary group.
constexpr std::pair<long, long> kRanges[] = {
    {1, 20},    {0, 1},       {1, 1L << 30}, {1, 2000000},  {0, 8},
    {0, 01000}, {0, 3},       {0, 1001},     {0, 1L << 20}, {0, 1},
    {0, 1},     {0, 1000000}, {0, 1},        {256, 4096},   {1024, 65536},
    {0, 1},     {0, 1},       {0, 41},       {1, 60000}};

rc::Gen<Change> gen_change() {
  return rc::gen::mapcat(
      rc::gen::element(Kind::nice, Kind::sched_batch, Kind::affinity, Kind::timer_slack,
                       Kind::io_priority, Kind::umask, Kind::cwd, Kind::oom_score_adj,
                       Kind::core_limit, Kind::ignore_sigusr2, Kind::no_aslr, Kind::uts_namespace,
                       Kind::mount_namespace, Kind::nofile_limit, Kind::stack_limit,
                       Kind::no_new_privs, Kind::seccomp_filter, Kind::capability_bound,
                       Kind::credentials),
      [](Kind k) {
        const auto [lo, hi] = kRanges[static_cast<int>(k)];
        return rc::gen::map(rc::gen::inRange(lo, hi), [k](long v) { return Change{k, v}; });
      });
}

/// What apply() says of a change only privilege could make (a namespace, for
/// a caller without CAP_SYS_ADMIN): not made, and tagged, not a failure.
constexpr const char* kNotPermitted = "not permitted here";

/// Lowers (never raises) one soft limit to `value`.
std::string lower_soft_limit(int resource, rlim_t value) {
  rlimit r{};
  if (::getrlimit(resource, &r) != 0) return "getrlimit";
  r.rlim_cur = std::min(r.rlim_cur, value);
  return ::setrlimit(resource, &r) == 0 ? "" : "setrlimit";
}

/// A seccomp filter that allows every call: the caller's Seccomp mode and
/// filter count change, and what it allows does not. Without no_new_privs
/// it needs CAP_SYS_ADMIN.
std::string install_allow_all_filter() {
  sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  sock_fprog prog{1, &allow};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0) return "";
  return errno == EACCES || errno == EPERM ? kNotPermitted : "seccomp";
}

/// Root only: one supplementary group, then nobody's gid and uid (the
/// capabilities go with the uid). The process is made dumpable again, as
/// it was, so that its /proc files stay its own (a change of uid makes
/// them root's).
std::string become_nobody(long group) {
  constexpr uid_t kNobody = 65534;
  const gid_t groups[] = {static_cast<gid_t>(group)};
  if (::setgroups(1, groups) != 0) return errno == EPERM ? kNotPermitted : "setgroups";
  if (::setresgid(kNobody, kNobody, kNobody) != 0) return "setresgid";
  if (::setresuid(kNobody, kNobody, kNobody) != 0) return "setresuid";
  return ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0 ? "" : "PR_SET_DUMPABLE";
}

/// Makes one change in this (forked) process; "" or why it could not.
std::string apply(const Change& c) {
  switch (c.kind) {
    case Kind::nice: {
      // Only up: lowering it again needs CAP_SYS_NICE.
      errno = 0;
      const int now = ::getpriority(PRIO_PROCESS, 0);
      if (errno != 0) return "getpriority";
      const int want = std::max(now, static_cast<int>(c.value));
      return ::setpriority(PRIO_PROCESS, 0, want) == 0 ? "" : "setpriority";
    }
    case Kind::sched_batch: {
      const sched_param p{};
      return ::sched_setscheduler(0, SCHED_BATCH, &p) == 0 ? "" : "sched_setscheduler";
    }
    case Kind::affinity: {
      cpu_set_t now;
      CPU_ZERO(&now);
      if (::sched_getaffinity(0, sizeof now, &now) != 0) return "sched_getaffinity";
      // The allowed CPUs the value's bits pick (at least one of them).
      cpu_set_t want;
      CPU_ZERO(&want);
      int seen = 0;
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &now)) continue;
        if ((c.value >> (seen % 30)) & 1) CPU_SET(cpu, &want);
        ++seen;
      }
      if (CPU_COUNT(&want) == 0) return "";  // the same set: nothing changes
      return ::sched_setaffinity(0, sizeof want, &want) == 0 ? "" : "sched_setaffinity";
    }
    case Kind::timer_slack:
      return ::prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(c.value), 0, 0, 0) == 0
                 ? ""
                 : "PR_SET_TIMERSLACK";
    case Kind::io_priority: {
      constexpr int kWhoProcess = 1;  // IOPRIO_WHO_PROCESS: 0 is the calling thread
      constexpr int kClassBestEffort = 2;
      const long prio = (kClassBestEffort << 13) | c.value;
      return ::syscall(SYS_ioprio_set, kWhoProcess, 0, prio) == 0 ? "" : "ioprio_set";
    }
    case Kind::umask:
      (void)::umask(static_cast<mode_t>(c.value));
      return "";
    case Kind::cwd: {
      static const char* const dirs[] = {"/", "/tmp", "/usr"};
      return ::chdir(dirs[c.value]) == 0 ? "" : "chdir";
    }
    case Kind::oom_score_adj: {
      // Only up: lowering it below where it started needs CAP_SYS_RESOURCE.
      std::FILE* f = std::fopen("/proc/self/oom_score_adj", "r+");
      if (f == nullptr) return "open oom_score_adj";
      long now = 0;
      const bool read = std::fscanf(f, "%ld", &now) == 1;
      std::rewind(f);
      const bool ok = read && std::fprintf(f, "%ld\n", std::max(now, c.value)) > 0;
      return std::fclose(f) == 0 && ok ? "" : "write oom_score_adj";
    }
    case Kind::core_limit: {
      rlimit r{};
      if (::getrlimit(RLIMIT_CORE, &r) != 0) return "getrlimit";
      r.rlim_cur = std::min<rlim_t>(static_cast<rlim_t>(c.value), r.rlim_max);
      return ::setrlimit(RLIMIT_CORE, &r) == 0 ? "" : "setrlimit";
    }
    case Kind::ignore_sigusr2:
      return ::signal(SIGUSR2, SIG_IGN) != SIG_ERR ? "" : "signal";
    case Kind::no_aslr: {
      const int now = ::personality(0xffffffff);
      return now >= 0 && ::personality(static_cast<unsigned long>(now) | ADDR_NO_RANDOMIZE) >= 0
                 ? ""
                 : "personality";
    }
    case Kind::uts_namespace: {
      if (::unshare(CLONE_NEWUTS) != 0)
        return errno == EPERM ? kNotPermitted : "unshare(CLONE_NEWUTS)";
      const std::string name = "prop-" + std::to_string(c.value);
      return ::sethostname(name.c_str(), name.size()) == 0 ? "" : "sethostname";
    }
    case Kind::mount_namespace:
      if (::unshare(CLONE_NEWNS) != 0)
        return errno == EPERM ? kNotPermitted : "unshare(CLONE_NEWNS)";
      return "";
    case Kind::nofile_limit:
      return lower_soft_limit(RLIMIT_NOFILE, static_cast<rlim_t>(c.value));
    case Kind::stack_limit:
      return lower_soft_limit(RLIMIT_STACK, static_cast<rlim_t>(c.value) * 1024);
    case Kind::no_new_privs:
      return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? "" : "PR_SET_NO_NEW_PRIVS";
    case Kind::seccomp_filter:
      return install_allow_all_filter();
    case Kind::capability_bound:
      // Dropping from the bounding set needs CAP_SETPCAP; a capability that
      // is already out of it (or beyond what this kernel knows) drops again.
      if (::prctl(PR_CAPBSET_DROP, static_cast<unsigned long>(c.value), 0, 0, 0) == 0) return "";
      return errno == EPERM ? kNotPermitted : errno == EINVAL ? "" : "PR_CAPBSET_DROP";
    case Kind::credentials:
      return become_nobody(c.value);
  }
  return "unknown change";
}

using safeexec_test_support::proc_pid_file;
using safeexec_test_support::stat_field;
using safeexec_test_support::status_value;

std::string proc_link(pid_t pid, const std::string& name) {
  char buf[4096];
  const std::string path = safeexec_test_support::proc_path("/" + std::to_string(pid) + "/" + name);
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "?";
}

/// What a child inherited, as /proc shows it.
std::map<std::string, std::string> inherited(pid_t pid) {
  std::map<std::string, std::string> out;
  const std::string status = proc_pid_file(pid, "status");
  for (const char* key : {"Umask", "SigIgn", "SigBlk", "Cpus_allowed_list", "NoNewPrivs", "Seccomp",
                          "Seccomp_filters", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                          "Uid", "Gid", "Groups"}) {
    out[key] = status_value(status, key);
  }
  const std::string stat = proc_pid_file(pid, "stat");
  out["nice"] = stat_field(stat, 19);
  out["rt_priority"] = stat_field(stat, 40);
  out["policy"] = stat_field(stat, 41);
  out["pgrp"] = stat_field(stat, 5);
  out["session"] = stat_field(stat, 6);
  out["cwd"] = proc_link(pid, "cwd");
  out["root"] = proc_link(pid, "root");
  for (const char* ns : {"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}) {
    out[std::string("ns/") + ns] = proc_link(pid, std::string("ns/") + ns);
  }
  out["cgroup"] = proc_pid_file(pid, "cgroup");
  out["oom_score_adj"] = proc_pid_file(pid, "oom_score_adj");
  out["timerslack_ns"] = proc_pid_file(pid, "timerslack_ns");
  out["personality"] = proc_pid_file(pid, "personality");
  out["limits"] = proc_pid_file(pid, "limits");
  constexpr int kWhoProcess = 1;
  out["ioprio"] = std::to_string(::syscall(SYS_ioprio_get, kWhoProcess, pid));
  return out;
}

/// The fork's side: starts its own server, makes the changes, spawns one
/// sleeper each way and compares them. The report's first line says which
/// path the served spawn took ("via server" or "via direct": a thread whose
/// state differs from the server's spawns directly), the second which
/// changes were not permitted here; the rest is what differed.
std::string compare_in_this_process(const std::vector<Change>& changes) {
  namespace hooks = safeexec::testing;
  const auto with = [](safeexec::SpawnStrategy s) {
    return safeexec::SpawnOptions{}.spawn_strategy(s);
  };
  const std::set<int> fds_before = open_fds();
  struct ServerReset {  // the fork's server goes on every return
    ~ServerReset() { safeexec::testing::reset_spawn_server(); }
  } reset_at_end;
  hooks::reset_spawn_server();
  {
    safeexec::Process first = safeexec::create_process({helper_path(), "exit", "0"},
                                                       with(safeexec::SpawnStrategy::server));
    if (!first.wait().success()) return "via ?\n\nthe first spawn through the server failed";
  }
  if (hooks::spawn_server_pid() <= 0) return "via ?\n\nno server started in the fork";
  std::string not_permitted;
  for (const Change& c : changes) {
    const std::string why = apply(c);
    if (why == kNotPermitted) {
      not_permitted += " " + show(c);
    } else if (!why.empty()) {
      return "via ?\n\n" + show(c) + ": " + why + " failed";
    }
  }
  const std::vector<std::string> sleeper = {helper_path(), "sleep", "10000"};
  std::string diff;
  std::string via = "?";
  {
    safeexec::Process direct =
        safeexec::create_process(sleeper, with(safeexec::SpawnStrategy::direct));
    const unsigned served_before = hooks::spawns_through_server();
    safeexec::Process served =
        safeexec::create_process(sleeper, with(safeexec::SpawnStrategy::server));
    via = hooks::spawns_through_server() > served_before ? "server" : "direct";
    const auto a = inherited(direct.pid());
    const auto b = inherited(served.pid());
    for (const auto& [key, value] : a) {
      if (b.at(key) != value) {
        diff += " " + key + ": direct \"" + value + "\" server \"" + b.at(key) + "\";";
      }
    }
    // I2: the direct child has what the caller has now (the reference is
    // not two children that both missed the changes).
    errno = 0;
    const int nice = ::getpriority(PRIO_PROCESS, 0);
    if (a.at("nice") != std::to_string(nice))
      diff += " the direct child's nice is " + a.at("nice") + ";";
    const std::string own = proc_pid_file(::getpid(), "status");
    for (const char* key :
         {"Umask", "Uid", "Gid", "Groups", "NoNewPrivs", "Seccomp_filters", "CapBnd"}) {
      if (a.at(key) != status_value(own, key))
        diff += std::string(" the direct child's ") + key + " is " + a.at(key) + ";";
    }
    if (a.at("oom_score_adj") != proc_pid_file(::getpid(), "oom_score_adj")) {
      diff += " the direct child's oom_score_adj is " + a.at("oom_score_adj") + ";";
    }
    (void)direct.terminate(0ms);
    (void)served.terminate(0ms);
  }
  // I3: both children reaped, the fork's server too, no descriptor left.
  safeexec::testing::reset_spawn_server();
  int status = 0;
  errno = 0;
  if (::waitpid(-1, &status, WNOHANG) != -1 || errno != ECHILD) diff += " a child was left;";
  for (const int fd : open_fds()) {
    if (fds_before.count(fd) == 0) diff += " descriptor " + std::to_string(fd) + " was left;";
  }
  return "via " + via + "\n" + not_permitted + "\n" + diff;
}

/// Runs the comparison in a forked copy (the changes are for good); its
/// report comes back through a pipe, within a bound (a hung fork is killed;
/// one whose parent dies is killed by the kernel).
std::string compare_in_a_fork(const std::vector<Change>& changes) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return "via ?\n\npipe2 failed";
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(p[0]);
    ::close(p[1]);
    return "via ?\n\nfork failed";
  }
  if (pid == 0) {
    ::close(p[0]);
    (void)::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (::getppid() != parent) ::_exit(1);
    std::string report;
    try {
      report = compare_in_this_process(changes);
    } catch (const std::exception& e) {
      report = std::string("via ?\n\nthrew: ") + e.what();
    }
    const char* d = report.data();
    std::size_t left = report.size();
    while (left > 0) {
      const ssize_t n = ::write(p[1], d, left);
      if (n <= 0) break;
      d += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(p[1]);
  std::string report;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{p[0], POLLIN, 0};
    const int ready = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      timed_out = true;
      break;
    }
    const ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n > 0) {
      report.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(p[0]);
  if (timed_out) (void)::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) report += " (the fork did not report within 60 s: killed)";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) report += " (the fork did not exit 0)";
  return report;
}

/// Whether a server can run in this build and on this kernel, asked once.
bool server_can_run() {
  static const bool can = [] {
    const bool ok = safeexec::testing::start_spawn_server() > 0;
    safeexec::testing::reset_spawn_server();
    if (!ok) {
      std::printf(
          "Inherited: no spawn server can run here; every spawn is direct, nothing to "
          "compare\n");
    }
    return ok;
  }();
  return can;
}

}  // namespace

SAFEEXEC_PROP(Inherited, S19_S20_S23_AServerChildStartsWhereADirectChildDoes) {
  if (!server_can_run()) return;
  LeakGuard guard;
  const auto changes =
      *rc::gen::container<std::vector<Change>>(*rc::gen::inRange<std::size_t>(1, 6), gen_change());
  std::string shown;
  for (const Change& c : changes) shown += " " + show(c);
  const std::string report = compare_in_a_fork(changes);
  // "via X\n<not permitted>\n<differences>"
  const std::size_t first = report.find('\n');
  const std::size_t second = first == std::string::npos ? first : report.find('\n', first + 1);
  if (second == std::string::npos)
    RC_FAIL("changes:" + shown + " -> a report in no shape: " + report);
  RC_TAG(report.substr(0, first), report[first + 1] == '\n' ? "all made" : "some not permitted");
  const std::string diff = report.substr(second + 1);
  if (!diff.empty()) RC_FAIL("changes:" + shown + " ->" + diff);
  guard.verify("S19/S20");
}

}  // namespace safeexec_props
