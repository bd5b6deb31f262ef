// main.cpp - safeexec-bench: spawn latency of safeexec against raw baselines
// and peers, all in one binary and one run (see bench/README.md).
//
// Flags of our own (removed before Google Benchmark sees argv):
//   --smoke   small sizes for the heavy set-ups (P2 ballast, P3 descriptors,
//             P4 payload) so that ctest can run every benchmark once in
//             seconds. SAFEEXEC_BENCH_SMOKE=1 does the same. Smoke runs use
//             other argument values, hence other benchmark names: they never
//             mix with real runs in a history.
// Environment: SAFEEXEC_BENCH_PYTHON (interpreter for the Python peer,
// default "python3" searched in PATH), SAFEEXEC_BENCH_NOOP (the static
// helper, default next to this binary).
#include <sys/resource.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bench_common.hpp"

#ifndef SAFEEXEC_BENCH_PYTHON_PEER
#define SAFEEXEC_BENCH_PYTHON_PEER "subprocess_peer.py"
#endif

namespace {

std::string self_dir() {
  std::string buf(PATH_MAX, '\0');
  const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return ".";
  buf.resize(static_cast<std::size_t>(n));
  const auto slash = buf.rfind('/');
  return slash == std::string::npos ? "." : buf.substr(0, slash);
}

std::string first_executable(std::initializer_list<const char*> candidates) {
  for (const char* c : candidates) {
    if (::access(c, X_OK) == 0) return c;
  }
  return *candidates.begin();
}

const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): before any thread
  return (v != nullptr && *v != '\0') ? v : fallback;
}

// P3 asks for RLIMIT_NOFILE "raised as far as allowed (1 048 576 where
// permitted)". Try the hard limit too (needs CAP_SYS_RESOURCE and
// fs.nr_open >= 1048576); where that is refused, raise the soft limit to the
// hard one. What was obtained goes into the JSON context.
std::string raise_nofile() {
  rlimit before{};
  (void)::getrlimit(RLIMIT_NOFILE, &before);
  const rlim_t wanted = 1048576;
  rlimit want{wanted, wanted};
  std::string how;
  if (::setrlimit(RLIMIT_NOFILE, &want) == 0) {
    how = "raised soft and hard to 1048576";
  } else {
    const int e = errno;
    rlimit soft_to_hard{before.rlim_max, before.rlim_max};
    (void)::setrlimit(RLIMIT_NOFILE, &soft_to_hard);
    how = std::string("1048576 refused (") + std::strerror(e) + "); soft raised to the hard limit";
  }
  rlimit after{};
  (void)::getrlimit(RLIMIT_NOFILE, &after);
  return how + ": soft=" + std::to_string(after.rlim_cur) +
         " hard=" + std::to_string(after.rlim_max) + " (was " + std::to_string(before.rlim_cur) +
         "/" + std::to_string(before.rlim_max) + ")";
}

// The console reporter, counting the benchmarks that were skipped with an
// error: Google Benchmark itself exits 0 even then, and a smoke test that
// passes over a failing spawn would prove nothing.
class ErrorCountingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& reports) override {
    for (const Run& r : reports) {
      if (r.error_occurred) ++errors_;
    }
    ConsoleReporter::ReportRuns(reports);
  }
  int errors() const { return errors_; }

 private:
  int errors_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  // Our own flags first; Google Benchmark rejects what it does not know.
  std::vector<char*> args;
  bool smoke = std::string_view(env_or("SAFEEXEC_BENCH_SMOKE", "0")) == "1";
  for (int i = 0; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--stream-rss-probe" && i + 1 < argc) {
      // P7-RSS (stream_cases.cpp): this process streams and reports its peak.
      sxbench::config().cat = first_executable({"/bin/cat", "/usr/bin/cat"});
      return sxbench::stream_rss_probe(argv[i + 1]);
    }
    if (std::string_view(argv[i]) == "--smoke") {
      smoke = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  int args_count = static_cast<int>(args.size());
  args.push_back(nullptr);

  sxbench::Config& c = sxbench::config();
  c.smoke = smoke;
  const std::string noop_default = self_dir() + "/safeexec-bench-noop-static";
  c.noop_static = env_or("SAFEEXEC_BENCH_NOOP", noop_default.c_str());
  c.bin_true = first_executable({"/bin/true", "/usr/bin/true"});
  c.cat = first_executable({"/bin/cat", "/usr/bin/cat"});
  c.python = env_or("SAFEEXEC_BENCH_PYTHON", "python3");
  c.python_peer = env_or("SAFEEXEC_BENCH_PYTHON_PEER", SAFEEXEC_BENCH_PYTHON_PEER);
  c.rlimit_note = raise_nofile();

  benchmark::AddCustomContext("safeexec_bench_mode", smoke ? "smoke" : "full-size");
  benchmark::AddCustomContext("rlimit_nofile", c.rlimit_note);
  benchmark::AddCustomContext("noop_static", c.noop_static);
  benchmark::AddCustomContext("bin_true", c.bin_true);

  sxbench::register_baselines();
  sxbench::register_safeexec();
  sxbench::register_stream();
  sxbench::register_routing();
  sxbench::register_peer_boost();
  sxbench::register_peer_python();

  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 1;
  ErrorCountingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  sxbench::ensure_world({});  // release ballast, descriptors, payload
  if (reporter.errors() > 0) {
    std::fprintf(stderr, "safeexec-bench: %d benchmark run(s) failed (see error_message)\n",
                 reporter.errors());
    return 1;
  }
  return 0;
}
