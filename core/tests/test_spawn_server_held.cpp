// test_spawn_server_held.cpp - a spawn server held by a tracer when the
// library kills it (finding S21).
//
// The channel kills its server when it restarts it, when the server hangs
// and when the channel is reset. A tracer attached to the server (strace, a
// debugger, or LeakSanitizer's own tracer in an ASan-built server that began
// its exit on the channel's EOF) is told of the death first: until it lets
// go, the server's pidfd polls readable and waitid() finds nothing to reap.
// The reap loop that polled the pidfd again at once went through its 2000
// tries in a few milliseconds and returned, leaving the server a zombie that
// the host's next waitpid(-1) reaped instead. Here a tracer of the test's
// own holds the dead server; the reset must reap it itself (or hand it to a
// background reaper past its bound), without spinning.
//
// ptrace needs permission: the tests run as root, and where it is refused
// the test fails saying so (no silent pass).
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "safeexec/safeexec.hpp"
#include "safeexec/testing/spawn_server.hpp"
#include "spawn_server_fixture.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace hooks = safeexec::testing;

/// CPU the resetting thread may spend in a reset that waits about a
/// second: a loop polling the readable pidfd again at once spends all of it.
constexpr auto kCpuBound = 50ms;
/// Slack on wall-clock bounds (a loaded 2-core machine).
constexpr auto kSlack = 700ms;
/// The channel's bound on reaping a killed server (spawn_server_client.cpp).
constexpr auto kReapBound = 2000ms;

using safeexec_test::thread_cpu;

long long ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// Whether `pid` is still a child of ours (running, or a zombie not reaped).
bool still_our_child(pid_t pid) {
  siginfo_t info{};
  errno = 0;
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

/// A tracer: a forked copy of this process that seizes the server (no stop,
/// no signal of its own) and says so, then waits for the test's byte on
/// `go`, sent just before the reset kills the server, and from then holds
/// the server for `hold` without ever collecting its death; then it exits,
/// which hands the zombie back to its parent. (Timed from the seize, a slow
/// machine could let it go before the kill, and the test would test
/// nothing.)
struct Tracer {
  pid_t pid = -1;
  int go = -1;  ///< the write end: one byte starts the hold
};

Tracer start_tracer(pid_t target, std::chrono::milliseconds hold) {
  int said[2];
  int go[2];
  if (::pipe2(said, O_CLOEXEC) != 0 || ::pipe2(go, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: errno " << errno;
    return {};
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: errno " << errno;
    for (const int fd : {said[0], said[1], go[0], go[1]}) ::close(fd);
    return {};
  }
  if (pid == 0) {
    ::close(said[0]);
    ::close(go[1]);
    const char ok = ::ptrace(PTRACE_SEIZE, target, nullptr, nullptr) == 0 ? 'y' : 'n';
    (void)!::write(said[1], &ok, 1);
    char byte = 0;
    if (ok == 'y' && ::read(go[0], &byte, 1) == 1) {
      const timespec ts{static_cast<time_t>(hold.count() / 1000),
                        static_cast<long>(hold.count() % 1000) * 1000000L};
      (void)::nanosleep(&ts, nullptr);
    }
    ::_exit(0);
  }
  ::close(said[1]);
  ::close(go[0]);
  char ok = 0;
  const bool told = ::read(said[0], &ok, 1) == 1;
  ::close(said[0]);
  if (!told || ok != 'y') {
    ADD_FAILURE() << "the tracer could not PTRACE_SEIZE the server (ptrace refused here)";
    ::close(go[1]);
    int st = 0;
    (void)::waitpid(pid, &st, 0);
    return {};
  }
  return Tracer{pid, go[1]};
}

/// A server of our own, started for the test; each test ends with none and
/// every child (tracer, server) reaped (spawn_server_fixture.hpp).
class SpawnServerHeld : public safeexec_test::SpawnServerTest {
 protected:
  /// Starts the server with one spawn through it; its pid, or -1.
  static pid_t running_server() {
    safeexec::Process p = safeexec::create_process(
        safeexec_test::child_cmd({"exit", "0"}),
        safeexec::SpawnOptions{}.spawn_strategy(safeexec::SpawnStrategy::server));
    EXPECT_TRUE(p.wait().success());
    return hooks::spawn_server_pid();
  }

  /// The server, running and seized by a tracer that will hold it for
  /// `hold` once told to.
  struct Held {
    pid_t server = -1;
    pid_t tracer = -1;
    int go = -1;
  };
  static Held held_server(std::chrono::milliseconds hold) {
    Held h;
    h.server = running_server();
    if (h.server <= 0) return h;
    const Tracer t = start_tracer(h.server, hold);
    h.tracer = t.pid;
    h.go = t.go;
    return h;
  }

  /// Starts the tracer's hold, then the reset that kills the held server:
  /// how long the reset took, in wall-clock time and in this thread's CPU.
  struct Timed {
    Clock::duration took;
    std::chrono::nanoseconds cpu;
  };
  static Timed timed_reset(Held& h) {
    const char byte = 1;
    EXPECT_EQ(::write(h.go, &byte, 1), 1);
    ::close(h.go);
    h.go = -1;
    const auto cpu0 = thread_cpu();
    const Clock::time_point t0 = Clock::now();
    hooks::reset_spawn_server();
    return Timed{Clock::now() - t0, thread_cpu() - cpu0};
  }
};

TEST_F(SpawnServerHeld, ResetReapsAServerATracerHoldsWithoutSpinning) {
  constexpr auto kHold = 1000ms;  // under the reap bound: the reset itself reaps it
  Held h = held_server(kHold);
  ASSERT_GT(h.tracer, 0);
  const Timed t = timed_reset(h);

  // Reaped by the reset, not left for the host's next waitpid(-1).
  EXPECT_FALSE(still_our_child(h.server))
      << "the reset returned after " << ms(t.took) << " ms with the killed server unreaped "
      << "(held by its tracer): a zombie the library forgot";
  EXPECT_LT(t.cpu, kCpuBound) << "the reset spent " << ms(t.cpu)
                              << " ms of CPU waiting for the held server: it spun";
  EXPECT_LT(t.took, kReapBound + kSlack) << "the reset took " << ms(t.took) << " ms";
  // It waited for the tracer to let go (else the hold tested nothing).
  EXPECT_GE(t.took, kHold / 2) << "the reset took only " << ms(t.took) << " ms";
  int st = 0;
  EXPECT_EQ(::waitpid(h.tracer, &st, 0), h.tracer);
}

TEST_F(SpawnServerHeld, AServerHeldPastTheBoundIsReapedInTheBackground) {
  Held h = held_server(3500ms);  // past the reap bound: a background thread reaps it
  ASSERT_GT(h.tracer, 0);
  const Timed t = timed_reset(h);
  EXPECT_LT(t.took, kReapBound + kSlack)
      << "the reset kept its bound only after " << ms(t.took) << " ms";
  EXPECT_LT(t.cpu, kCpuBound) << "the reset spent " << ms(t.cpu) << " ms of CPU: it spun";

  // Once the tracer lets go, the library (not this test) reaps the server.
  int st = 0;
  EXPECT_EQ(::waitpid(h.tracer, &st, 0), h.tracer);
  EXPECT_TRUE(safeexec_test::eventually([&] { return !still_our_child(h.server); }, 5s))
      << "the killed server was never reaped once its tracer let go";
}

}  // namespace
