// A child held by a foreign ptrace tracer (issue 18 item 1, H18).
//
// A debugger, strace or a sandbox monitor attached to our child with
// PTRACE_SEIZE is told of its death first; until that tracer calls waitpid,
// detaches or exits, our waitid() cannot reap the child, although its pidfd
// already polls readable. The helper's `traced-sleep HOLD MS` mode forks
// such a tracer (out of the child's process group, holding none of its
// pipes) that holds the dead child for HOLD ms and then exits, which hands
// the zombie back to us. Every wait must then keep its bound, without
// spinning on the readable pidfd - the waiting thread's CPU time is bounded,
// not timed - and whoever gives up says what held the child.
//
// ptrace needs permission: the tests run as root, and where Yama's
// ptrace_scope (or a filter) refuses the tracer, the helper exits 7 before
// it writes "traced by", and the test fails saying so (no silent pass).
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>

#include "leak_check.hpp"
#include "support/child_census.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using safeexec::ExitStatus;
using safeexec_test::child_cmd;
using safeexec_test::eventually;
using PtraceHeld = safeexec_test::LeakChecked;

/// How long the tracer holds the dead child: far above every bound below,
/// so that a wait that ignores its bound shows as one that took this long.
constexpr auto kHold = 4000ms;
/// Slack on wall-clock bounds (a loaded 2-core machine).
constexpr auto kSlack = 700ms;
/// CPU the waiting thread may spend in a wait that lasts about a second: a
/// spin on the readable pidfd spends all of it.
constexpr auto kCpuBound = 50ms;

std::string ms_str(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

using safeexec_test::thread_cpu;

/// The tracer's pid from "traced by N\n", or -1.
pid_t tracer_of(const std::string& line) {
  const std::string key = "traced by ";
  if (line.rfind(key, 0) != 0) return -1;
  return static_cast<pid_t>(std::strtol(line.c_str() + key.size(), nullptr, 10));
}

/// What the library says held the child: the tracer's pid is read from
/// /proc/<pid>/status, which ci/kernels' no-close-range-no-proc profile hides.
std::string held_by(pid_t tracer) {
  if (!safeexec_test_support::library_sees_proc()) return "exited, not yet reapable";
  return "exited, not yet reapable: traced by pid " + std::to_string(tracer);
}

std::vector<std::string> traced_child(const std::string& token) {
  return child_cmd({"traced-sleep", std::to_string(kHold.count()), "60000", token});
}

/// A child held by a tracer after SIGKILL: spawned, attached, killed.
struct HeldChild {
  std::optional<safeexec::Process> p;
  pid_t tracer = -1;
};

void start_held(HeldChild& h, safeexec::SpawnOptions opts, const std::string& token) {
  h.p.emplace(safeexec::create_process(traced_child(token), opts.stdout_pipe()));
  const std::string line = safeexec_test::read_until(h.p->stdout_fd(), "\n");
  h.tracer = tracer_of(line);
  ASSERT_GT(h.tracer, 0) << "the tracer did not attach (ptrace refused?): \"" << line << "\"";
}

/// The tracer is gone for certain (it exits HOLD ms after attaching), and so
/// the held child has been handed back and reaped, nothing left for the leak check.
void expect_all_gone(pid_t tracer, const std::string& token) {
  EXPECT_TRUE(eventually([&] { return safeexec_test::live_processes_with_arg(token).empty(); },
                         kHold + 5s));
  EXPECT_TRUE(eventually([&] { return safeexec_test::proc_state(tracer) == '\0'; }, kHold + 5s));
  EXPECT_TRUE(eventually([] { return safeexec_test::children_but_spawn_server().empty(); }, 5s))
      << "a held child was never reaped";
}

TEST_F(PtraceHeld, WaitUntilKeepsItsDeadlineWithoutSpinningAndWaitGetsTheStatus) {
  const std::string token = safeexec_test::unique_token("traced-wait");
  HeldChild h;
  start_held(h, safeexec::SpawnOptions{}, token);
  if (!h.p) return;
  const pid_t pid = h.p->pid();
  ASSERT_EQ(h.p->send_signal(SIGKILL), safeexec::KillOutcome::delivered);
  // The set-up holds: the child died, the tracer has not collected it.
  ASSERT_TRUE(eventually([&] { return safeexec_test::proc_state(pid) == 'Z'; }, 2s));
  EXPECT_EQ(safeexec_test::proc_status_field(pid, "TracerPid"), std::to_string(h.tracer));
  EXPECT_FALSE(h.p->try_wait()) << "a zombie the tracer holds was reaped";

  const auto cpu0 = thread_cpu();
  const auto start = Clock::now();
  const std::optional<ExitStatus> st = h.p->wait_until(start + 800ms);
  const auto took = Clock::now() - start;
  const auto cpu = thread_cpu() - cpu0;
  EXPECT_FALSE(st) << "reaped while the tracer holds it: " << st->str();
  EXPECT_GE(took, 800ms);
  EXPECT_LT(took, 800ms + kSlack) << "wait_until passed its deadline: " << ms_str(took);
  EXPECT_LT(cpu, kCpuBound) << "wait_until spent " << ms_str(cpu) << " of CPU in " << ms_str(took)
                            << " (spinning on a readable pidfd)";

  // wait() waits for the tracer to let go, then has the real status.
  const auto cpu1 = thread_cpu();
  const auto start2 = Clock::now();
  EXPECT_EQ(h.p->wait(), ExitStatus::signaled(SIGKILL));
  const auto cpu2 = thread_cpu() - cpu1;
  EXPECT_LT(Clock::now() - start2, kHold + kSlack);
  EXPECT_LT(cpu2, 2 * kCpuBound) << "wait() spent " << ms_str(cpu2) << " of CPU";
  expect_all_gone(h.tracer, token);
}

TEST_F(PtraceHeld, DestructorKeepsDestroyWaitAndTheBackgroundReaperReaps) {
  const std::string token = safeexec_test::unique_token("traced-destroy");
  const safeexec_test::LogCapture log;
  HeldChild h;
  start_held(h, safeexec::SpawnOptions{}.destroy_wait(300ms), token);
  if (!h.p) return;
  const pid_t pid = h.p->pid();
  const auto cpu0 = thread_cpu();
  const auto start = Clock::now();
  h.p.reset();  // SIGKILL, then at most destroy_wait for the reap
  const auto took = Clock::now() - start;
  const auto cpu = thread_cpu() - cpu0;
  EXPECT_LT(took, 300ms + kSlack) << "the destructor took " << ms_str(took)
                                  << " with destroy_wait 300 ms";
  EXPECT_LT(cpu, kCpuBound) << "the destructor spent " << ms_str(cpu) << " of CPU";
  EXPECT_TRUE(log.any_contains(held_by(h.tracer)))
      << "the hand-over to the background reaper does not say what held the child";
  // The background reaper gets it once the tracer exits.
  EXPECT_TRUE(eventually([&] { return safeexec_test::proc_state(pid) == '\0'; }, kHold + 5s));
  expect_all_gone(h.tracer, token);
}

TEST_F(PtraceHeld, ExecuteTimeoutKeepsItsBoundAndSaysWhatHeldTheChild) {
  const std::string token = safeexec_test::unique_token("traced-execute");
  const auto timeout = 500ms;
  const auto grace = 100ms;
  const auto start = Clock::now();
  try {
    (void)safeexec::execute(traced_child(token),
                            safeexec::ExecuteOptions{}.timeout(timeout).kill_grace(grace));
    ADD_FAILURE() << "no TimeoutError";
  } catch (const safeexec::TimeoutError& e) {
    const auto took = Clock::now() - start;
    const pid_t tracer = tracer_of(e.partial_stdout());
    ASSERT_GT(tracer, 0) << "the tracer had not attached by the timeout: \"" << e.partial_stdout()
                         << "\"";
    // SIGTERM stops a seized tracee (signal-delivery-stop), so the grace
    // runs out; SIGKILL ends it, and the tracer then holds the zombie.
    const auto bound = timeout + grace + 1000ms + kSlack;  // SIGKILL's own bound included
    EXPECT_LT(took, bound) << "execute took " << ms_str(took) << ", bound " << ms_str(bound);
    const std::string what = e.what();
    EXPECT_NE(what.find(held_by(tracer)), std::string::npos) << what;
    EXPECT_EQ(what.find("could not be killed"), std::string::npos) << what;
    expect_all_gone(tracer, token);
  }
}

TEST_F(PtraceHeld, TerminateKeepsItsBoundAndSaysWhatHeldTheChild) {
  const std::string token = safeexec_test::unique_token("traced-terminate");
  HeldChild h;
  start_held(h, safeexec::SpawnOptions{}, token);
  if (!h.p) return;
  const auto start = Clock::now();
  try {
    const ExitStatus st = h.p->terminate(100ms);
    ADD_FAILURE() << "terminate() returned " << st.str() << " while the tracer holds the child";
  } catch (const safeexec::KillError& e) {
    EXPECT_NE(std::string(e.what()).find(held_by(h.tracer)), std::string::npos) << e.what();
  }
  EXPECT_LT(Clock::now() - start, 100ms + 1000ms + kSlack);
  EXPECT_EQ(h.p->wait(), ExitStatus::signaled(SIGKILL));  // once the tracer lets go
  expect_all_gone(h.tracer, token);
}

}  // namespace
