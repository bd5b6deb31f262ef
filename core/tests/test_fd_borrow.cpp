// test_fd_borrow.cpp - the borrowed descriptor table (S24; fd_borrow.hpp): a
// caller whose highest open descriptor is at the automatic threshold or
// above spawns directly with CLONE_FILES, and the child takes a private
// table with only its stdio and keep fds from the spawning thread. What the
// child sees is exactly what a copying spawn gives it; a refusal (a filter,
// a policy) spawns again by copying and, when it is for good, is
// remembered; "not now" is not.
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "safeexec/safeexec.hpp"
#include "safeexec/testing/fd_borrow.hpp"
#include "safeexec/testing/spawn_server.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec_test::child_cmd;
namespace testing_hooks = safeexec::testing;

constexpr int kNotHere = 77;
constexpr int kHigh = safeexec::kAutomaticServerFd + 5;

safeexec::SpawnOptions direct() {
  return safeexec::SpawnOptions{}.spawn_strategy(safeexec::SpawnStrategy::direct);
}

/// One descriptor at kHigh (the soft limit raised for it): the caller is
/// large by the automatic strategy's probe. False where the hard limit is
/// too low.
bool make_caller_large() {
  rlimit l{};
  if (::getrlimit(RLIMIT_NOFILE, &l) != 0) return false;
  const auto needed = static_cast<rlim_t>(kHigh) + 16;
  if (l.rlim_max != RLIM_INFINITY && l.rlim_max < needed) return false;
  if (l.rlim_cur < needed) {
    l.rlim_cur = needed;
    if (::setrlimit(RLIMIT_NOFILE, &l) != 0) return false;
  }
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const int at = ::dup3(fd, kHigh, O_CLOEXEC);
  ::close(fd);
  std::this_thread::sleep_for(30ms);  // past the probe's 10 ms
  return at == kHigh;
}

std::string run_out(const std::vector<std::string>& args, safeexec::SpawnOptions o,
                    const std::string& input = {}) {
  safeexec::Process p = safeexec::create_process(child_cmd(args), o.stdin_pipe().stdout_pipe());
  const std::string out = p.communicate(input, safeexec::deadline_after(10s)).out;
  return p.wait().success() ? out : "failed: " + out;
}

/// Runs `body` forked (filters and dumpability are for good); a kNotHere
/// exit skips with `why`.
void expect_forked_ok(const std::function<int()>& body, const char* codes, const char* why) {
  const int status = safeexec_test::run_forked(body, 20s);
  ASSERT_TRUE(WIFEXITED(status)) << "the forked check died: status " << status;
  if (WEXITSTATUS(status) == kNotHere) GTEST_SKIP() << why;
  EXPECT_EQ(WEXITSTATUS(status), 0) << codes;
}

/// A filter that fails close_range(..., CLOSE_RANGE_UNSHARE) - the child's
/// first borrow step, which the parent never makes - with `error`.
bool refuse_unshare_with(int error) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close_range, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[2])),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 2U /* CLOSE_RANGE_UNSHARE */, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | static_cast<unsigned>(error)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(code)), code};
  return ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

/// Whether this kernel lets a child borrow (probed by one borrowing spawn).
bool borrowing_works_here() {
  testing_hooks::reset_fd_borrow();
  const unsigned before = testing_hooks::borrowed_spawns();
  safeexec::Process p = safeexec::create_process(child_cmd({"exit", "0"}), direct());
  return p.wait().success() && testing_hooks::borrowed_spawns() == before + 1;
}

TEST(FdBorrow, ALargeCallerBorrowsAndItsChildSeesOnlyWhatItWasGiven) {
  expect_forked_ok(
      [] {
        if (!make_caller_large()) return kNotHere;
        if (!borrowing_works_here()) return kNotHere;
        // Inheritable on purpose, below and above the threshold: never the child's.
        const int stray = ::open("/dev/null", O_RDONLY);
        if (stray < 0 || ::dup2(stray, kHigh + 1) != kHigh + 1) return 10;
        const int kept = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (kept < 0 || ::dup3(kept, kHigh + 2, O_CLOEXEC) != kHigh + 2) return 10;
        const unsigned before = testing_hooks::borrowed_spawns();
        const std::string seen =
            safeexec_test::fds_seen_by_child(direct().keep_fd(kept).keep_fd(kHigh + 2));
        if (testing_hooks::borrowed_spawns() != before + 1) return 20;
        if (seen != "0 1 2 " + std::to_string(kept) + " " + std::to_string(kHigh + 2)) return 21;
        // The three streams, through the borrowed copies of our pipe ends.
        if (run_out({"echo"}, direct(), "through the borrowed table") !=
            "through the borrowed table") {
          return 22;
        }
        safeexec::Process p = safeexec::create_process(
            child_cmd({"echo-err"}), direct().stdin_pipe().stdout_pipe().stderr_pipe());
        const safeexec::Output o = p.communicate("on stderr", safeexec::deadline_after(10s));
        if (!p.wait().success() || o.err != "on stderr") return 23;
        return testing_hooks::borrowed_spawns() == before + 3 ? 0 : 24;
      },
      "10: set-up failed, 20: it did not borrow, 21: the child saw other descriptors, 22/23: a "
      "stream was lost, 24: a spawn copied",
      "RLIMIT_NOFILE too low, or the kernel cannot borrow (pidfd_getfd, PIDFD_THREAD: 6.9)");
}

TEST(FdBorrow, AThreadWithItsOwnTableLendsItsOwn) {
  // The thread unshares its table, then puts a pipe on a number that the
  // group leader's table holds /dev/null on. The child must get the pipe:
  // a pidfd of the process (not of the thread) would lend the leader's.
  expect_forked_ok(
      [] {
        if (!make_caller_large()) return kNotHere;
        if (!borrowing_works_here()) return kNotHere;
        const int slot = kHigh + 3;
        const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || ::dup3(null_fd, slot, O_CLOEXEC) != slot) return 10;
        int result = 0;
        std::thread t([&] {
          if (::unshare(CLONE_FILES) != 0) {
            result = 10;
            return;
          }
          int p[2];
          if (::pipe2(p, O_CLOEXEC) != 0 || ::dup3(p[1], slot, O_CLOEXEC) != slot) {
            result = 10;
            return;
          }
          ::close(p[1]);
          const unsigned before = testing_hooks::borrowed_spawns();
          const std::string seen =
              run_out({"fd-target", std::to_string(slot)}, direct().keep_fd(slot));
          if (testing_hooks::borrowed_spawns() != before + 1)
            result = 20;
          else if (seen != std::to_string(slot) + " other\n")
            result = 21;
        });
        t.join();
        return result;
      },
      "10: set-up failed, 20: it did not borrow, 21: the child got the group leader's descriptor",
      "RLIMIT_NOFILE too low, or the kernel cannot borrow");
}

TEST(FdBorrow, ARefusalForGoodSpawnsByCopyingOnceAndIsRemembered) {
  expect_forked_ok(
      [] {
        if (!make_caller_large()) return kNotHere;
        if (!borrowing_works_here()) return kNotHere;
        if (!refuse_unshare_with(EPERM)) return 10;
        const unsigned borrowed = testing_hooks::borrowed_spawns();
        const unsigned refused = testing_hooks::borrow_refusals();
        for (int i = 0; i < 3; ++i) {
          if (run_out({"echo"}, direct(), "copied") != "copied") return 20;
        }
        if (testing_hooks::borrow_refusals() != refused + 1) return 21;
        if (testing_hooks::borrowed_spawns() != borrowed) return 22;
        // The refused child was reaped: nothing of ours is left unreaped.
        siginfo_t info{};
        if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG) == 0 && info.si_pid != 0) return 23;
        return 0;
      },
      "10: the filter could not be installed, 20: a spawn failed or lost its output, 21: the "
      "refusal was not met once, 22: a spawn still borrowed, 23: a child was left unreaped",
      "RLIMIT_NOFILE too low, or the kernel cannot borrow");
}

TEST(FdBorrow, ARefusalForNowIsNotRemembered) {
  // EMFILE says nothing about the next spawn: each one tries again.
  expect_forked_ok(
      [] {
        if (!make_caller_large()) return kNotHere;
        if (!borrowing_works_here()) return kNotHere;
        if (!refuse_unshare_with(EMFILE)) return 10;
        const unsigned refused = testing_hooks::borrow_refusals();
        for (int i = 0; i < 3; ++i) {
          if (run_out({"echo"}, direct(), "copied") != "copied") return 20;
        }
        return testing_hooks::borrow_refusals() == refused + 3 ? 0 : 21;
      },
      "10: the filter could not be installed, 20: a spawn failed or lost its output, 21: EMFILE "
      "was remembered as a refusal for good",
      "RLIMIT_NOFILE too low, or the kernel cannot borrow");
}

TEST(FdBorrow, ACallerThatIsNotDumpableCopies) {
  // pidfd_getfd would be refused (ptrace access to a non-dumpable process):
  // the parent knows it and copies at once, with no refused child.
  expect_forked_ok(
      [] {
        if (!make_caller_large()) return kNotHere;
        if (!borrowing_works_here()) return kNotHere;
        if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return 10;
        const unsigned borrowed = testing_hooks::borrowed_spawns();
        const unsigned refused = testing_hooks::borrow_refusals();
        if (run_out({"echo"}, direct(), "copied") != "copied") return 20;
        if (testing_hooks::borrowed_spawns() != borrowed) return 21;
        return testing_hooks::borrow_refusals() == refused ? 0 : 22;
      },
      "10: prctl failed, 20: the spawn failed, 21: it borrowed, 22: a child was refused",
      "RLIMIT_NOFILE too low, or the kernel cannot borrow");
}

TEST(FdBorrow, AutomaticBorrowsWhereItCanAndUsesTheServerWhereItCannot) {
  expect_forked_ok(
      [] {
        if (!make_caller_large()) return kNotHere;
        if (!borrowing_works_here()) return kNotHere;
        const auto automatic =
            safeexec::SpawnOptions{}.spawn_strategy(safeexec::SpawnStrategy::automatic);
        const unsigned served = testing_hooks::spawns_through_server();
        const unsigned borrowed = testing_hooks::borrowed_spawns();
        if (run_out({"echo"}, automatic, "x") != "x") return 20;
        if (testing_hooks::borrowed_spawns() != borrowed + 1) return 21;
        if (testing_hooks::spawns_through_server() != served) return 22;
        testing_hooks::forbid_fd_borrow(true);
        const bool server = testing_hooks::start_spawn_server() > 0;
        if (run_out({"echo"}, automatic, "y") != "y") return 20;
        if (testing_hooks::borrowed_spawns() != borrowed + 1) return 23;
        if (server && testing_hooks::spawns_through_server() != served + 1) return 24;
        testing_hooks::reset_spawn_server();
        return 0;
      },
      "20: a spawn failed, 21: automatic did not borrow, 22: it went through the server, 23: it "
      "borrowed while forbidden, 24: it did not use the server",
      "RLIMIT_NOFILE too low, or the kernel cannot borrow");
}

}  // namespace
