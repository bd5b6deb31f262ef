// Issue 12 item 14, the log: a sink may call back into the library, and
// nothing is formatted when no sink would print it.
//
// The re-entrant scenarios deadlocked before the fix (the log mutex was held
// while the sink ran), so each runs in a forked child that the test kills
// and reaps if it hangs.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include "leak_check.hpp"
#include "test_child.hpp"
#include "tsan_fork.hpp"

namespace safeexec::detail {
// Internal (core/src/log_internal.hpp): whether a line would be formatted.
bool log_enabled(LogLevel level) noexcept;
}  // namespace safeexec::detail

namespace {

using namespace std::chrono_literals;
using safeexec::LogLevel;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using safeexec_test::run_forked;
using LogReentrancy = safeexec_test::LeakChecked;

bool exited_with(int status, int code) {
  return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

/// Restores the default sink and level at the end of a test.
struct DefaultLogAfterwards {
  ~DefaultLogAfterwards() {
    (void)safeexec::set_log_sink({});
    safeexec::set_log_level(LogLevel::debug);
  }
};

TEST_F(LogReentrancy, SinkThatCallsExecuteDoesNotDeadlock) {
  const int status = run_forked([] {
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto inner_out = std::make_shared<std::string>();
    safeexec::set_log_sink([calls, inner_out](LogLevel, std::string_view) {
      // execute() logs "running ..." again, on this thread, inside the sink.
      if (calls->fetch_add(1) == 0) {
        *inner_out = safeexec::execute(child_cmd({"argv", "from-sink"}), bounded()).out;
      }
    });
    const auto outer = safeexec::execute(child_cmd({"argv", "outer"}), bounded()).out;
    if (outer != std::string("outer") + '\0') return 1;
    if (*inner_out != std::string("from-sink") + '\0') return 2;
    // The nested "running" line went to the default sink, not back into
    // this one: one call only.
    if (calls->load() != 1) return 3;
    return 0;
  });
  EXPECT_TRUE(exited_with(status, 0)) << "status " << status;
}

TEST_F(LogReentrancy, SinkThatWaitsForExecuteAsyncDoesNotDeadlock) {
  // The worker logs on another thread while this sink waits for it.
  const int status = run_forked([] {
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto nested = std::make_shared<std::atomic<bool>>(false);
    safeexec::set_log_sink([calls, nested](LogLevel, std::string_view line) {
      ++*calls;
      if (line.find("from-worker") == std::string_view::npos && !nested->exchange(true)) {
        auto f = safeexec::execute_async(child_cmd({"argv", "from-worker"}), bounded());
        if (f.wait_for(20s) != std::future_status::ready) ::_exit(10);
        (void)f.get();
      }
    });
    (void)safeexec::execute(child_cmd({"argv", "outer"}), bounded());
    // The outer line, and the worker's own line through this sink (another
    // thread, so not a nested line): two calls.
    return calls->load() == 2 ? 0 : 1;
  });
  EXPECT_TRUE(exited_with(status, 0)) << "status " << status;
}

TEST_F(LogReentrancy, SinkMayReplaceItself) {
  const int status = run_forked([] {
    auto replaced = std::make_shared<std::atomic<int>>(0);
    safeexec::set_log_sink([replaced](LogLevel, std::string_view) {
      ++*replaced;
      (void)safeexec::set_log_sink([](LogLevel, std::string_view) {});
    });
    (void)safeexec::execute(child_cmd({"argv", "a"}), bounded());
    (void)safeexec::execute(child_cmd({"argv", "b"}), bounded());
    return replaced->load() == 1 ? 0 : 1;
  });
  EXPECT_TRUE(exited_with(status, 0)) << "status " << status;
}

TEST_F(LogReentrancy, NestedErrorLineGoesToTheDefaultSink) {
  // The sink's own execute() fails and logs at error level: that line is
  // written by the default sink (stderr), not lost and not recursed into.
  int err_pipe[2];
  ASSERT_EQ(::pipe2(err_pipe, O_CLOEXEC), 0);
  const int status = run_forked([&err_pipe] {
    if (::dup2(err_pipe[1], 2) != 2) return 5;
    auto calls = std::make_shared<std::atomic<int>>(0);
    safeexec::set_log_sink([calls](LogLevel, std::string_view) {
      if (calls->fetch_add(1) == 0) {
        try {
          (void)safeexec::execute(child_cmd({"exit", "3"}), bounded().log_fail_as_error(true));
        } catch (const safeexec::ProcessExecutionError&) {
        }
      }
    });
    (void)safeexec::execute(child_cmd({"argv", "outer"}), bounded());
    return calls->load() == 1 ? 0 : 1;
  });
  ::close(err_pipe[1]);
  std::string err;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(err_pipe[0], buf, sizeof buf)) > 0)
    err.append(buf, static_cast<std::size_t>(n));
  ::close(err_pipe[0]);
  EXPECT_TRUE(exited_with(status, 0)) << "status " << status;
  EXPECT_NE(err.find("safeexec error: command failed"), std::string::npos) << err;
}

TEST_F(LogReentrancy, SetLogSinkWaitsForCallsOnOtherThreads) {
  // A sink often refers to an object its owner destroys right after
  // replacing it: set_log_sink must not return while another thread is
  // still inside the old sink.
  const DefaultLogAfterwards restore;
  struct Shared {
    std::promise<void> entered;
    std::promise<void> release;
    std::atomic<bool> left{false};
  };
  auto shared = std::make_shared<Shared>();
  auto release = shared->release.get_future().share();
  auto once = std::make_shared<std::atomic<bool>>(false);
  (void)safeexec::set_log_sink([shared, release, once](LogLevel, std::string_view) {
    if (once->exchange(true)) return;
    shared->entered.set_value();
    (void)release.wait_for(20s);
    shared->left = true;
  });
  auto logging = std::async(std::launch::async, [] {
    (void)safeexec::execute(child_cmd({"argv", "x"}), bounded());
  });
  ASSERT_EQ(shared->entered.get_future().wait_for(20s), std::future_status::ready);
  auto replacing = std::async(std::launch::async, [shared] {
    (void)safeexec::set_log_sink({});
    return shared->left.load();  // must already be true
  });
  // Still inside the old sink: set_log_sink has not returned.
  EXPECT_EQ(replacing.wait_for(300ms), std::future_status::timeout);
  shared->release.set_value();
  ASSERT_EQ(replacing.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(replacing.get()) << "set_log_sink returned while the old sink was running";
  ASSERT_EQ(logging.wait_for(20s), std::future_status::ready);
  logging.get();
}

TEST_F(LogReentrancy, DefaultSinkFormatsNothingBelowWarning) {
  const DefaultLogAfterwards restore;
  (void)safeexec::set_log_sink({});
  safeexec::set_log_level(LogLevel::debug);
  // The default sink prints warning and error only: execute() must not
  // format (or lock for) its debug line.
  EXPECT_FALSE(safeexec::detail::log_enabled(LogLevel::debug));
  EXPECT_FALSE(safeexec::detail::log_enabled(LogLevel::info));
  EXPECT_TRUE(safeexec::detail::log_enabled(LogLevel::warning));
  EXPECT_TRUE(safeexec::detail::log_enabled(LogLevel::error));
  // A sink of the caller's gets every level the level filter lets through.
  (void)safeexec::set_log_sink([](LogLevel, std::string_view) {});
  EXPECT_TRUE(safeexec::detail::log_enabled(LogLevel::debug));
  safeexec::set_log_level(LogLevel::error);
  EXPECT_FALSE(safeexec::detail::log_enabled(LogLevel::warning));
  EXPECT_TRUE(safeexec::detail::log_enabled(LogLevel::error));
}

TEST_F(LogReentrancy, SetLogSinkHandsThePreviousSinkBack) {
  const DefaultLogAfterwards restore;
  auto seen = std::make_shared<std::atomic<int>>(0);
  (void)safeexec::set_log_sink([seen](LogLevel, std::string_view) { ++*seen; });
  safeexec::LogSink previous = safeexec::set_log_sink({});
  ASSERT_TRUE(previous);
  previous(LogLevel::error, "x");
  EXPECT_EQ(seen->load(), 1);
  EXPECT_FALSE(safeexec::set_log_sink({}));  // the default is an empty sink
}

}  // namespace
