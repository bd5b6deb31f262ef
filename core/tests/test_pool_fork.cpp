// Issue 12 items 12 and 13: the worker pool in a forked child, at process
// exit, and when the system will not give it threads.
//
// Every scenario runs in a forked child (run_forked, bounded; the child is
// killed and reaped if it hangs): a hang there is the defect, and it must
// fail the test, not hang ctest or poison this process's pool.
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"
#include "tsan_fork.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using safeexec_test::eventually;
using safeexec_test::run_forked;
using PoolFork = safeexec_test::LeakChecked;
using PoolStart = safeexec_test::LeakChecked;

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

TEST_F(PoolFork, ForkedChildGetsAFreshPoolAndExits) {
  // The parent's pool is running (and stays so across the fork).
  ASSERT_EQ(safeexec::avoid_blocking_call([] { return 1; }), 1);
  const int status = run_forked(
      [] {
        // Before the fix: no worker exists here, so this waited for ever.
        if (safeexec::avoid_blocking_call([] { return 7; }) != 7) return 1;
        auto async = safeexec::execute_async(child_cmd({"argv", "in-child"}), bounded());
        if (async.wait_for(20s) != std::future_status::ready) return 2;
        if (async.get().out != std::string("in-child") + '\0') return 3;
        // exit(), not _exit(): before the fix the child hung here, in
        // ~WorkerPool, on the parent's workers.
        std::exit(0);
      },
      30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe(status);
  // And the parent's pool still serves.
  EXPECT_EQ(safeexec::avoid_blocking_call([] { return 2; }), 2);
}

TEST_F(PoolFork, ForkFromAWorkerGivesTheChildAPlainThread) {
  // A job that forks: in the child, the forking thread is no longer a pool
  // worker, so avoid_blocking_call must go to the child's own fresh pool.
  auto job = safeexec::run_blocking([] {
    return run_forked(
        [] {
          if (safeexec::detail::on_pool_thread()) return 1;
          const auto caller = std::this_thread::get_id();
          const auto ran_on =
              safeexec::avoid_blocking_call([] { return std::this_thread::get_id(); });
          return ran_on != caller ? 0 : 2;
        },
        20s);
  });
  ASSERT_EQ(job.wait_for(30s), std::future_status::ready);
  const int status = job.get();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe(status);
}

// The exit test's view of the queued job, checked by an atexit handler.
std::future<safeexec::ExecuteResult>* g_queued = nullptr;

void check_queued_job_at_exit() {
  // Runs after the pool's own exit hook (registered later, so run earlier).
  if (g_queued == nullptr) ::_exit(40);
  if (g_queued->wait_for(0s) != std::future_status::ready) ::_exit(41);
  try {
    (void)g_queued->get();
  } catch (const safeexec::PoolStoppedError&) {
    ::_exit(42);  // what blocking.hpp promises
  } catch (...) {
    ::_exit(43);
  }
  ::_exit(44);  // it ran
}

TEST_F(PoolFork, ExitDoesNotWaitForPoolWorkAndFailsQueuedJobsTyped) {
  const auto started = std::chrono::steady_clock::now();
  const int status = run_forked(
      [] {
        // Registered before this process's pool exists, so it runs after the
        // pool's exit hook.
        if (std::atexit(check_queued_job_at_exit) != 0) return 1;
        const std::size_t n = safeexec::blocking_pool_size();
        if (n == 0) return 2;
        // Every worker busy with a long job...
        static std::atomic<std::size_t> running{0};
        for (std::size_t i = 0; i < n; ++i) {
          (void)safeexec::run_blocking([] {
            ++running;
            std::this_thread::sleep_for(60s);
          });
        }
        if (!eventually([&] { return running.load() == n; }, 10s)) return 3;
        // ...and a command queued behind them.
        // Leaked: a static's destructor would run before the exit hooks.
        g_queued = new std::future<safeexec::ExecuteResult>(
            safeexec::execute_async(child_cmd({"exit", "0"}), bounded()));
        // Returning from main: before the fix, ~WorkerPool joined the
        // workers, so this took the 60 s of the long jobs (and then ran the
        // queued command).
        std::exit(0);
      },
      20s);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 42) << describe(status);
  EXPECT_LT(took, 15s);
}

// Item 13, through the fault seam: the second worker cannot be created.
TEST_F(PoolStart, RunsWithTheWorkersThatStarted) {
  const int status = run_forked(
      [] {
        // From the second thread creation on, every one fails.
        safeexec::testing::inject_fault(safeexec::testing::Call::thread_create, 2, EAGAIN, 1000);
        // Before the fix: the constructor threw with a joinable std::thread
        // in its vector: std::terminate, SIGABRT.
        if (safeexec::blocking_pool_size() != 1) return 1;
        if (safeexec::avoid_blocking_call([] { return 5; }) != 5) return 2;
        // Nested waits still cannot deadlock a one-worker pool.
        const auto out = safeexec::avoid_blocking_call([] {
          return safeexec::execute_async(child_cmd({"argv", "one"}), bounded()).get().out;
        });
        if (out != std::string("one") + '\0') return 3;
        return 0;
      },
      30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe(status);
}

TEST_F(PoolStart, AShortPoolAddsAWorkerWhenTheLimitIsLifted) {
  const int status = run_forked(
      [] {
        // Only the second creation fails: the pool starts with one worker.
        safeexec::testing::inject_fault(safeexec::testing::Call::thread_create, 2, EAGAIN, 1);
        if (safeexec::blocking_pool_size() != 1) return 1;
        // Hold that worker; a job queued now finds every worker busy, so the
        // pool tries again to start one (the fault is spent) and runs it there.
        auto release = std::make_shared<std::promise<void>>();
        auto entered = std::make_shared<std::promise<void>>();
        auto held = safeexec::run_blocking([entered, gate = release->get_future().share()] {
          entered->set_value();
          return gate.wait_for(20s);
        });
        if (entered->get_future().wait_for(10s) != std::future_status::ready) return 7;
        auto second = safeexec::run_blocking([] { return 8; });
        if (second.wait_for(10s) != std::future_status::ready) return 2;
        if (second.get() != 8) return 3;
        if (safeexec::blocking_pool_size() != 2) return 4;
        release->set_value();
        if (held.wait_for(10s) != std::future_status::ready) return 5;
        return held.get() == std::future_status::ready ? 0 : 6;
      },
      30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe(status);
}

TEST_F(PoolStart, NoWorkerFailsTypedAndTheNextCallRetries) {
  const int status = run_forked(
      [] {
        safeexec::testing::inject_fault(safeexec::testing::Call::thread_create, 1, EAGAIN, 1);
        try {
          (void)safeexec::avoid_blocking_call([] { return 5; });
          return 1;
        } catch (const safeexec::SystemError& e) {
          // Before the fix: a raw std::system_error, not a safeexec::Error.
          if (e.error_code() != EAGAIN) return 2;
        } catch (...) {
          return 3;
        }
        if (safeexec::avoid_blocking_call([] { return 6; }) != 6) return 4;
        if (safeexec::blocking_pool_size() < 2) return 5;
        return 0;
      },
      30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe(status);
}

TEST_F(PoolStart, RlimitNprocAsAnUnprivilegedUser) {
  // The real kernel limit, no seam. Root ignores RLIMIT_NPROC, so the child
  // becomes nobody (65534) first; only the soft limit changes, so that it
  // can lift it again.
  const int status = run_forked(
      [] {
        rlimit limit{};
        if (::getrlimit(RLIMIT_NPROC, &limit) != 0) return 10;
        const rlim_t hard = limit.rlim_max;
        const rlimit none{0, hard};
        if (::setrlimit(RLIMIT_NPROC, &none) != 0) return 13;
        if (::getuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) return 11;
        try {
          (void)safeexec::avoid_blocking_call([] { return 5; });
          return 1;
        } catch (const safeexec::SystemError& e) {
          if (e.error_code() != EAGAIN) return 2;
        } catch (...) {
          return 3;
        }
        const rlimit some{std::min<rlim_t>(4096, hard), hard};
        if (::setrlimit(RLIMIT_NPROC, &some) != 0) return 12;
        if (safeexec::avoid_blocking_call([] { return 6; }) != 6) return 4;
        return 0;
      },
      30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe(status);
}

}  // namespace
