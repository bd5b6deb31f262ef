// execute_async() (issue 21 part 3, R10): the deadline is fixed when the
// call is made, so the time a run waits for a worker counts against its
// timeout - with the pool saturated, a queued command with timeout T fails
// by T + kill_grace after the call, without starting; and the same holds on
// the caller's own executor.
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using AsyncQueue = safeexec_test::LeakChecked;

constexpr auto kSlack = 1500ms;

TEST_F(AsyncQueue, AQueuedRunFailsByItsTimeoutCountedFromTheCall) {
  const std::size_t workers = safeexec::blocking_pool_size();
  ASSERT_GT(workers, 0U);
  // Every worker busy for 4 s.
  std::vector<std::future<safeexec::ExecuteResult>> long_runs;
  for (std::size_t i = 0; i < workers; ++i) {
    long_runs.push_back(safeexec::execute_async(child_cmd({"sleep", "4000"}), bounded()));
  }
  std::this_thread::sleep_for(200ms);  // they have started
  const auto submitted = Clock::now();
  auto queued = safeexec::execute_async(
      child_cmd({"exit", "0"}), safeexec::ExecuteOptions{}.timeout(300ms).kill_grace(100ms));
  // The bound the header promises, measured from the call, not from when a
  // worker is free (that would be ~4 s).
  ASSERT_EQ(queued.wait_until(submitted + 300ms + 100ms + kSlack), std::future_status::ready);
  try {
    (void)queued.get();
    ADD_FAILURE() << "the queued run succeeded";
  } catch (const safeexec::TimeoutError& e) {
    EXPECT_EQ(e.timeout(), 300ms);
    EXPECT_NE(std::string(e.what()).find("while queued"), std::string::npos) << e.what();
  }
  for (auto& f : long_runs) EXPECT_TRUE(f.get().status.success());
}

TEST_F(AsyncQueue, TheCallersExecutorRunsTheTaskAndTheQueueTimeIsReported) {
  std::vector<std::thread> threads;
  int calls = 0;
  std::thread::id ran_on;
  std::thread::id worker_id;
  const safeexec::Executor later = [&](std::function<void()> task) {
    ++calls;
    threads.emplace_back([&ran_on, task = std::move(task)] {
      std::this_thread::sleep_for(150ms);
      ran_on = std::this_thread::get_id();
      task();
    });
  };
  auto f = safeexec::execute_async(child_cmd({"zoo-write-sleep", "4", "0"}), bounded(), later);
  const safeexec::ExecuteResult r = f.get();
  ASSERT_EQ(threads.size(), 1U);
  worker_id = threads[0].get_id();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ran_on, worker_id);
  EXPECT_EQ(r.out, safeexec_test::helper_pattern(4));
  EXPECT_GE(r.queued, 150ms);
}

TEST_F(AsyncQueue, OnTheCallersExecutorTooTheQueueCountsAgainstTheTimeout) {
  std::thread worker;
  const safeexec::Executor slow = [&](std::function<void()> task) {
    worker = std::thread([task = std::move(task)] {
      std::this_thread::sleep_for(400ms);
      task();
    });
  };
  auto f = safeexec::execute_async(child_cmd({"exit", "0"}),
                                   safeexec::ExecuteOptions{}.timeout(200ms), slow);
  EXPECT_THROW((void)f.get(), safeexec::TimeoutError);
  worker.join();
}

TEST_F(AsyncQueue, ATaskDroppedUnrunBreaksTheFutureAndAnEmptyExecutorIsRefused) {
  auto f =
      safeexec::execute_async(child_cmd({"exit", "0"}), bounded(), [](std::function<void()>) {});
  ASSERT_EQ(f.wait_for(0s), std::future_status::ready);
  try {
    (void)f.get();
    ADD_FAILURE() << "a dropped task gave a result";
  } catch (const std::future_error& e) {
    EXPECT_EQ(e.code(), std::future_errc::broken_promise);
  }
  EXPECT_THROW(
      (void)safeexec::execute_async(child_cmd({"exit", "0"}), bounded(), safeexec::Executor{}),
      safeexec::InvalidArgument);
}

}  // namespace
