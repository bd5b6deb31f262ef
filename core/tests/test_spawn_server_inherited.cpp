// test_spawn_server_inherited.cpp - through the spawn server a child starts
// where a direct child would (issue 20, FINDINGS S19, S20 and S23): with the
// calling thread's affinity, nice value, timer slack and I/O priority, in
// the caller's current root, namespaces and oom_score_adj, and with its
// current credentials, capabilities, no_new_privs, filters and limits,
// although the server was started before the caller changed them. A CLONE_PARENT child
// takes all of these from the server, so each check starts the server first,
// then changes the caller, then spawns. Each runs in a forked copy: what it
// changes cannot be changed back.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "safeexec/safeexec.hpp"
#include "safeexec/testing/spawn_server.hpp"
#include "support/cgroup_fixture.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec_test::child_cmd;
namespace testing_hooks = safeexec::testing;

constexpr int kNotHere = 50;  ///< the forked check cannot run here (privilege, CPUs)

safeexec::SpawnOptions via_server() {
  return safeexec::SpawnOptions{}.spawn_strategy(safeexec::SpawnStrategy::server);
}

/// Starts this (forked) process's server: from here on it holds the state
/// the caller had now. False where no server can run.
bool server_started() {
  testing_hooks::reset_spawn_server();
  if (testing_hooks::start_spawn_server() < 0) return false;
  safeexec::Process p = safeexec::create_process(child_cmd({"exit", "0"}), via_server());
  return p.wait().success();
}

using safeexec_test_support::proc_pid_file;

/// Field 19 of /proc/<pid>/stat, the nice value; 99 when unreadable.
int proc_nice(pid_t pid) {
  const std::string nice = safeexec_test_support::stat_field(proc_pid_file(pid, "stat"), 19);
  return nice.empty() ? 99 : static_cast<int>(std::strtol(nice.c_str(), nullptr, 10));
}

/// Runs `body` forked; a kNotHere exit skips the test with `why`.
void expect_forked_ok(const std::function<int()>& body, const char* codes, const char* why) {
  const int status = safeexec_test::run_forked(body, 20s);
  ASSERT_TRUE(WIFEXITED(status)) << "the forked check died: status " << status;
  if (WEXITSTATUS(status) == kNotHere) GTEST_SKIP() << why;
  EXPECT_EQ(WEXITSTATUS(status), 0) << codes;
}

TEST(SpawnServerInherited, TheCallingThreadsSchedulingReachesTheChild) {
  expect_forked_ok(
      [] {
        cpu_set_t all;
        CPU_ZERO(&all);
        if (::sched_getaffinity(0, sizeof all, &all) != 0 || CPU_COUNT(&all) < 2) return kNotHere;
        if (!server_started()) return kNotHere;
        // The thread changes after the server started: one CPU, nice +5,
        // its own timer slack, best-effort I/O priority 6.
        int first = 0;
        while (!CPU_ISSET(first, &all)) ++first;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(first, &one);
        if (::sched_setaffinity(0, sizeof one, &one) != 0) return 10;
        if (::setpriority(PRIO_PROCESS, 0, ::getpriority(PRIO_PROCESS, 0) + 5) != 0) return 11;
        const int nice = ::getpriority(PRIO_PROCESS, 0);
        if (::prctl(PR_SET_TIMERSLACK, 123457UL, 0, 0, 0) != 0) return 12;
        const long be6 = (2L << 13) | 6;  // IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 6)
        if (::syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, be6) != 0) return 13;
        safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "10"}), via_server());
        const std::string cpus = safeexec_test::proc_status_field(p.pid(), "Cpus_allowed_list");
        const int child_nice = proc_nice(p.pid());
        const std::string slack = proc_pid_file(p.pid(), "timerslack_ns");
        const long child_ioprio = ::syscall(SYS_ioprio_get, 1, p.pid());
        (void)p.terminate(0ms);
        if (cpus != std::to_string(first)) return 20;
        if (child_nice != nice) return 21;
        if (slack != "123457\n") return 22;
        if (child_ioprio != be6) return 23;
        return 0;
      },
      "10-13: the check's own set-up failed; the child had the server's 20: affinity, 21: nice, "
      "22: timer slack, 23: I/O priority",
      "fewer than two CPUs to pin to, or no spawn server here");
}

TEST(SpawnServerInherited, OomScoreAdjIsTheCallersNow) {
  expect_forked_ok(
      [] {
        if (!server_started()) return kNotHere;
        std::ofstream("/proc/self/oom_score_adj") << "321";  // raising it needs no privilege
        safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "10"}), via_server());
        const std::string adj = proc_pid_file(p.pid(), "oom_score_adj");
        (void)p.terminate(0ms);
        return adj == "321\n" ? 0 : 20;
      },
      "20: the child had the server's oom_score_adj", "no spawn server here");
}

TEST(SpawnServerInherited, SecurebitsAndThpDisableAreTheCallersNow) {
  expect_forked_ok(
      [] {
        if (!server_started()) return kNotHere;
        // SECBIT_NO_SETUID_FIXUP (kept across execve) needs CAP_SETPCAP.
        if (::prctl(PR_SET_SECUREBITS, 1UL << 2, 0, 0, 0) != 0) return kNotHere;
        if (::prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) return 10;
        const safeexec::ExecuteResult r = safeexec::execute(
            child_cmd({"prctls"}), safeexec::ExecuteOptions{}.spawn(via_server()));
        if (!r.status.success()) return 11;
        return r.out == "securebits=4 thp_disable=1\n" ? 0 : 20;
      },
      "10: PR_SET_THP_DISABLE failed, 11: the helper failed, 20: the child had the server's "
      "securebits or THP setting",
      "PR_SET_SECUREBITS refused (needs CAP_SETPCAP), or no spawn server here");
}

TEST(SpawnServerInherited, ANewUtsNamespaceIsTheChilds) {
  expect_forked_ok(
      [] {
        if (!server_started()) return kNotHere;
        if (::unshare(CLONE_NEWUTS) != 0) return kNotHere;
        const std::string name = "safeexec-uts-check";
        if (::sethostname(name.data(), name.size()) != 0) return 10;
        const safeexec::ExecuteResult r =
            safeexec::execute({"/bin/cat", "/proc/sys/kernel/hostname"},
                              safeexec::ExecuteOptions{}.spawn(via_server()));
        if (!r.status.success()) return 11;
        return r.out == name + "\n" ? 0 : 20;
      },
      "10: sethostname failed, 11: cat failed, 20: the child ran in the server's UTS namespace",
      "unshare(CLONE_NEWUTS) refused (needs CAP_SYS_ADMIN), or no spawn server here");
}

TEST(SpawnServerInherited, ChrootAfterTheServerStartedIsTheChilds) {
  safeexec_test::TempDir dir;
  const std::string root = dir.path();
  expect_forked_ok(
      [&] {
        // A private mount namespace first (the bind mount below stays in
        // it), then the server, then the chroot: only the root changes.
        if (::unshare(CLONE_NEWNS) != 0) return kNotHere;
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 10;
        // /proc inside the new root: the library reads the caller there.
        if (::mkdir((root + "/proc").c_str(), 0755) != 0) return 11;
        if (::mount("/proc", (root + "/proc").c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
          return 12;
        }
        if (!server_started()) return kNotHere;
        if (::chroot(root.c_str()) != 0 || ::chdir("/") != 0) return 13;
        // The new root has no /bin/true: a direct child fails to exec it.
        // A child of the stale server would run in the old root and succeed.
        try {
          safeexec::Process p = safeexec::create_process({"/bin/true"}, via_server());
          (void)p.wait();
          return 20;
        } catch (const safeexec::SpawnError& e) {
          return e.error_code() == ENOENT ? 0 : 21;
        }
      },
      "10-13: the check's own set-up failed; 20: /bin/true ran from the old root, 21: another "
      "error than ENOENT",
      "unshare(CLONE_NEWNS) refused (needs CAP_SYS_ADMIN), or no spawn server here");
}

/// The lines of /proc/<pid>/status that say who a process is and what it
/// may do (credentials, capabilities, no_new_privs, seccomp), and its
/// limits. `kept_at_exec`: only what execve keeps as it was (a root child's
/// permitted set becomes its bounding set there).
std::string identity_of(pid_t pid, bool kept_at_exec) {
  using safeexec_test_support::status_value;
  const std::string status = proc_pid_file(pid, "status");
  std::string out;
  for (const char* key : {"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapBnd", "CapAmb",
                          "NoNewPrivs", "Seccomp", "Seccomp_filters"}) {
    const std::string k = key;
    if (kept_at_exec && (k == "CapInh" || k == "CapPrm" || k == "CapAmb")) continue;
    out += k + "=" + status_value(status, key) + "\n";
  }
  return out + proc_pid_file(pid, "limits");
}

/// A sleeper spawned through the server and a direct one: 0 when both have
/// the caller's identity and limits as they are now, 20 when the served
/// one differs (it has the server's), 21 when even the direct one does.
int served_child_has_the_callers_identity() {
  const std::string caller = identity_of(::getpid(), true);
  safeexec::Process served = safeexec::create_process(child_cmd({"sleep", "10"}), via_server());
  safeexec::Process direct = safeexec::create_process(
      child_cmd({"sleep", "10"}),
      safeexec::SpawnOptions{}.spawn_strategy(safeexec::SpawnStrategy::direct));
  const std::string a = identity_of(served.pid(), false);
  const std::string b = identity_of(direct.pid(), false);
  const std::string b_kept = identity_of(direct.pid(), true);
  (void)served.terminate(0ms);
  (void)direct.terminate(0ms);
  if (b_kept != caller) return 21;
  return a == b ? 0 : 20;
}

// FINDINGS S23: what restarts the server besides S20's birthplace. Nothing
// checked it before (the host matrix changes credentials before any server
// starts).
TEST(SpawnServerInherited, LimitsLoweredAfterTheServerStartedAreTheChilds) {
  expect_forked_ok(
      [] {
        if (!server_started()) return kNotHere;
        for (const int r : {RLIMIT_NOFILE, RLIMIT_STACK, RLIMIT_CORE}) {
          rlimit l{};
          if (::getrlimit(r, &l) != 0) return 10;
          l.rlim_cur = std::min<rlim_t>(l.rlim_cur, r == RLIMIT_NOFILE ? 777 : 4 << 20);
          if (l.rlim_cur > 0) --l.rlim_cur;  // a value neither side had by chance
          if (::setrlimit(r, &l) != 0) return 10;
        }
        return served_child_has_the_callers_identity();
      },
      "10: setrlimit failed, 20: the child had the server's limits, 21: so had a direct child",
      "no spawn server here");
}

TEST(SpawnServerInherited, NoNewPrivsAndAFilterAddedAfterTheServerStartedAreTheChilds) {
  expect_forked_ok(
      [] {
        if (!server_started()) return kNotHere;
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 10;
        // One more filter that allows every call: the count changes, what
        // the calls may do does not.
        sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        sock_fprog prog{1, &allow};
        if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return 11;
        return served_child_has_the_callers_identity();
      },
      "10: PR_SET_NO_NEW_PRIVS failed, 11: seccomp failed, 20: the child had the server's "
      "no_new_privs or filters, 21: so had a direct child",
      "no spawn server here");
}

TEST(SpawnServerInherited, CredentialsAndBoundingSetChangedAfterTheServerStartedAreTheChilds) {
  expect_forked_ok(
      [] {
        if (!server_started()) return kNotHere;
        // Root only: a capability out of the bounding set, one
        // supplementary group, then nobody (made dumpable again, so that
        // this process's /proc files stay readable to it).
        if (::prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0) != 0) return kNotHere;
        const gid_t groups[] = {4242};
        if (::setgroups(1, groups) != 0) return kNotHere;
        if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0 ||
            ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) {
          return 10;
        }
        return served_child_has_the_callers_identity();
      },
      "10: setresgid/setresuid failed, 20: the child had the server's credentials or bounding "
      "set, 21: so had a direct child, 99: a call threw (a root child of a stale server "
      "cannot be killed by nobody)",
      "needs root (CAP_SETPCAP, CAP_SETGID), or no spawn server here");
}

/// The cgroup: a fixture-made v2 directory of the test's own (removed, and
/// whatever is left in it killed, by TearDown).
class SpawnServerInheritedCgroup : public safeexec_test::CgroupChecked {};

TEST_F(SpawnServerInheritedCgroup, AMoveToAnotherCgroupIsTheChilds) {
  const std::string target = parent();
  const std::string relative = target.substr(mount().size());
  expect_forked_ok(
      [&] {
        if (!server_started()) return kNotHere;
        std::ofstream(target + "/cgroup.procs") << ::getpid();
        if (safeexec_test::read_text("/proc/self/cgroup").find("0::" + relative + "\n") ==
            std::string::npos) {
          return 10;
        }
        safeexec::Process p = safeexec::create_process(child_cmd({"sleep", "10"}), via_server());
        const std::string cgroup = proc_pid_file(p.pid(), "cgroup");
        (void)p.terminate(0ms);
        return cgroup.find("0::" + relative + "\n") != std::string::npos ? 0 : 20;
      },
      "10: the check could not move itself, 20: the child was born in the server's cgroup",
      "no spawn server here");
}

}  // namespace
