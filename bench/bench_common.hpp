// bench_common.hpp - what every benchmark in safeexec-bench shares.
//
// The suite measures spawn latency on shared, noisy machines, so nothing it
// decides rests on an absolute time: every goal is a ratio of two benchmarks
// of this same binary and run (see bench/README.md). This header holds the
// pieces those benchmarks share:
//   * Config: paths of the programs started (the static no-op helper,
//     /bin/true, cat, python3) and the smoke switch (tiny sizes for ctest);
//   * World: the state of the benchmark process that some benchmarks need
//     (touched ballast memory for P2, extra open descriptors for P3, the P4
//     payload). Each benchmark's Setup() asks for exactly the world it needs,
//     so that a 1 GiB ballast left by P2 never inflates another benchmark,
//     whatever order random interleaving picks;
//   * counters every spawn benchmark reports (ns per spawn, spawns/s, RSS).
#pragma once

#include <sys/types.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace safeexec {
class ExecuteOptions;
}

namespace sxbench {

struct Config {
  bool smoke = false;       // ctest smoke run: small sizes, prove it works
  std::string noop_static;  // <bin>/safeexec-bench-noop-static
  std::string bin_true;     // /bin/true (dynamically linked)
  std::string cat;          // /bin/cat
  std::string python;       // python3 (PATH search unless SAFEEXEC_BENCH_PYTHON)
  std::string python_peer;  // bench/python/subprocess_peer.py
  std::string rlimit_note;  // what RLIMIT_NOFILE the run got, and how
};

/// Filled once by main() before any benchmark runs.
Config& config();

/// The small stdin every "same job" spawn benchmark writes.
inline constexpr std::string_view kSmallInput = "hello from safeexec-bench\n";

constexpr std::size_t kMiB = std::size_t{1} << 20;

/// Process state a benchmark needs. ensure_world() changes only what differs
/// from the current state, so the repeated calls Google Benchmark makes while
/// it sizes the iteration count do not redo a 1 GiB setup each time.
struct World {
  std::size_t ballast_bytes = 0;  // P2: anonymous memory, every page touched
  int extra_fds = 0;              // P3: descriptors held open (not close-on-exec)
  std::size_t payload_bytes = 0;  // P4: the round-trip input, held once
};
void ensure_world(const World& want);

/// The P4 payload inside ready-made execute() options (process_input holds
/// the bytes, max_output_bytes is their size), so that the bytes exist once in
/// memory: ExecuteOptions takes its input by value, and a second copy would
/// count against the RSS goal. The raw baseline reads the same bytes through
/// p4_options().process_input().
const safeexec::ExecuteOptions& p4_options();

/// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS by writing
/// "5" to /proc/self/clear_refs (Linux 4.0+). Returns false if refused.
bool reset_peak_rss();
/// VmHWM / VmRSS of this process in bytes (0 when unreadable).
std::size_t peak_rss_bytes();
std::size_t current_rss_bytes();

/// waitpid() retried on EINTR; returns the raw status, or -1.
int wait_status(pid_t pid);
/// True for "exited with code 0".
bool exited_ok(int status);

/// Times a spawn benchmark on this thread and, at the end, sets the counters
/// every spawn benchmark carries in the JSON:
///   p50_ns          median wall ns of one spawn on this thread (per-iteration
///                   samples; averaged over threads). Unlike real_time, which
///                   is the mean of a repetition, one spawn delayed by a
///                   scheduler tick on a busy machine does not move it: the
///                   latency goals are gated on this (see bench/README.md)
///   p10_ns          the 10th percentile of the same samples: the cost with
///                   the least interference (diagnostic; not gated)
///   ns_per_spawn    mean wall ns of one spawn on this thread
///   spawns_per_s    spawns per wall second, all threads together
///   peak_rss_bytes  VmHWM since this benchmark's Setup (thread 0 only)
/// Call lap() at the end of each iteration (a sample runs from the previous
/// lap, or from construction, to now); restart_lap() after untimed work.
class SpawnCounters {
 public:
  explicit SpawnCounters(benchmark::State& state);
  SpawnCounters(const SpawnCounters&) = delete;
  SpawnCounters& operator=(const SpawnCounters&) = delete;
  void lap() {
    const Clock::time_point now = Clock::now();
    samples_.push_back(static_cast<double>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_).count()));
    last_ = now;
  }
  void restart_lap() { last_ = Clock::now(); }
  /// Ends the timed span early (before untimed checks after the loop).
  void stop() {
    if (!stopped_) end_ = Clock::now();
    stopped_ = true;
  }
  ~SpawnCounters();

 private:
  using Clock = std::chrono::steady_clock;
  benchmark::State& state_;
  Clock::time_point start_;
  Clock::time_point last_;
  Clock::time_point end_{};
  bool stopped_ = false;
  std::vector<double> samples_;
};

/// The median of `v` (0 for an empty vector).
double median(std::vector<double> v);
/// The q-quantile (0..1, lower nearest rank) of `v` (0 for an empty vector).
double quantile(std::vector<double> v, double q);

/// Setup() callbacks: bring the world to what the benchmark needs, then reset
/// the peak-RSS mark so peak_rss_bytes describes this benchmark alone.
void setup_plain(const benchmark::State& state);        // nothing extra
void setup_ballast_mib(const benchmark::State& state);  // range(0) MiB ballast
void setup_extra_fds(const benchmark::State& state);    // range(0) extra fds
void setup_payload_mib(const benchmark::State& state);  // range(0) MiB payload
/// False (and the benchmark skipped with the reason) when its Setup() failed.
bool setup_ok(benchmark::State& state);

/// True when a child of this process runs safeexec-spawn-server (the server
/// strategy's benchmarks check it: without one they measured a direct spawn).
bool spawn_server_running();

/// Median absolute deviation / median, over the repetitions: a robust spread
/// (a few runs hit by a scheduler tick on a busy machine inflate the CV, not
/// this). Added to every benchmark as the "rmad" aggregate (a fraction).
double relative_mad(const std::vector<double>& v);

/// The fastest repetition: the least disturbed measurement of a benchmark
/// whose one repetition is one long run (a throughput), which the gate reads
/// beside the median as it reads p10 beside a spawn latency's median.
double fastest(const std::vector<double>& v);

/// Registers a spawn benchmark the way all of them are: wall-clock time
/// (UseRealTime from the start - adding it later renames the series),
/// microseconds, the plain world unless the caller sets another Setup(), and
/// the rmad and min statistics.
template <class F>
benchmark::internal::Benchmark* register_spawn(const std::string& name, F fn) {
  return benchmark::RegisterBenchmark(name.c_str(), fn)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond)
      ->Setup(setup_plain)
      ->ComputeStatistics("rmad", relative_mad, benchmark::StatisticUnit::kPercentage)
      ->ComputeStatistics("min", fastest);
}

// Registration, one function per source file; each benchmark is named once
// and for good (a renamed series loses its history on the dashboard).
void register_baselines();
void register_safeexec();
void register_stream();  // stream_cases.cpp: P7, P7-RSS
/// --stream-rss-probe N: stream N MiB to a line callback, print "<VmHWM> <RSS before>".
int stream_rss_probe(const char* mib);
void register_routing();  // P8 (routing_cases.cpp)
void register_peer_boost();
void register_peer_python();

}  // namespace sxbench
