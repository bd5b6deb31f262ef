// peer_python.cpp - peer: Python's subprocess.run doing execute()'s job.
//
// A Python worker (bench/python/subprocess_peer.py) is started once per run
// (with safeexec::create_process) and asked, one line per iteration, to run
// subprocess.run([/bin/true], input=..., capture_output=True, check=True)
// once and report the wall nanoseconds it took, measured in Python with
// time.perf_counter_ns. That figure is fed to Google Benchmark as manual
// time (UseManualTime: still wall-clock time, but the worker's, so the pipe
// round trip to this process is not charged to Python).
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"

namespace sxbench {
namespace {

using benchmark::State;
using namespace std::chrono_literals;

// Every wait is bounded: a stuck worker fails the benchmark, it never hangs it.
constexpr int kReplyTimeoutMs = 30000;

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t w = ::write(fd, s.data(), s.size());
    if (w > 0) {
      s.remove_prefix(static_cast<std::size_t>(w));
      continue;
    }
    if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, kReplyTimeoutMs) <= 0) return false;
      continue;
    }
    return false;
  }
  return true;
}

// Reads one '\n'-terminated line; "" on EOF, error or timeout.
std::string read_line(int fd, std::string& pending) {
  for (;;) {
    if (const auto nl = pending.find('\n'); nl != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      return line;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, kReplyTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return {};
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return {};
    pending.append(buf, static_cast<std::size_t>(n));
  }
}

void bm_python(State& state, const std::string& path) {
  if (!setup_ok(state)) return;
  const Config& c = config();
  try {
    safeexec::Process worker = safeexec::create_process(
        {c.python, c.python_peer, path}, safeexec::SpawnOptions{}.stdin_pipe().stdout_pipe());
    std::string pending;
    double total_ns = 0;
    std::vector<double> samples;
    samples.reserve(static_cast<std::size_t>(state.max_iterations));
    for (auto _ : state) {
      std::string line;
      if (write_all(worker.stdin_fd(), "1\n")) line = read_line(worker.stdout_fd(), pending);
      if (line.empty()) {
        state.SkipWithError("the Python worker did not answer (see its stderr above)");
        break;
      }
      const double ns = std::stod(line);
      total_ns += ns;
      samples.push_back(ns);
      state.SetIterationTime(ns * 1e-9);
    }
    worker.close_stdin();  // EOF: the worker exits
    if (!worker.wait_until(safeexec::deadline_after(10s))) (void)worker.terminate(1s);
    if (!state.error_occurred() && state.iterations() > 0) {
      using benchmark::Counter;
      const auto iters = static_cast<double>(state.iterations());
      state.counters["p50_ns"] = Counter(median(samples));
      state.counters["p10_ns"] = Counter(quantile(samples, 0.1));
      state.counters["ns_per_spawn"] = Counter(total_ns / iters);
      state.counters["spawns_per_s"] = Counter(iters, Counter::kIsRate);
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

}  // namespace

void register_peer_python() {
  const std::string tru = config().bin_true;
  benchmark::RegisterBenchmark("peer/python_subprocess_run/bin_true",
                               [tru](State& s) { bm_python(s, tru); })
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond)
      ->Setup(setup_plain)
      ->ComputeStatistics("rmad", relative_mad, benchmark::StatisticUnit::kPercentage);
}

}  // namespace sxbench
