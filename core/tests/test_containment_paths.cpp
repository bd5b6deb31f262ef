// Issue 19: which containment path ran, and the races the child closes.
//
// The kernel decides how a child is placed in its leaf (clone3 with
// CLONE_INTO_CGROUP, or the child writing itself into cgroup.procs) and how
// a leaf is killed (cgroup.kill, or freeze + signal each member): each test
// here asks the kernel what it offers (never the library) and checks, by the
// testing build's call counts, that the matching path ran - so ci/kernels'
// no-clone3 and no-cgroup-kill profiles are seen to reach the fallbacks.
// Then the two races of the child path, opened wide by test-only pauses
// (testing::set_pause): a parent that dies before PR_SET_PDEATHSIG, and
// limits that would come after execve. Labels C05, C06, C08, C09.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "safeexec/containment.hpp"
#include "safeexec/process.hpp"
#include "support/child_census.hpp"
#include "support/containment_helpers.hpp"
#include "support/sanitizers.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec::Containment;
using safeexec::SpawnOptions;
using safeexec::testing::Call;
using safeexec::testing::call_count;
using safeexec_test::alive;
using safeexec_test::child_cmd;
using safeexec_test::eventually;
using safeexec_test::info_of;
using safeexec_test::KillOnExit;
using safeexec_test::pidfile;
using Cgroup = safeexec_test::LeafTest;
using ChildPath = safeexec_test::LeakChecked;

/// clone3 exists (5.3+, not refused by seccomp): a NULL argument of size 0
/// is EINVAL there, ENOSYS where it does not exist. Nothing is created.
bool kernel_has_clone3() {
  return ::syscall(SYS_clone3, nullptr, 0) == -1 && errno != ENOSYS;
}

/// `dir` has a cgroup.kill that opens for writing (5.14+; the no-cgroup-kill
/// profile answers ENOENT, as an older kernel does). Through libc's open, as
/// the library's own openat; nothing is written.
bool kernel_has_cgroup_kill(const std::string& dir) {
  const int fd = ::open((dir + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  (void)::close(fd);
  return true;
}

// ---- placement ------------------------------------------------------------------

TEST_F(Cgroup, PlacementIsClone3WhereTheKernelHasItElseCgroupProcs) {
#if defined(__x86_64__)
  const bool by_clone3 = kernel_has_clone3() && !safeexec_test_support::kUnderTsan;
#else
  const bool by_clone3 = false;  // CLONE_INTO_CGROUP is used on x86-64 only
#endif
  const auto info = info_of(in_leaf());
  const std::string rel = parent().substr(mount().size()) + "/" + safeexec_test::our_leaf_prefix();
  EXPECT_EQ(info.at("cgroup").rfind(rel, 0), 0U) << "not in its leaf: " << info.at("cgroup");
  if (safeexec_test_support::kUnderTsan) return;  // the forked child's count stays in the fork
  EXPECT_EQ(call_count(Call::cgroup_join), by_clone3 ? 0U : 1U)
      << (by_clone3 ? "clone3 could place the child, yet it joined through cgroup.procs"
                    : "no clone3 here (no-clone3 profile?), yet the child did not join "
                      "through cgroup.procs");
}

TEST_F(Cgroup, CgroupProcsJoinRefusedFailsTheSpawnTypedAndLeavesNothing) {
  // Where clone3 cannot place it and the write is refused (a cgroup the
  // caller may not move into): the child must not run outside its leaf.
  safeexec::testing::inject_fault(Call::clone3, 1, ENOSYS);
  safeexec::testing::inject_fault(Call::cgroup_join, 1, EACCES);
  try {
    (void)safeexec::create_process(child_cmd({"exit", "0"}), in_leaf());
    ADD_FAILURE() << "the child ran although it could not join its leaf";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), safeexec::SpawnStage::cgroup) << e.what();
    EXPECT_EQ(e.error_code(), EACCES) << e.what();
  }
  EXPECT_TRUE(leaves().empty());
}

// ---- killing --------------------------------------------------------------------

TEST_F(Cgroup, KillTakesCgroupKillWhereItExistsElseTheFreezePath) {
  const bool has_kill = kernel_has_cgroup_kill(parent());
  const std::string file = pidfile("escape-path");
  KillOnExit guard;
  {
    safeexec::Process p = start_daemon(file, &guard.pid);
    ASSERT_GT(guard.pid, 0) << "the daemon never wrote its pid";
  }
  EXPECT_TRUE(eventually([&] { return !alive(guard.pid); }, 2s))
      << "the escaped daemon outlived the handle";
  EXPECT_TRUE(leaves().empty());
  EXPECT_GE(call_count(Call::cgroup_kill), 1U);
  if (has_kill) {
    EXPECT_EQ(call_count(Call::cgroup_freeze), 0U) << "cgroup.kill exists, yet the leaf was frozen";
  } else {
    EXPECT_GE(call_count(Call::cgroup_freeze), 1U)
        << "no cgroup.kill here (no-cgroup-kill profile?), yet the freeze path never ran";
  }
  (void)::unlink(file.c_str());
}

TEST_F(Cgroup, WithoutFreezeEitherRepeatedRoundsKillTheDaemon) {
  // cgroup v2 before 5.2: no cgroup.kill, no cgroup.freeze. The members are
  // signalled round after round until none is left.
  safeexec::testing::inject_fault(Call::cgroup_kill, 1, ENOENT, 1000);
  safeexec::testing::inject_fault(Call::cgroup_freeze, 1, ENOENT, 1000);
  const std::string file = pidfile("escape-nofreeze");
  KillOnExit guard;
  {
    safeexec::Process p = start_daemon(file, &guard.pid);
    ASSERT_GT(guard.pid, 0);
  }
  EXPECT_GE(call_count(Call::cgroup_freeze), 1U);
  EXPECT_TRUE(eventually([&] { return !alive(guard.pid); }, 2s));
  EXPECT_TRUE(leaves().empty());
  (void)::unlink(file.c_str());
}

// ---- the races of the child path ------------------------------------------------

TEST_F(ChildPath, ChildWhoseParentDiedBeforeTheDeathSignalWasSetNeverRuns) {
  // Three generations: S (a subreaper, so the orphan comes to it and it can
  // tell how the orphan ended) forks P, which spawns C with a parent-death
  // signal; C is paused just before PR_SET_PDEATHSIG. S kills P inside that
  // window: the kernel sends nothing (no death signal was set yet). C must
  // see that it was orphaned (getppid() is not P) and exit 127 without ever
  // running the program; with the check gone it runs `sleep` and exits 0.
  const int status = safeexec_test::run_forked(
      [] {
        if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return 20;
        const pid_t p = ::fork();
        if (p < 0) return 21;
        if (p == 0) {
          safeexec::testing::set_pause(safeexec::testing::Pause::child_before_parent_death_signal,
                                       1500);
          try {
            safeexec::Process c = safeexec::create_process(
                child_cmd({"sleep", "2000"}),
                SpawnOptions{}.containment(Containment{}.parent_death_signal(SIGKILL)));
            (void)c.wait();
          } catch (...) {
          }
          ::_exit(30);  // not reached in time: S kills P while C is paused
        }
        // C is P's vfork child while P's thread is suspended in clone.
        pid_t c = 0;
        (void)eventually(
            [&] {
              const std::string kids =
                  safeexec_test_support::read_small_file(safeexec_test_support::proc_path(
                      "/" + std::to_string(p) + "/task/" + std::to_string(p) + "/children"));
              c = static_cast<pid_t>(std::atol(kids.c_str()));
              return c > 0;
            },
            3s);
        (void)::kill(p, SIGKILL);
        int st = 0;
        (void)::waitpid(p, &st, 0);
        if (c <= 0) return 22;
        // C is ours now (subreaper); it ends 127 after its pause, or runs sleep.
        if (::waitpid(c, &st, 0) != c) return 23;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127) return 0;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 1 : 24;
      },
      15s);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << (WEXITSTATUS(status) == 1 ? "the orphaned child ran the program (the race is open)"
                                   : "the check could not be set up");
}

TEST_F(ChildPath, LimitsHoldFromTheChildsFirstInstruction) {
  // The parent pauses once clone returned (the child has exec'd): a limit
  // applied from the parent after execve would come when contain-info, which
  // reads its limits first thing, has long reported.
  safeexec::testing::set_pause(safeexec::testing::Pause::parent_after_exec, 300);
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  ASSERT_FALSE(before.rlim_cur == 64 && before.rlim_max == 128) << "pick other test values";
  const auto info =
      info_of(SpawnOptions{}.containment(Containment{}.rlimit(RLIMIT_NOFILE, 64, 128).umask(027)));
  EXPECT_EQ(info.at("nofile"), "64:128");
  EXPECT_EQ(info.at("umask"), "27");
}

}  // namespace
