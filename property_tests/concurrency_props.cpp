// concurrency_props.cpp - many threads at once.
//   F03/F06  2..16 threads run random execute()s at the same time (some
//            through execute_async, i.e. the pool) while another thread keeps
//            opening pipes WITHOUT O_CLOEXEC: each call gets exactly its own
//            output (a per-call token: no crossed pipes), each child sees only
//            0, 1, 2 (no descriptor of another thread leaks into it), a child
//            started NOT through safeexec (posix_spawn) inherits none of the
//            pipes other threads hold, and afterwards nothing is left open or
//            unreaped.
//   F03/F04  avoid_blocking_call() runs f on a pool worker (inline when
//            nested), returns its value, rethrows its exception with the
//            original type and message, and keeps every worker: afterwards
//            blocking_pool_size() jobs can all be running at once.
// Written to be clean under ThreadSanitizer: RapidCheck draws every value on
// the property's thread before any other thread starts; worker threads only
// write their own slot of a vector, read after join().
#include <fcntl.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include "prop_gtest.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include "safeexec/safeexec.hpp"
#include "support.hpp"

namespace safeexec_props {

/// One execute() a worker thread runs.
struct CallPlan {
  enum class Kind { echo, argv, fds, exit_code, sibling };
  Kind kind = Kind::echo;
  bool async = false;  // through execute_async (the pool)
  std::size_t size = 0;
  std::uint64_t seed = 0;
  int code = 0;
  std::set<int> ok_codes;
};

void showValue(const CallPlan& c, std::ostream& os) {
  static const char* names[] = {"echo", "argv", "fds", "exit", "posix_spawn sibling (fds)"};
  os << (c.async ? "execute_async " : "execute ") << names[static_cast<int>(c.kind)];
  if (c.kind == CallPlan::Kind::echo) os << " " << c.size << " bytes (seed " << c.seed << ")";
  if (c.kind == CallPlan::Kind::exit_code) {
    os << " " << c.code << " extra_ok_codes={";
    for (const int k : c.ok_codes) os << k << ",";
    os << "}";
  }
}

/// One job for avoid_blocking_call().
struct JobPlan {
  enum class Kind { value, runtime_error, invalid_argument, custom, int_value, io_error, nested };
  Kind kind = Kind::value;
  int n = 0;
};

void showValue(const JobPlan& j, std::ostream& os) {
  static const char* names[] = {
      "return n",  "throw std::runtime_error", "throw std::invalid_argument", "throw CustomError",
      "throw int", "throw safeexec::IoError",  "nested avoid_blocking_call"};
  os << names[static_cast<int>(j.kind)] << "(" << j.n << ")";
}

namespace {

using namespace std::chrono_literals;
using safeexec::ExecuteOptions;
using safeexec::ExitStatus;

/// `siblings`: also start children NOT through safeexec (posix_spawn, which
/// closes nothing), to see which of our descriptors such a child inherits.
rc::Gen<CallPlan> gen_call(bool siblings) {
  return rc::gen::exec([siblings] {
    CallPlan c;
    c.kind = siblings ? *rc::gen::element(CallPlan::Kind::echo, CallPlan::Kind::echo,
                                          CallPlan::Kind::argv, CallPlan::Kind::fds,
                                          CallPlan::Kind::exit_code, CallPlan::Kind::sibling)
                      : *rc::gen::element(CallPlan::Kind::echo, CallPlan::Kind::echo,
                                          CallPlan::Kind::argv, CallPlan::Kind::fds,
                                          CallPlan::Kind::exit_code);
    c.async = *rc::gen::arbitrary<bool>();
    c.size = *gen_pipe_edge_size(512 * 1024);
    c.seed = *rc::gen::arbitrary<std::uint64_t>();
    c.code = *rc::gen::element(0, 1, 2, 3);
    c.ok_codes = *rc::gen::resize(3, rc::gen::container<std::set<int>>(rc::gen::inRange(1, 4)));
    return c;
  });
}

/// Runs one planned call; returns "" when it behaved, else what went wrong.
/// A child started with posix_spawn (no safeexec): it inherits every
/// descriptor of ours that is not close-on-exec at that moment. Returns its
/// "fds" listing, or an error text starting with '!'.
std::string sibling_fds(const std::string& token) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return "!pipe2 failed";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);  // dup2 clears CLOEXEC on 1 only
  std::string helper = helper_path();
  std::string mode = "fds";
  std::string tok = token;
  char* argv[] = {helper.data(), mode.data(), tok.data(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  (void)::close(out[1]);
  std::string listing;
  if (rc == 0) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n > 0) {
        listing.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  (void)::close(out[0]);
  return rc == 0 ? listing : "!posix_spawn failed";
}

/// Runs one planned call; returns "" when it behaved, else what went wrong.
/// `inheritable`: the "fds" listing a sibling may show (0, 1, 2 and what the
/// test runner handed us without close-on-exec).
std::string run_call(const CallPlan& c, const std::string& token, const std::string& inheritable) {
  const std::string& helper = helper_path();
  try {
    const auto run = [&c](std::vector<std::string> argv, ExecuteOptions o) {
      return c.async ? safeexec::execute_async(std::move(argv), std::move(o)).get()
                     : safeexec::execute(std::move(argv), o);
    };
    switch (c.kind) {
      case CallPlan::Kind::echo: {
        const std::string input = token + make_bytes(c.size, c.seed, static_cast<int>(c.seed % 5));
        const auto r = run({helper, "echo"}, ExecuteOptions{}.process_input(input).timeout(60s));
        if (r.out != input) {
          return "F03: echo got " + std::to_string(r.out.size()) + " bytes starting " +
                 show_bytes(r.out, 32) + ", want " + std::to_string(input.size()) + " starting " +
                 show_bytes(input, 32);
        }
        break;
      }
      case CallPlan::Kind::argv: {
        const auto r = run({helper, "argv", token, "x y", ""}, ExecuteOptions{}.timeout(60s));
        const std::string want = token + '\0' + "x y" + '\0' + '\0';
        if (r.out != want)
          return "F03: argv got " + show_bytes(r.out) + ", want " + show_bytes(want);
        break;
      }
      case CallPlan::Kind::fds: {
        const auto r = run({helper, "fds", token}, ExecuteOptions{}.timeout(60s));
        if (r.out != "0 1 2\n")
          return "F06: the child had descriptors " + show_bytes(r.out) + " open";
        break;
      }
      case CallPlan::Kind::sibling: {
        // F06: while other threads hold safeexec pipes, a child that someone
        // else starts must not inherit any of them (it would hold them open,
        // and their readers would never see EOF).
        const std::string got = sibling_fds(token);
        if (got != inheritable) {
          return "F06: a posix_spawn'ed sibling inherited " + show_bytes(got, 200) + ", want " +
                 show_bytes(inheritable);
        }
        break;
      }
      case CallPlan::Kind::exit_code: {
        const bool accepted = c.code == 0 || c.ok_codes.count(c.code) != 0;
        try {
          const auto r = run({helper, "exit", std::to_string(c.code), token},
                             ExecuteOptions{}.extra_ok_codes(c.ok_codes).timeout(60s));
          if (!accepted) return "exit " + std::to_string(c.code) + " was accepted";
          if (r.status != ExitStatus::exited(c.code)) return "status " + r.status.str();
        } catch (const safeexec::ProcessExecutionError& e) {
          if (accepted || e.exit_code() != c.code) return std::string("unexpected: ") + e.what();
          // The message names this call's own command (its token), no other.
          if (std::string(e.what()).find(token) == std::string::npos) {
            return std::string("F03: the error names another command: ") + e.what();
          }
        }
        break;
      }
    }
  } catch (const std::exception& e) {
    return std::string("unexpected exception: ") + e.what();
  }
  return {};
}

SAFEEXEC_PROP(Concurrency, F03_F06_ThreadsGetTheirOwnOutput) {
  static const std::vector<int> thread_counts = {2,  3,  4,  5,  6,  7,  8, 9,
                                                 10, 11, 12, 13, 14, 15, 16};
  const int threads = *rc::gen::elementOf(thread_counts);
  const bool noise = *rc::gen::arbitrary<bool>();
  std::vector<std::vector<CallPlan>> plans;
  for (int t = 0; t < threads; ++t) {
    // posix_spawn'ed siblings only without the noise thread, whose pipes are
    // deliberately inheritable.
    plans.push_back(*rc::gen::resize(
        3, rc::gen::nonEmpty(rc::gen::container<std::vector<CallPlan>>(gen_call(!noise)))));
  }
  RC_TAG(noise ? "with non-CLOEXEC noise" : "quiet");
  RC_LOG() << "case: " << threads << " threads"
           << (noise ? ", plus one opening pipes without O_CLOEXEC" : "") << "\n";
  const LogCapture quiet;
  LeakGuard leaks;
  std::string inheritable;
  for (const int fd : leaks.before()) {
    const int flags = ::fcntl(fd, F_GETFD);  // NOLINT(cppcoreguidelines-pro-type-vararg)
    if (fd <= 2 || (flags >= 0 && (flags & FD_CLOEXEC) == 0)) {
      inheritable += (inheritable.empty() ? "" : " ") + std::to_string(fd);
    }
  }
  inheritable += "\n";
  std::vector<std::string> failures(static_cast<std::size_t>(threads));
  {
    std::latch start(threads + 1);
    std::atomic<bool> stop{false};
    // Another thread opens descriptors without O_CLOEXEC all the time, as a
    // careless library in the same process would: none may reach a child.
    std::thread noisy;
    if (noise) {
      noisy = std::thread([&stop] {
        while (!stop.load()) {
          int fds[2];
          if (::pipe(fds) == 0) {  // NOLINT(android-cloexec-pipe): on purpose
            std::this_thread::yield();
            (void)::close(fds[0]);
            (void)::close(fds[1]);
          }
        }
      });
    }
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([t, &plans, &failures, &start, &inheritable] {
        start.arrive_and_wait();
        const auto idx = static_cast<std::size_t>(t);
        for (std::size_t i = 0; i < plans[idx].size() && failures[idx].empty(); ++i) {
          const std::string token = "tok-" + std::to_string(t) + "-" + std::to_string(i) + "-";
          failures[idx] = run_call(plans[idx][i], token, inheritable);
          if (!failures[idx].empty()) {
            failures[idx] =
                "thread " + std::to_string(t) + " call " + std::to_string(i) + ": " + failures[idx];
          }
        }
      });
    }
    start.arrive_and_wait();
    for (std::thread& w : workers) w.join();
    stop.store(true);
    if (noisy.joinable()) noisy.join();
  }
  for (const std::string& f : failures) PROP_CHECK(f.empty(), f);
  leaks.verify("F05 (after concurrent executes)");
}

struct CustomError {
  int code;
};

rc::Gen<JobPlan> gen_job() {
  return rc::gen::exec([] {
    JobPlan j;
    j.kind =
        *rc::gen::element(JobPlan::Kind::value, JobPlan::Kind::runtime_error,
                          JobPlan::Kind::invalid_argument, JobPlan::Kind::custom,
                          JobPlan::Kind::int_value, JobPlan::Kind::io_error, JobPlan::Kind::nested);
    j.n = *rc::gen::inRange(-1000, 1000);
    return j;
  });
}

/// The job body: runs on a pool worker. Returns n + 1 or throws.
int job_body(const JobPlan& j, std::thread::id caller, bool* on_other_thread) {
  *on_other_thread = std::this_thread::get_id() != caller;
  const std::string msg = "job message " + std::to_string(j.n);
  switch (j.kind) {
    case JobPlan::Kind::value:
      return j.n + 1;
    case JobPlan::Kind::runtime_error:
      throw std::runtime_error(msg);
    case JobPlan::Kind::invalid_argument:
      throw std::invalid_argument(msg);
    case JobPlan::Kind::custom:
      throw CustomError{j.n};
    case JobPlan::Kind::int_value:
      throw j.n;
    case JobPlan::Kind::io_error:
      throw safeexec::IoError(msg, EIO);
    case JobPlan::Kind::nested: {
      // Already on a worker: the nested call must run inline (same thread),
      // or a full pool would deadlock waiting for itself.
      const std::thread::id outer = std::this_thread::get_id();
      return safeexec::avoid_blocking_call(
          [outer](int v) { return std::this_thread::get_id() == outer ? v + 1 : -99999; }, j.n);
    }
  }
  return 0;
}

/// Runs one job through avoid_blocking_call; "" when it behaved.
std::string run_job(const JobPlan& j) {
  const std::thread::id caller = std::this_thread::get_id();
  bool other = false;
  const std::string msg = "job message " + std::to_string(j.n);
  const auto wrong = [&j](const std::string& what) {
    std::ostringstream os;
    showValue(j, os);
    return os.str() + ": " + what;
  };
  try {
    const int got = safeexec::avoid_blocking_call(job_body, j, caller, &other);
    if (j.kind != JobPlan::Kind::value && j.kind != JobPlan::Kind::nested) {
      return wrong("returned instead of throwing");
    }
    if (got != j.n + 1) return wrong("returned " + std::to_string(got));
  } catch (const safeexec::IoError& e) {
    if (j.kind != JobPlan::Kind::io_error) return wrong("got safeexec::IoError");
    // SystemError appends the errno's name to the message.
    if (std::string(e.what()).rfind(msg, 0) != 0 || e.error_code() != EIO) {
      return wrong(std::string("IoError ") + e.what());
    }
  } catch (const std::runtime_error& e) {
    if (j.kind != JobPlan::Kind::runtime_error || typeid(e) != typeid(std::runtime_error)) {
      return wrong(std::string("got ") + typeid(e).name());
    }
    if (e.what() != msg) return wrong(std::string("message ") + e.what());
  } catch (const std::invalid_argument& e) {
    if (j.kind != JobPlan::Kind::invalid_argument) return wrong("got std::invalid_argument");
    if (e.what() != msg) return wrong(std::string("message ") + e.what());
  } catch (const CustomError& e) {
    if (j.kind != JobPlan::Kind::custom || e.code != j.n) return wrong("got CustomError");
  } catch (int v) {
    if (j.kind != JobPlan::Kind::int_value || v != j.n)
      return wrong("got int " + std::to_string(v));
  } catch (...) {
    return wrong("an exception of another type (F04: type lost)");
  }
  if (!other) return wrong("F03: f ran on the caller's thread, not on a pool worker");
  return {};
}

SAFEEXEC_PROP(Concurrency, F04_AvoidBlockingCallRethrowsAndKeepsWorkers) {
  static const std::vector<int> caller_counts = {1, 2, 3, 4, 5, 6, 7, 8};
  const int callers = *rc::gen::elementOf(caller_counts);
  std::vector<std::vector<JobPlan>> plans;
  for (int t = 0; t < callers; ++t) {
    plans.push_back(*rc::gen::resize(12, rc::gen::container<std::vector<JobPlan>>(gen_job())));
  }
  const LogCapture quiet;
  std::vector<std::string> failures(static_cast<std::size_t>(callers));
  {
    std::latch start(callers);
    std::vector<std::thread> threads;
    for (int t = 0; t < callers; ++t) {
      threads.emplace_back([t, &plans, &failures, &start] {
        start.arrive_and_wait();
        const auto idx = static_cast<std::size_t>(t);
        for (const JobPlan& j : plans[idx]) {
          failures[idx] = run_job(j);
          if (!failures[idx].empty()) break;
        }
      });
    }
    for (std::thread& th : threads) th.join();
  }
  for (const std::string& f : failures) PROP_CHECK(f.empty(), f);

  // F04: every worker survived. Occupy all of them at once: each job waits
  // (bounded) until blocking_pool_size() jobs are running; a lost worker
  // would leave one job queued and the others timing out.
  const std::size_t workers = safeexec::blocking_pool_size();
  struct Gate {  // shared with the jobs, so a job that outlives a timeout is safe
    std::mutex mutex;
    std::condition_variable all_in;
    std::size_t arrived = 0;
  };
  const auto gate = std::make_shared<Gate>();
  std::vector<std::future<bool>> occupied;
  for (std::size_t i = 0; i < workers; ++i) {
    occupied.push_back(safeexec::run_blocking([gate, workers] {
      std::unique_lock<std::mutex> lock(gate->mutex);
      ++gate->arrived;
      gate->all_in.notify_all();
      return gate->all_in.wait_for(lock, 10s, [&] { return gate->arrived == workers; });
    }));
  }
  bool all = true;
  for (std::future<bool>& f : occupied) {
    all = f.wait_for(20s) == std::future_status::ready && f.get() && all;
  }
  std::size_t seen = 0;
  {
    const std::lock_guard<std::mutex> lock(gate->mutex);
    seen = gate->arrived;
  }
  PROP_CHECK(all, "F04: only " + std::to_string(seen) + " of " + std::to_string(workers) +
                      " pool workers could run at once after the exceptions");
}

}  // namespace
}  // namespace safeexec_props
