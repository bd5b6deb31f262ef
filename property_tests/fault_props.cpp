// fault_props.cpp - properties under injected faults (F05): the Nth call of
// pipe2 / clone / pidfd_open / poll / read / write / waitid fails with a
// chosen errno (the test-only seam of safeexec::testing, not a mock), or the
// real RLIMIT_NOFILE is lowered to just above what is open. Every failure
// must be a typed safeexec error carrying the injected errno, or a correct
// retry (EINTR is transparent: same result as without the fault); and on
// every path the descriptors equal the snapshot, no child is left unreaped
// and no child is left running.
//
// Which errnos: each call is failed with the errnos the issue lists
// (EMFILE, ENFILE, ENOMEM, EAGAIN, and EINTR for the calls that can be
// interrupted; pipe2, clone and pidfd_open never return EINTR).
// Two core defects were found here and fixed (see README.md):
//   B1  a failed read of the exec-report pipe made create_process() reap a
//       child blocked on our stdin pipe, forever (fixed in 92f375d);
//   B2  any waitid failure but EINTR was taken for ECHILD ("reaped by someone
//       else"): the handle forgot a child that was still alive or a zombie.
// A watchdog turns a hang into a failure (it kills our children after 20 s)
// instead of blocking the suite.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <sys/resource.h>
#include <unistd.h>
#include "prop_gtest.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "safeexec/safeexec.hpp"
#include "safeexec/testing/fault_injection.hpp"
#include "support.hpp"

namespace safeexec_props {

using safeexec::testing::Call;

/// One injected fault: call number `nth` of `call` fails with `error`, and
/// the `times - 1` calls after it too.
struct Fault {
  Call call = Call::pipe2;
  unsigned nth = 1;
  int error = EMFILE;
  unsigned times = 1;
};

/// What the property does while the faults are armed.
enum class Op {
  execute_echo,       // execute(echo, input): out == input
  execute_spew,       // execute(write-then-echo N, input): lots of reads, writes and polls
  execute_exit,       // execute(exit 3): ProcessExecutionError
  execute_timeout,    // execute(sleep 60 s, timeout 30 ms): TimeoutError, group killed
  spawn_communicate,  // create_process(echo) + communicate
  spawn_wait,         // create_process(sleep 5) + wait_until
  spawn_terminate,    // create_process(sleep 60 s) + terminate
  spawn_destroy,      // create_process(sleep 60 s) + drop the handle
};

struct FaultCase {
  Op op = Op::execute_echo;
  std::size_t input_size = 0;
  std::uint64_t seed = 0;
  std::vector<Fault> faults;
};

const char* call_name(Call c) {
  switch (c) {
    case Call::pipe2:
      return "pipe2";
    case Call::clone:
      return "clone";
    case Call::pidfd_open:
      return "pidfd_open";
    case Call::poll:
      return "poll";
    case Call::read:
      return "read";
    case Call::write:
      return "write";
    case Call::waitid:
      return "waitid";
    case Call::close_range:
      return "close_range";
    case Call::open:
      return "open";
    case Call::signal:
      return "signal";
    case Call::thread_create:
      return "thread_create";
    case Call::environ_read:
      return "environ_read";
    case Call::cgroup_kill:
      return "cgroup_kill";
    case Call::clone3:
      return "clone3";
    case Call::cgroup_freeze:
      return "cgroup_freeze";
    case Call::cgroup_join:
      return "cgroup_join";
    case Call::count_:
      break;
  }
  return "?";
}

const char* op_name(Op op) {
  switch (op) {
    case Op::execute_echo:
      return "execute(echo)";
    case Op::execute_spew:
      return "execute(write-then-echo 70000)";
    case Op::execute_exit:
      return "execute(exit 3)";
    case Op::execute_timeout:
      return "execute(sleep 60000, timeout 30 ms)";
    case Op::spawn_communicate:
      return "create_process(echo) + communicate";
    case Op::spawn_wait:
      return "create_process(sleep 5) + wait_until";
    case Op::spawn_terminate:
      return "create_process(sleep 60000) + terminate(20 ms)";
    case Op::spawn_destroy:
      return "create_process(sleep 60000) + destroy";
  }
  return "?";
}

// RapidCheck prints drawn values with showValue() when a case fails.
void showValue(const FaultCase& c, std::ostream& os) {
  os << op_name(c.op) << " input " << c.input_size << " bytes (seed " << c.seed << "); faults:";
  for (const Fault& f : c.faults) {
    os << " [" << call_name(f.call) << " #" << f.nth << " -> " << strerrorname_np(f.error);
    if (f.times > 1) os << " x" << f.times;
    os << "]";
  }
}

namespace {

using namespace std::chrono_literals;
using safeexec::ExecuteOptions;
using safeexec::ExitStatus;

/// clear_faults() on entry and exit, so a failing property (an RC_ASSERT
/// throws) cannot leave a fault armed for the next case or test.
class FaultScope {
 public:
  FaultScope() { safeexec::testing::clear_faults(); }
  FaultScope(const FaultScope&) = delete;
  FaultScope& operator=(const FaultScope&) = delete;
  ~FaultScope() { safeexec::testing::clear_faults(); }
};

/// Turns a hang into a failure: after `limit`, SIGKILLs our children (which
/// unblocks a library stuck reaping one) and remembers that it had to.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit)
      : thread_([this, limit] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!done_cv_.wait_for(lock, limit, [this] { return done_; })) {
            fired_.store(true);
            for (const ProcInfo& p : our_children()) (void)::kill(p.pid, SIGKILL);
          }
        }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() { stop(); }
  void stop() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  bool fired() const { return fired_.load(); }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

/// Occupies every free descriptor number below `highest` (with /dev/null),
/// so that a limit of highest + 1 + k really leaves k numbers free: test
/// runners hand us descriptors with holes below them (fd 251 and nothing
/// from 11 to 250, say).
class FillHoles {
 public:
  explicit FillHoles(int highest) {
    for (;;) {
      const int fd =
          ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // NOLINT(cppcoreguidelines-pro-type-vararg)
      if (fd < 0) break;
      if (fd > highest) {
        (void)::close(fd);
        break;
      }
      fds_.push_back(fd);
    }
  }
  FillHoles(const FillHoles&) = delete;
  FillHoles& operator=(const FillHoles&) = delete;
  ~FillHoles() {
    for (const int fd : fds_) (void)::close(fd);
  }

 private:
  std::vector<int> fds_;
};

/// Lowers RLIMIT_NOFILE's soft limit for the object's lifetime.
class FdLimit {
 public:
  explicit FdLimit(rlim_t soft) {
    (void)::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = std::min(soft, saved_.rlim_max);
    ok_ = ::setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  FdLimit(const FdLimit&) = delete;
  FdLimit& operator=(const FdLimit&) = delete;
  ~FdLimit() { (void)::setrlimit(RLIMIT_NOFILE, &saved_); }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

/// How an operation ended.
struct Outcome {
  enum class Kind { success, baseline_error, system_error, other_error };
  Kind kind = Kind::success;
  std::string type;  // exception type for messages
  std::string what;
  int error_code = 0;    // SystemError's errno
  std::string mismatch;  // non-empty: a success or baseline error with wrong content
};

/// Runs `op`, classifying the ending. `tag` marks the children so that none
/// may be left running.
Outcome run_op(const FaultCase& c, const std::string& tag) {
  Outcome o;
  const std::string& helper = helper_path();
  const std::string input = make_bytes(c.input_size, c.seed, static_cast<int>(c.seed % 5));
  try {
    switch (c.op) {
      case Op::execute_echo: {
        const auto r = safeexec::execute({helper, "echo", tag},
                                         ExecuteOptions{}.process_input(input).timeout(15s));
        if (r.out != input) o.mismatch = "stdout " + show_bytes(r.out);
        break;
      }
      case Op::execute_spew: {
        const auto r = safeexec::execute({helper, "write-then-echo", "70000", tag},
                                         ExecuteOptions{}.process_input(input).timeout(15s));
        const std::string pattern = helper_pattern(70000);
        if (r.out != pattern + input || r.err != pattern) {
          o.mismatch = "stdout " + std::to_string(r.out.size()) + " bytes, stderr " +
                       std::to_string(r.err.size()) + " bytes";
        }
        break;
      }
      case Op::execute_exit:
        (void)safeexec::execute({helper, "exit", "3", tag},
                                ExecuteOptions{}.process_input(input).timeout(15s));
        o.mismatch = "exit 3 was accepted";
        break;
      case Op::execute_timeout:
        (void)safeexec::execute(
            {helper, "sleep", "60000", tag},
            ExecuteOptions{}.process_input(input).timeout(30ms).kill_grace(20ms));
        o.mismatch = "no TimeoutError";
        break;
      case Op::spawn_communicate: {
        safeexec::Process p =
            safeexec::create_process({helper, "echo", tag}, safeexec::SpawnOptions{}.all_pipes());
        const safeexec::Output out = p.communicate(input, safeexec::deadline_after(15s));
        if (out.out != input || !out.err.empty()) o.mismatch = "stdout " + show_bytes(out.out);
        if (p.status() != ExitStatus::exited(0)) o.mismatch += " status " + p.status().str();
        break;
      }
      case Op::spawn_wait: {
        safeexec::Process p = safeexec::create_process(
            {helper, "sleep", "5", tag},
            safeexec::SpawnOptions{}.stdin_mode(safeexec::Stdio::null).stdout_pipe());
        const auto st = p.wait_until(safeexec::deadline_after(15s));
        if (!st || *st != ExitStatus::exited(0)) {
          o.mismatch = "status " + (st ? st->str() : std::string("none within 15 s"));
        }
        break;
      }
      case Op::spawn_terminate: {
        safeexec::Process p =
            safeexec::create_process({helper, "sleep", "60000", tag},
                                     safeexec::SpawnOptions{}.all_pipes().new_process_group(true));
        const ExitStatus st = p.terminate(20ms);
        if (st != ExitStatus::signaled(SIGTERM)) o.mismatch = "status " + st.str();
        break;
      }
      case Op::spawn_destroy: {
        const safeexec::Process p = safeexec::create_process({helper, "sleep", "60000", tag},
                                                             safeexec::SpawnOptions{}.all_pipes());
        if (p.pid() <= 0) o.mismatch = "no pid";
        break;
      }
    }
  } catch (const safeexec::ProcessExecutionError& e) {
    o.kind = Outcome::Kind::baseline_error;
    o.type = "ProcessExecutionError";
    o.what = e.what();
    if (c.op != Op::execute_exit) {
      o.kind = Outcome::Kind::other_error;
    } else if (e.status() != ExitStatus::exited(3)) {
      o.mismatch = "status " + e.status().str();
    }
  } catch (const safeexec::TimeoutError& e) {
    o.kind =
        c.op == Op::execute_timeout ? Outcome::Kind::baseline_error : Outcome::Kind::other_error;
    o.type = "TimeoutError";
    o.what = e.what();
  } catch (const safeexec::SpawnError& e) {
    o.kind = Outcome::Kind::system_error;
    o.type = std::string("SpawnError(stage ") + safeexec::to_string(e.stage()) + ")";
    o.what = e.what();
    o.error_code = e.error_code();
  } catch (const safeexec::IoError& e) {
    o.kind = Outcome::Kind::system_error;
    o.type = "IoError";
    o.what = e.what();
    o.error_code = e.error_code();
  } catch (const safeexec::Error& e) {
    o.kind = Outcome::Kind::other_error;
    o.type = "safeexec::Error";
    o.what = e.what();
  } catch (const std::exception& e) {
    o.kind = Outcome::Kind::other_error;
    o.type = "std::exception (untyped!)";
    o.what = e.what();
  }
  if (o.kind == Outcome::Kind::success &&
      (c.op == Op::execute_exit || c.op == Op::execute_timeout) && o.mismatch.empty()) {
    o.mismatch = "no error";
  }
  return o;
}

std::string describe(const Outcome& o) {
  switch (o.kind) {
    case Outcome::Kind::success:
      return "success" + (o.mismatch.empty() ? std::string() : " with wrong result: " + o.mismatch);
    case Outcome::Kind::baseline_error:
    case Outcome::Kind::system_error:
    case Outcome::Kind::other_error:
      break;
  }
  std::string s = o.type + ": " + o.what;
  if (!o.mismatch.empty()) s += " (" + o.mismatch + ")";
  return s;
}

rc::Gen<FaultCase> gen_case(bool eintr_only) {
  return rc::gen::exec([eintr_only] {
    FaultCase c;
    c.op = *rc::gen::element(Op::execute_echo, Op::execute_spew, Op::execute_exit,
                             Op::execute_timeout, Op::spawn_communicate, Op::spawn_wait,
                             Op::spawn_terminate, Op::spawn_destroy);
    c.input_size = *gen_pipe_edge_size(256 * 1024);
    c.seed = *rc::gen::arbitrary<std::uint64_t>();
    const int count = *rc::gen::inRange(1, 4);
    for (int i = 0; i < count; ++i) {
      Fault f;
      if (eintr_only) {
        // Only calls that can really be interrupted; the others never
        // return EINTR (pipe2, clone, pidfd_open).
        f.call = *rc::gen::element(Call::poll, Call::read, Call::write, Call::waitid);
        f.error = EINTR;
      } else {
        f.call = *rc::gen::element(Call::pipe2, Call::clone, Call::pidfd_open, Call::poll,
                                   Call::read, Call::write, Call::waitid);
        const bool interruptible = f.call == Call::poll || f.call == Call::read ||
                                   f.call == Call::write || f.call == Call::waitid;
        // EINTR only where the kernel can return it (and must then be
        // retried); pipe2, clone and pidfd_open never return it.
        f.error = interruptible ? *rc::gen::element(EMFILE, ENFILE, ENOMEM, EAGAIN, EINTR)
                                : *rc::gen::element(EMFILE, ENFILE, ENOMEM, EAGAIN);
      }
      // Mostly the first few calls (spawn-time calls happen once or twice),
      // sometimes deep into a long I/O loop.
      f.nth = *rc::gen::weightedOneOf<unsigned>({{6, rc::gen::inRange(1U, 4U)},
                                                 {3, rc::gen::inRange(4U, 13U)},
                                                 {1, rc::gen::inRange(13U, 200U)}});
      f.times = *rc::gen::inRange(1U, 4U);
      c.faults.push_back(f);
    }
    return c;
  });
}

/// The common body: arm the faults, run the op under a watchdog, check the
/// outcome, then check that nothing leaked.
void check_case(const FaultCase& c, bool must_match_baseline) {
  const LogCapture quiet;
  LeakGuard leaks;
  const std::string tag = new_tag();
  Outcome o;
  bool hung = false;
  unsigned fired = 0;
  {
    const FaultScope scope;
    Watchdog watchdog(20s);
    for (const Fault& f : c.faults) {
      safeexec::testing::inject_fault(f.call, f.nth, f.error, f.times);
    }
    o = run_op(c, tag);
    fired = safeexec::testing::faults_fired();
    watchdog.stop();
    hung = watchdog.fired();
  }
  // Nothing may be left running, whatever the outcome (the op's children
  // carry the tag; a leaked running child would also show in leaks.verify).
  const std::vector<pid_t> running = live_tagged(tag);
  if (!running.empty()) (void)drain_tagged(tag, 0ms);
  RC_TAG(op_name(c.op), fired > 0 ? "fault fired" : "no fault fired");

  PROP_CHECK(!hung, "F05: the operation hung (watchdog killed our children after 20 s); ended " +
                        describe(o));
  PROP_CHECK(running.empty(), "F05: " + std::to_string(running.size()) +
                                  " child(ren) left running after: " + describe(o));
  std::set<int> injected;
  bool only_eintr = true;
  for (const Fault& f : c.faults) {
    injected.insert(f.error);
    only_eintr = only_eintr && f.error == EINTR;
  }
  switch (o.kind) {
    case Outcome::Kind::success:
    case Outcome::Kind::baseline_error:
      PROP_CHECK(o.mismatch.empty(), "wrong result: " + describe(o));
      break;
    case Outcome::Kind::system_error:
      PROP_CHECK(!must_match_baseline && !only_eintr,
                 "EINTR must be retried, not reported: " + describe(o));
      PROP_CHECK(fired > 0, "a system error although no fault fired: " + describe(o));
      PROP_CHECK(injected.count(o.error_code) != 0, "the error carries errno " +
                                                        std::to_string(o.error_code) +
                                                        ", not an injected one: " + describe(o));
      break;
    case Outcome::Kind::other_error:
      RC_FAIL("not a typed SpawnError/IoError for an injected fault: " + describe(o));
  }
  leaks.verify("F05 (under injected faults)");
}

SAFEEXEC_PROP(FaultInjection, F05_InjectedFaultIsTypedErrorOrRetryAndLeaksNothing) {
  check_case(*gen_case(false), false);
}

SAFEEXEC_PROP(FaultInjection, F05_EintrIsTransparent) {
  check_case(*gen_case(true), true);
}

/// The real limit: RLIMIT_NOFILE lowered to just above the highest open
/// descriptor. Spawns either work or fail with SpawnError(EMFILE); holding
/// children until the limit bites, the failing spawn leaves nothing and the
/// earlier ones still work.
SAFEEXEC_PROP(FaultInjection, F05_LowFdLimitFailsTypedAndLeaksNothing) {
  const auto headroom = *rc::gen::inRange<rlim_t>(0, 16);
  const bool hold_until_full = *rc::gen::arbitrary<bool>();
  const auto input = *rc::gen::container<std::string>(rc::gen::arbitrary<char>());
  RC_LOG() << "case: RLIMIT_NOFILE = highest open fd + 1 + " << headroom << ", "
           << (hold_until_full ? "spawn and hold children until a spawn fails"
                               : "one execute(echo)")
           << "\n";
  const LogCapture quiet;
  LeakGuard leaks;
  const std::string& helper = helper_path();
  const rlim_t highest = static_cast<rlim_t>(*leaks.before().rbegin());
  std::string failure;  // checked after the limit is restored
  std::size_t spawned = 0;
  std::optional<safeexec::SpawnError> refused;
  {
    const FillHoles filled(static_cast<int>(highest));
    std::vector<safeexec::Process> held;
    const FdLimit limit(highest + 1 + headroom);
    if (!limit.ok()) failure = "setrlimit failed";
    try {
      if (hold_until_full) {
        for (int i = 0; i < 64; ++i) {
          held.push_back(safeexec::create_process(
              {helper, "echo"}, safeexec::SpawnOptions{}.stdin_pipe().stdout_pipe()));
          ++spawned;
        }
        failure = "64 spawns fit under a limit of " + std::to_string(highest + 1 + headroom);
      } else {
        const auto r =
            safeexec::execute({helper, "echo"}, ExecuteOptions{}.process_input(input).timeout(15s));
        if (r.out != input) failure = "wrong output " + show_bytes(r.out);
      }
    } catch (const safeexec::SpawnError& e) {
      refused = e;
    } catch (const std::exception& e) {
      failure = std::string("not a SpawnError: ") + e.what();
    }
    // The children spawned before the limit bit still work.
    for (safeexec::Process& p : held) {
      const safeexec::Output out = p.communicate("ping", safeexec::deadline_after(15s));
      if (out.out != "ping" || p.status() != ExitStatus::exited(0)) {
        failure = "a child spawned before the limit misbehaved: " + show_bytes(out.out);
      }
    }
  }
  RC_TAG(refused ? "refused" : "ran");
  PROP_CHECK(failure.empty(), failure);
  if (refused) {
    PROP_CHECK(refused->error_code() == EMFILE, refused->what());
    PROP_CHECK(refused->stage() == safeexec::SpawnStage::pipes ||
                   refused->stage() == safeexec::SpawnStage::clone,
               refused->what());
  }
  leaks.verify("F05 (under a low RLIMIT_NOFILE)");
}

}  // namespace
}  // namespace safeexec_props
