// F03: where avoid_blocking_call runs f (a pool thread, or inline on one), and
// many threads calling execute() at once each get their own result.
// F04: an exception from f reaches the caller with its type and message, and
// the pool keeps every worker.
//
// Meant to run under ThreadSanitizer as well: no sleeps as synchronisation,
// every shared variable is atomic or behind a mutex.
#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
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
using BlockingPool = safeexec_test::LeakChecked;

/// A type of our own, so that "the same type" cannot be satisfied by
/// std::exception slicing.
class CustomError : public std::runtime_error {
 public:
  CustomError(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

TEST_F(BlockingPool, RunsOnAPoolThread) {
  const std::thread::id caller = std::this_thread::get_id();
  const std::thread::id ran_on =
      safeexec::avoid_blocking_call([] { return std::this_thread::get_id(); });
  EXPECT_NE(ran_on, caller);
  EXPECT_GE(safeexec::blocking_pool_size(), 2U);
  EXPECT_LE(safeexec::blocking_pool_size(), 16U);
}

TEST_F(BlockingPool, PassesArgumentsAndReturnsTheResult) {
  const std::string joined = safeexec::avoid_blocking_call(
      [](const std::string& a, int b) { return a + std::to_string(b); }, std::string("x"), 42);
  EXPECT_EQ(joined, "x42");
}

TEST_F(BlockingPool, RunsInlineWhenCalledFromAPoolThread) {
  // Nested calls must not queue behind their own caller (that can deadlock a
  // full pool): from a worker, f runs right there.
  auto outer = safeexec::run_blocking([] {
    const std::thread::id worker = std::this_thread::get_id();
    const std::thread::id inner =
        safeexec::avoid_blocking_call([] { return std::this_thread::get_id(); });
    return std::make_pair(worker, inner);
  });
  ASSERT_EQ(outer.wait_for(10s), std::future_status::ready);
  const auto [worker, inner] = outer.get();
  EXPECT_EQ(inner, worker);
  EXPECT_NE(worker, std::this_thread::get_id());
}

TEST_F(BlockingPool, ExceptionReachesTheCallerWithItsTypeAndMessage) {
  try {
    safeexec::avoid_blocking_call([]() -> int { throw CustomError("boom from the pool", 42); });
    ADD_FAILURE() << "no exception";
  } catch (const CustomError& e) {
    EXPECT_STREQ(e.what(), "boom from the pool");
    EXPECT_EQ(e.code(), 42);
  } catch (...) {
    ADD_FAILURE() << "the exception lost its type";
  }
  // Not derived from std::exception at all.
  try {
    safeexec::avoid_blocking_call([] { throw 7; });
    ADD_FAILURE() << "no exception";
  } catch (int v) {
    EXPECT_EQ(v, 7);
  } catch (...) {
    ADD_FAILURE() << "the int exception lost its type";
  }
  // Through the future of run_blocking too.
  auto f = safeexec::run_blocking([]() -> int { throw CustomError("via future", 3); });
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_THROW(f.get(), CustomError);
  // And a library error keeps its type through execute_async.
  auto failed = safeexec::execute_async(child_cmd({"exit", "3"}), bounded());
  ASSERT_EQ(failed.wait_for(20s), std::future_status::ready);
  try {
    (void)failed.get();
    ADD_FAILURE() << "no exception";
  } catch (const safeexec::ProcessExecutionError& e) {
    EXPECT_EQ(e.exit_code(), 3);
  }
}

TEST_F(BlockingPool, WorkersSurviveExceptions) {
  const std::size_t n = safeexec::blocking_pool_size();
  for (std::size_t i = 0; i < 3 * n; ++i) {
    // Through the future, so that a pool with no worker left fails the test
    // instead of hanging it.
    auto failing =
        safeexec::run_blocking([i]() -> int { throw CustomError("job failed", int(i)); });
    ASSERT_EQ(failing.wait_for(10s), std::future_status::ready)
        << "the pool stopped running jobs after " << i << " exceptions";
    EXPECT_THROW(failing.get(), CustomError);
  }
  // n jobs that can only finish if n workers run them at the same time: a
  // barrier of n. A lost worker leaves the barrier short and the wait times out.
  // Shared state is owned by the jobs too: a job that runs after a failed
  // assertion returned from this test must not touch a dead stack frame.
  struct Barrier {
    std::mutex m;
    std::condition_variable cv;
    std::size_t arrived = 0;
  };
  auto barrier = std::make_shared<Barrier>();
  std::vector<std::future<bool>> jobs;
  for (std::size_t i = 0; i < n; ++i) {
    jobs.push_back(safeexec::run_blocking([barrier, n] {
      std::unique_lock<std::mutex> lock(barrier->m);
      ++barrier->arrived;
      barrier->cv.notify_all();
      return barrier->cv.wait_for(lock, 10s, [&] { return barrier->arrived == n; });
    }));
  }
  for (auto& job : jobs) {
    ASSERT_EQ(job.wait_for(15s), std::future_status::ready) << "a worker was lost";
    EXPECT_TRUE(job.get()) << "fewer than " << n << " workers ran at once";
  }
  // And ordinary calls still work.
  EXPECT_EQ(safeexec::avoid_blocking_call([] { return 5; }), 5);
}

TEST_F(BlockingPool, ManyThreadsCallingExecuteGetTheirOwnResults) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 4;
  std::atomic<int> wrong{0};
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &wrong, &ok] {
      for (int r = 0; r < kRounds; ++r) {
        const std::string token = "thread-" + std::to_string(t) + "-round-" + std::to_string(r);
        try {
          // argv mode: the token comes back as the child's argument.
          const auto args = safeexec::execute(child_cmd({"argv", token}), bounded()).out;
          // echo mode: a per-thread input comes back on stdout.
          const std::string input(static_cast<std::size_t>(1000 * (t + 1)), char('A' + t));
          const auto echoed =
              safeexec::execute(child_cmd({"echo"}), bounded().process_input(input)).out;
          if (args == token + std::string(1, '\0') && echoed == input) {
            ++ok;
          } else {
            ++wrong;
          }
        } catch (...) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(ok.load(), kThreads * kRounds);
}

TEST_F(BlockingPool, ManyThreadsCallingAvoidBlockingCallWithExecute) {
  // The seed's shape: execute() wrapped in avoid_blocking_call from many threads.
  constexpr int kThreads = 8;
  std::vector<std::future<std::string>> results;
  for (int t = 0; t < kThreads; ++t) {
    results.push_back(std::async(std::launch::async, [t] {
      return safeexec::avoid_blocking_call([t] {
        return safeexec::execute(child_cmd({"argv", "tok" + std::to_string(t)}), bounded()).out;
      });
    }));
  }
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(results[static_cast<std::size_t>(t)].wait_for(30s), std::future_status::ready);
    EXPECT_EQ(results[static_cast<std::size_t>(t)].get(),
              "tok" + std::to_string(t) + std::string(1, '\0'));
  }
}

}  // namespace

namespace {

using namespace std::chrono_literals;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using NestedCalls = safeexec_test::LeakChecked;

// Issue 12 item 14: exactly blocking_pool_size() callers, each holding a
// worker and waiting there for a job it queued. Before the fix every worker
// waited for a job queued behind them: a deadlock. Run in a forked child
// that is killed if it hangs, so the defect fails the test in bounded time.
TEST_F(NestedCalls, PoolSizeConcurrentNestedWaitsComplete) {
  const int status = safeexec_test::run_forked(
      [] {
        const std::size_t n = safeexec::blocking_pool_size();
        if (n == 0) return 1;
        // Every worker is held before any nested job is queued: no outer
        // job can finish early and free a worker for the others.
        auto arrived = std::make_shared<std::atomic<std::size_t>>(0);
        std::vector<std::future<std::string>> callers;
        for (std::size_t i = 0; i < n; ++i) {
          callers.push_back(std::async(std::launch::async, [arrived, n, i] {
            return safeexec::avoid_blocking_call([arrived, n, i] {
              ++*arrived;
              const auto until = std::chrono::steady_clock::now() + 10s;
              while (arrived->load() < n && std::chrono::steady_clock::now() < until) {
                std::this_thread::yield();
              }
              auto inner = safeexec::execute_async(
                  child_cmd({"argv", "nested-" + std::to_string(i)}), bounded());
              return inner.get().out;
            });
          }));
        }
        int code = 0;
        for (std::size_t i = 0; i < n; ++i) {
          if (callers[i].wait_for(20s) != std::future_status::ready) {
            // The deadlock: leave at once, the threads cannot be joined.
            ::_exit(2);
          }
          if (callers[i].get() != "nested-" + std::to_string(i) + '\0') code = 3;
        }
        return code;
      },
      40s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "status " << status << " (exit code 2: the nested calls deadlocked)";
}

TEST_F(NestedCalls, NestedJobTakesAnIdleWorkerWhenThereIsOne) {
  // Not inline when a worker is free: the nested job runs in parallel.
  auto outer = safeexec::run_blocking([] {
    const std::thread::id me = std::this_thread::get_id();
    auto inner = safeexec::run_blocking([] { return std::this_thread::get_id(); });
    if (inner.wait_for(10s) != std::future_status::ready) return false;
    return inner.get() != me;
  });
  ASSERT_EQ(outer.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(outer.get()) << "the nested job ran inline although workers were idle";
}

}  // namespace
