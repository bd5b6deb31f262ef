// Issue 19: containment - a cgroup v2 leaf per command (placement, killing
// escapes, usage, removal, limits refused where their controller is
// missing), and the child-path options (rlimits, umask, no_new_privs,
// parent-death signal, setsid, credentials). Labels C01.. (ci/mutants/C*).
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "safeexec/containment.hpp"
#include "safeexec/execute.hpp"
#include "safeexec/process.hpp"
#include "support/cgroup_fixture.hpp"
#include "support/containment_helpers.hpp"
#include "support/kernel_features.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec::CgroupOptions;
using safeexec::Containment;
using safeexec::SpawnOptions;
using safeexec_test::alive;
using safeexec_test::child_cmd;
using safeexec_test::enable_controller;
using safeexec_test::eventually;
using safeexec_test::info_of;
using safeexec_test::KillOnExit;
using safeexec_test::pidfile;
using safeexec_test::read_text;
using safeexec_test::wait_for_pidfile;
using ChildPath = safeexec_test::LeakChecked;

using Cgroup = safeexec_test::LeafTest;

// ---- placement --------------------------------------------------------------

TEST_F(Cgroup, ChildRunsInAFreshLeafUnderTheNamedParent) {
  const auto info = info_of(in_leaf());
  const std::string rel = parent().substr(mount().size()) + "/" + safeexec_test::our_leaf_prefix();
  EXPECT_EQ(info.at("cgroup").rfind(rel, 0), 0U) << info.at("cgroup");
  EXPECT_TRUE(leaves().empty()) << "the leaf outlived its handle";
}

TEST_F(Cgroup, CgroupProcsFallbackPlacesTheChildToo) {
  // As before Linux 5.7 (or under the no-clone3 profile): the child writes
  // itself into cgroup.procs before execve.
  safeexec::testing::inject_fault(safeexec::testing::Call::clone3, 1, ENOSYS);
  const auto info = info_of(in_leaf());
  EXPECT_EQ(safeexec::testing::faults_fired(), 1U);
  const std::string rel = parent().substr(mount().size()) + "/" + safeexec_test::our_leaf_prefix();
  EXPECT_EQ(info.at("cgroup").rfind(rel, 0), 0U) << info.at("cgroup");
}

TEST_F(Cgroup, DefaultParentIsTheCallersOwnV2Cgroup) {
  if (!safeexec_test_support::library_sees_proc()) {
    // ci/kernels' no-proc profile: the library cannot find its own cgroup,
    // and says so, typed, before anything exists.
    try {
      (void)safeexec::create_process(child_cmd({"exit", "0"}),
                                     SpawnOptions{}.containment(Containment{}.cgroup({})));
      ADD_FAILURE() << "a default parent was found without /proc";
    } catch (const safeexec::ContainmentError& e) {
      EXPECT_NE(std::string(e.what()).find("name a parent"), std::string::npos) << e.what();
    }
    return;
  }
  const auto info = info_of(SpawnOptions{}.containment(Containment{}.cgroup(CgroupOptions{})));
  std::string own = safeexec_test::test_own_cgroup().substr(mount().size());
  EXPECT_EQ(info.at("cgroup").rfind(own + "/" + safeexec_test::our_leaf_prefix(), 0), 0U)
      << info.at("cgroup");
}

TEST_F(Cgroup, LeafLivesAsLongAsTheHandleAndIsRemovedAfter) {
  {
    safeexec::Process p = safeexec::create_process(child_cmd({"exit", "0"}), in_leaf());
    EXPECT_EQ(p.wait().exit_code(), 0);
    ASSERT_EQ(leaves().size(), 1U);
    EXPECT_TRUE(p.cgroup_usage().has_value());
  }
  EXPECT_TRUE(leaves().empty());
}

TEST_F(Cgroup, FailedSpawnLeavesNoLeaf) {
  EXPECT_THROW(safeexec::create_process({"/nonexistent/program"}, in_leaf()), safeexec::SpawnError);
  EXPECT_TRUE(leaves().empty());
}

TEST_F(Cgroup, ParentOutsideCgroupV2IsRefusedBeforeAnythingExists) {
  const std::string dir = "/tmp/" + safeexec_test::unique_token("not-a-cgroup");
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  EXPECT_THROW(safeexec::create_process(
                   child_cmd({"exit", "0"}),
                   SpawnOptions{}.containment(Containment{}.cgroup(CgroupOptions{}.parent(dir)))),
               safeexec::ContainmentError);
  EXPECT_TRUE(safeexec_test::subdirs_with_prefix(dir, "safeexec-").empty());
  (void)::rmdir(dir.c_str());
  EXPECT_THROW(
      safeexec::create_process(
          child_cmd({"exit", "0"}),
          SpawnOptions{}.containment(Containment{}.cgroup(CgroupOptions{}.parent("relative/dir")))),
      safeexec::InvalidArgument);
}

// ---- killing what escaped ----------------------------------------------------

TEST_F(Cgroup, DestructorKillsASetsidDoubleForkedDaemon) {
  const std::string file = pidfile("escape");
  KillOnExit guard;
  {
    safeexec::Process p = start_daemon(file, &guard.pid);
    ASSERT_GT(guard.pid, 0) << "the daemon never wrote its pid";
    ASSERT_TRUE(alive(guard.pid));
  }
  EXPECT_TRUE(eventually([&] { return !alive(guard.pid); }, 2s))
      << "the escaped daemon outlived the handle";
  EXPECT_TRUE(leaves().empty());
  (void)::unlink(file.c_str());
}

TEST_F(Cgroup, ExecuteTimeoutKillsTheEscapedDaemon) {
  const std::string file = pidfile("escape-timeout");
  KillOnExit guard;
  // The daemon writes its pid within the first 300 ms, long before the
  // leader's timeout.
  EXPECT_THROW(safeexec::execute(
                   child_cmd({"zoo-escape", "60000", "60000", file}),
                   safeexec::ExecuteOptions{}.timeout(1500ms).kill_grace(200ms).spawn(in_leaf())),
               safeexec::TimeoutError);
  guard.pid = wait_for_pidfile(file);
  ASSERT_GT(guard.pid, 0);
  EXPECT_FALSE(alive(guard.pid)) << "the daemon survived execute()'s timeout";
  EXPECT_TRUE(leaves().empty());
  (void)::unlink(file.c_str());
}

TEST_F(Cgroup, ExecuteReturningLeavesNothingRunning) {
  const std::string file = pidfile("escape-return");
  KillOnExit guard;
  const safeexec::ExecuteResult r = safeexec::execute(
      child_cmd({"zoo-escape", "300", "60000", file}), safeexec_test::bounded().spawn(in_leaf()));
  EXPECT_EQ(r.exit_code(), 0);
  guard.pid = wait_for_pidfile(file);
  ASSERT_GT(guard.pid, 0);
  EXPECT_FALSE(alive(guard.pid)) << "the daemon survived execute() returning";
  EXPECT_TRUE(r.cgroup_usage.has_value());
  (void)::unlink(file.c_str());
}

TEST_F(Cgroup, TerminateAndSignalGroupReachTheDaemon) {
  for (const bool use_terminate : {true, false}) {
    SCOPED_TRACE(use_terminate ? "terminate" : "signal_group");
    const std::string file = pidfile("escape-term");
    KillOnExit guard;
    safeexec::Process p = start_daemon(file, &guard.pid);
    ASSERT_GT(guard.pid, 0);
    if (use_terminate) {
      (void)p.terminate(200ms);
    } else {
      EXPECT_EQ(p.signal_group(SIGTERM), safeexec::KillOutcome::delivered);
      (void)p.wait_until(safeexec::deadline_after(5s));
    }
    EXPECT_TRUE(eventually([&] { return !alive(guard.pid); }, 2s))
        << "the daemon survived while its handle still exists";
    (void)::unlink(file.c_str());
  }
}

TEST_F(Cgroup, FreezeAndSignalWhereCgroupKillIsMissing) {
  // As before Linux 5.14: cgroup.kill refused, every kill takes the
  // freeze + signal-each-member path.
  safeexec::testing::inject_fault(safeexec::testing::Call::cgroup_kill, 1, ENOENT, 1000);
  const std::string file = pidfile("escape-freeze");
  KillOnExit guard;
  {
    safeexec::Process p = start_daemon(file, &guard.pid);
    ASSERT_GT(guard.pid, 0);
  }
  EXPECT_GE(safeexec::testing::faults_fired(), 1U);
  EXPECT_TRUE(eventually([&] { return !alive(guard.pid); }, 2s));
  EXPECT_TRUE(leaves().empty());
  (void)::unlink(file.c_str());
}

TEST_F(Cgroup, ALeafThatCannotBeRemovedIsLoggedOnce) {
  safeexec_test::LogCapture log;
  std::string leaf;
  {
    safeexec::Process p = safeexec::create_process(child_cmd({"exit", "0"}), in_leaf());
    (void)p.wait();
    ASSERT_EQ(leaves().size(), 1U);
    leaf = leaves().front();
    // A sub-cgroup the library did not make keeps rmdir failing (EBUSY).
    ASSERT_EQ(::mkdir((leaf + "/blocker").c_str(), 0755), 0);
  }
  EXPECT_EQ(log.count(safeexec::LogLevel::warning, "cannot remove cgroup leaf"), 1U);
  (void)::rmdir((leaf + "/blocker").c_str());
  (void)::rmdir(leaf.c_str());
}

// ---- usage and limits -----------------------------------------------------------

TEST_F(Cgroup, UsageCountsCpuAndSaysUnknownForWhatIsMissing) {
  const safeexec::ExecuteResult r = safeexec::execute(
      child_cmd({"spin", "300"}), safeexec_test::bounded().spawn(SpawnOptions{}.containment(
                                      Containment{}.cgroup(CgroupOptions{}.parent(parent())))));
  ASSERT_TRUE(r.cgroup_usage.has_value());
  const safeexec::CgroupUsage& u = *r.cgroup_usage;
  ASSERT_TRUE(u.cpu_user && u.cpu_system);
  // The helper burns 300 ms of its own CPU time: the leaf counted it.
  EXPECT_GE((*u.cpu_user + *u.cpu_system).count(), 290000) << u.str();
  // memory.peak/memory.events exist only with the memory controller enabled.
  const bool memory =
      read_text(parent() + "/cgroup.subtree_control").find("memory") != std::string::npos;
  EXPECT_EQ(u.memory_peak_bytes.has_value(), memory) << u.str();
  EXPECT_EQ(u.oom_kills.has_value(), memory) << u.str();
  if (!memory) {
    EXPECT_NE(u.str().find("memory peak unknown"), std::string::npos) << u.str();
  }
}

TEST_F(Cgroup, LimitWithoutItsControllerIsRefusedNamingIt) {
  if (read_text(parent() + "/cgroup.subtree_control").find("pids") != std::string::npos) {
    GTEST_SKIP() << "pids is enabled here: nothing to refuse";
  }
  try {
    (void)safeexec::create_process(child_cmd({"exit", "0"}),
                                   SpawnOptions{}.containment(Containment{}.cgroup(
                                       CgroupOptions{}.parent(parent()).pids_max(8))));
    ADD_FAILURE() << "a pids.max nobody can enforce was accepted";
  } catch (const safeexec::ContainmentError& e) {
    EXPECT_NE(std::string(e.what()).find("pids controller"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(leaves().empty());
}

TEST_F(Cgroup, PidsMaxBoundsAForkingCommand) {
  if (const std::string why = enable_controller(parent(), "pids"); !why.empty())
    GTEST_SKIP() << why;
  // zoo-yes forks once; with pids.max 1 that fork fails, the leader alone runs.
  const auto info = info_of(SpawnOptions{}.containment(
      Containment{}.cgroup(CgroupOptions{}.parent(parent()).pids_max(1))));
  EXPECT_FALSE(info.at("cgroup").empty());
  const std::string file = pidfile("pids");
  EXPECT_NO_THROW(safeexec::execute(
      child_cmd({"zoo-escape", "0", "0", file}),
      safeexec_test::bounded().check_exit_code(false).spawn(SpawnOptions{}.containment(
          Containment{}.cgroup(CgroupOptions{}.parent(parent()).pids_max(1))))));
  EXPECT_NE(::access(file.c_str(), F_OK), 0) << "a fork succeeded past pids.max 1";
}

TEST_F(Cgroup, MemoryMaxIsWrittenBeforeTheChildRuns) {
  if (const std::string why = enable_controller(parent(), "memory"); !why.empty()) {
    GTEST_SKIP() << why;
  }
  safeexec::Process p = safeexec::create_process(
      child_cmd({"sleep", "10000"}), SpawnOptions{}.containment(Containment{}.cgroup(
                                         CgroupOptions{}.parent(parent()).memory_max(64 << 20))));
  ASSERT_EQ(leaves().size(), 1U);
  EXPECT_EQ(read_text(leaves().front() + "/memory.max"), std::to_string(64 << 20) + "\n");
}

TEST_F(Cgroup, CpuMaxIsWrittenBeforeTheChildRuns) {
  if (const std::string why = enable_controller(parent(), "cpu"); !why.empty()) GTEST_SKIP() << why;
  safeexec::Process p = safeexec::create_process(
      child_cmd({"sleep", "10000"}),
      SpawnOptions{}.containment(Containment{}.cgroup(
          CgroupOptions{}.parent(parent()).cpu_max(safeexec::CpuMax{50000us, 100000us}))));
  ASSERT_EQ(leaves().size(), 1U);
  EXPECT_EQ(read_text(leaves().front() + "/cpu.max"), "50000 100000\n");
}

// ---- the child path -------------------------------------------------------------

TEST_F(ChildPath, RlimitUmaskNoNewPrivsAndSetsid) {
  const auto info = info_of(SpawnOptions{}.new_process_group(true).containment(
      Containment{}.rlimit(RLIMIT_NOFILE, 64, 128).umask(027).no_new_privs(true).setsid(true)));
  EXPECT_EQ(info.at("nofile"), "64:128");
  EXPECT_EQ(info.at("umask"), "27");
  EXPECT_EQ(info.at("nnp"), "1");
  EXPECT_EQ(info.at("sid"), info.at("pid"));
  EXPECT_EQ(info.at("pgid"), info.at("pid"));
  // Without the option the child keeps ours (a seccomp launcher of
  // ci/kernels sets it for the whole test process).
  const auto plain = info_of(SpawnOptions{});
  EXPECT_EQ(plain.at("nnp"), std::to_string(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)));
  EXPECT_NE(plain.at("sid"), plain.at("pid"));
}

TEST_F(ChildPath, ParentDeathSignalIsSetAndSurvivesTheCredentialChange) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to change credentials";
  const auto info = info_of(SpawnOptions{}.containment(
      Containment{}.parent_death_signal(SIGTERM).credentials({65534, 65534, {}})));
  EXPECT_EQ(info.at("pdeathsig"), std::to_string(SIGTERM));
  EXPECT_EQ(info.at("uid"), "65534");
}

TEST_F(ChildPath, RootDropsToNobodyGroupsFirst) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to change credentials";
  const auto info = info_of(
      SpawnOptions{}.containment(Containment{}.credentials({65534, 65533, {65532, 65531}})));
  EXPECT_EQ(info.at("uid"), "65534");
  EXPECT_EQ(info.at("gid"), "65533");
  EXPECT_EQ(info.at("groups"), "65531,65532");
}

TEST_F(ChildPath, CredentialChangeRefusedIsATypedError) {
  // A forked copy of this test drops to nobody, then asks for root.
  const int status = safeexec_test::run_forked([] {
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
         ::setresuid(65534, 65534, 65534) != 0)) {
      return 2;
    }
    try {
      (void)safeexec::create_process(
          {"/bin/true"}, SpawnOptions{}.containment(Containment{}.credentials({0, 0, {}})));
    } catch (const safeexec::SpawnError& e) {
      return e.stage() == safeexec::SpawnStage::credentials && e.error_code() == EPERM ? 0 : 3;
    }
    return 4;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(ChildPath, BadValuesAreRefusedBeforeAnythingStarts) {
  const auto refused = [](Containment c) {
    EXPECT_THROW(safeexec::create_process(child_cmd({"exit", "0"}),
                                          SpawnOptions{}.containment(std::move(c))),
                 safeexec::InvalidArgument);
  };
  refused(Containment{}.rlimit(RLIMIT_NOFILE, 10, 5));
  refused(Containment{}.rlimit(RLIM_NLIMITS, 1, 1));
  refused(Containment{}.rlimit(-1, 1, 1));
  refused(Containment{}.umask(01000));
  refused(Containment{}.parent_death_signal(65));
  refused(Containment{}.credentials({static_cast<std::uint32_t>(-1), 0, {}}));
}

// The Windows job's own limits have no Linux meaning: refused by name, as
// Windows refuses rlimit() (rlimit() and cgroup() are the tools here).
TEST_F(ChildPath, WindowsJobLimitsAreRefusedNamingTheOption) {
  try {
    (void)safeexec::create_process(child_cmd({"exit", "0"}),
                                   SpawnOptions{}.containment(Containment{}.job_limits(
                                       safeexec::JobLimits{}.process_memory_max(1 << 20))));
    ADD_FAILURE() << "accepted";
  } catch (const safeexec::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("Containment::job_limits()"), std::string::npos)
        << e.what();
  }
}

TEST_F(ChildPath, RlimitTheChildCannotRaiseFailsTyped) {
  // Only an unprivileged process is held to its hard limit: a forked copy
  // of this test drops to nobody first when it runs as root.
  const int status = safeexec_test::run_forked([] {
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
         ::setresuid(65534, 65534, 65534) != 0)) {
      return 2;
    }
    rlimit now{};
    if (::getrlimit(RLIMIT_NOFILE, &now) != 0 || now.rlim_max == RLIM_INFINITY) return 5;
    try {
      (void)safeexec::create_process({"/bin/true"},
                                     SpawnOptions{}.containment(Containment{}.rlimit(
                                         RLIMIT_NOFILE, now.rlim_max + 1, now.rlim_max + 1)));
    } catch (const safeexec::SpawnError& e) {
      return e.stage() == safeexec::SpawnStage::rlimit && e.error_code() == EPERM ? 0 : 3;
    }
    return 4;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// ---- resource usage of every finished child ------------------------------------

void expect_spin_counted(const std::optional<safeexec::ResourceUsage>& u) {
  ASSERT_TRUE(u.has_value());
  EXPECT_GE((u->cpu_user + u->cpu_system).count(), 190000);
  EXPECT_GT(u->max_rss_bytes, 0U);
}

TEST_F(ChildPath, UsageOfTheReapedChildOnThePidfdPath) {
  safeexec::Process p = safeexec::create_process(child_cmd({"spin", "200"}));
  EXPECT_FALSE(p.resource_usage().has_value()) << "known before the child ended";
  EXPECT_EQ(p.wait().exit_code(), 0);
  expect_spin_counted(p.resource_usage());
}

TEST_F(ChildPath, UsageOfTheReapedChildOnThePidPath) {
  safeexec::testing::disable_kernel_features(
      static_cast<unsigned>(safeexec::testing::KernelFeature::all));
  safeexec::Process p = safeexec::create_process(child_cmd({"spin", "200"}));
  EXPECT_EQ(p.pidfd(), -1);
  EXPECT_EQ(p.wait().exit_code(), 0);
  safeexec::testing::disable_kernel_features(0);
  expect_spin_counted(p.resource_usage());
}

TEST_F(ChildPath, ExecuteResultCarriesTheUsage) {
  const safeexec::ExecuteResult r =
      safeexec::execute(child_cmd({"spin", "200"}), safeexec_test::bounded());
  expect_spin_counted(r.usage);
}

}  // namespace
