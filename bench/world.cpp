// world.cpp - the shared state and counters of safeexec-bench (see bench_common.hpp).
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "safeexec/execute.hpp"

namespace sxbench {
namespace {

// ---- P2 ballast -----------------------------------------------------------

struct Ballast {
  void* base = nullptr;
  std::size_t bytes = 0;
};
Ballast g_ballast;

void release_ballast() {
  if (g_ballast.base != nullptr) (void)::munmap(g_ballast.base, g_ballast.bytes);
  g_ballast = {};
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// Anonymous private memory with every page written, in 4 KiB pages: this is
// what makes fork() slow (it copies one page-table entry per page and marks
// it copy-on-write). MADV_NOHUGEPAGE keeps transparent huge pages out of it:
// with THP set to "always", 1 GiB would be 512 huge pages and fork would look
// cheaper than it is for a typical heap.
void make_ballast(std::size_t bytes) {
  release_ballast();
  if (bytes == 0) return;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("mmap of the P2 ballast failed");
  (void)::madvise(p, bytes, MADV_NOHUGEPAGE);
  // MADV_POPULATE_WRITE (Linux 5.14) faults every page in for writing in one
  // call; where it is missing, write one byte per page.
  if (::madvise(p, bytes, MADV_POPULATE_WRITE) != 0) {
    auto* bytes_p = static_cast<unsigned char*>(p);
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (std::size_t off = 0; off < bytes; off += page) bytes_p[off] = 1;
  }
  g_ballast = {p, bytes};
}

// ---- P3 descriptors -------------------------------------------------------

std::vector<int> g_extra_fds;

void release_extra_fds() {
  for (int fd : g_extra_fds) (void)::close(fd);
  g_extra_fds.clear();
}

// Plain dup()s of /dev/null, deliberately NOT close-on-exec: that is the
// case where a spawner has work to do (a careless host leaks them into every
// child, F06). safeexec marks them all close-on-exec in the child with one
// close_range(); the kernel still copies the whole descriptor table in
// clone() and closes them in execve().
void make_extra_fds(int count) {
  release_extra_fds();
  if (count == 0) return;
  const int first = ::open("/dev/null", O_RDONLY);  // NOLINT: not close-on-exec on purpose
  if (first < 0) throw std::runtime_error("open /dev/null failed");
  g_extra_fds.reserve(static_cast<std::size_t>(count));
  g_extra_fds.push_back(first);
  while (static_cast<int>(g_extra_fds.size()) < count) {
    const int fd = ::dup(first);  // NOLINT(android-cloexec-dup): on purpose
    if (fd < 0) {
      const int e = errno;
      release_extra_fds();
      throw std::runtime_error(std::string("dup for P3 failed after ") +
                               std::to_string(g_extra_fds.size()) +
                               " descriptors: " + std::strerror(e));
    }
    g_extra_fds.push_back(fd);
  }
}

// ---- P4 payload -----------------------------------------------------------

std::optional<safeexec::ExecuteOptions> g_p4;
std::size_t g_p4_bytes = 0;

void release_payload() {
  g_p4.reset();
  g_p4_bytes = 0;
}

// Pseudo-random bytes (xorshift64): not zeros, so that every page is really
// written and nothing along the way can shortcut runs of equal bytes.
void make_payload(std::size_t bytes) {
  release_payload();
  if (bytes == 0) return;
  std::string data(bytes, '\0');
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(data.data() + i, &x, 8);
  }
  g_p4.emplace();
  g_p4->process_input(std::move(data)).max_output_bytes(bytes);
  g_p4_bytes = bytes;
}

std::size_t status_field_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t len = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, len, field) == 0) {
      return static_cast<std::size_t>(std::stoull(line.substr(len))) * 1024;  // "   1234 kB"
    }
  }
  return 0;
}

}  // namespace

Config& config() {
  static Config c;
  return c;
}

void ensure_world(const World& want) {
  bool big_change = false;
  if (want.ballast_bytes != g_ballast.bytes) {
    big_change = true;
    make_ballast(want.ballast_bytes);
  }
  if (want.extra_fds != static_cast<int>(g_extra_fds.size())) make_extra_fds(want.extra_fds);
  if (want.payload_bytes != g_p4_bytes) {
    big_change = true;
    make_payload(want.payload_bytes);
  }
  // Give freed heap back to the kernel so RSS figures start from a clean base.
  (void)::malloc_trim(0);
  // Populating or unmapping hundreds of MiB leaves the kernel work to finish
  // (deferred page freeing, reclaim and monitoring threads); let it settle
  // before the timed loop rather than inside it. Untimed (Setup).
  if (big_change) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

const safeexec::ExecuteOptions& p4_options() {
  if (!g_p4) throw std::logic_error("p4_options() used without setup_payload_mib");
  return *g_p4;
}

bool reset_peak_rss() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "5", 1) == 1;
  (void)::close(fd);
  return ok;
}

std::size_t peak_rss_bytes() {
  return status_field_bytes("VmHWM:");
}

std::size_t current_rss_bytes() {
  return status_field_bytes("VmRSS:");
}

int wait_status(pid_t pid) {
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, 0);
    if (r == pid) return status;
    if (r < 0 && errno == EINTR) continue;
    return -1;
  }
}

double relative_mad(const std::vector<double>& v) {
  const double med = median(v);
  if (med == 0) return 0;
  std::vector<double> dev;
  dev.reserve(v.size());
  for (double x : v) dev.push_back(std::abs(x - med));
  return median(std::move(dev)) / med;
}

double fastest(const std::vector<double>& v) {
  return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end());
}

bool exited_ok(int status) {
  return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

SpawnCounters::SpawnCounters(benchmark::State& state)
    : state_(state), start_(Clock::now()), last_(start_) {
  samples_.reserve(static_cast<std::size_t>(state.max_iterations));
}

SpawnCounters::~SpawnCounters() {
  stop();
  const auto iters = state_.iterations();
  if (iters <= 0 || state_.error_occurred()) return;
  using benchmark::Counter;
  double total_ns = 0;
  for (double s : samples_) total_ns += s;
  if (samples_.empty()) {  // a loop without lap(): the whole span
    total_ns = static_cast<double>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(end_ - start_).count());
  } else {
    state_.counters["p50_ns"] = Counter(median(samples_), Counter::kAvgThreads);
    state_.counters["p10_ns"] = Counter(quantile(samples_, 0.1), Counter::kAvgThreads);
  }
  const double n =
      samples_.empty() ? static_cast<double>(iters) : static_cast<double>(samples_.size());
  state_.counters["ns_per_spawn"] = Counter(total_ns / n, Counter::kAvgThreads);
  state_.counters["spawns_per_s"] = Counter(static_cast<double>(iters), Counter::kIsRate);
  if (state_.thread_index() == 0) {
    state_.counters["peak_rss_bytes"] = Counter(static_cast<double>(peak_rss_bytes()));
  }
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) {
    m = (m + *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid))) / 2;
  }
  return m;
}

namespace {
// A Setup() callback must not throw (Google Benchmark would terminate), and
// it cannot skip the benchmark itself: it remembers the failure here and the
// benchmark body reports it through setup_ok().
std::string g_setup_error;

void setup_world(const World& want) {
  g_setup_error.clear();
  try {
    ensure_world(want);
  } catch (const std::exception& e) {
    g_setup_error = e.what();
  }
  (void)reset_peak_rss();
}
}  // namespace

bool setup_ok(benchmark::State& state) {
  if (g_setup_error.empty()) return true;
  state.SkipWithError(g_setup_error.c_str());
  return false;
}

void setup_plain(const benchmark::State&) {
  setup_world({});
}

void setup_ballast_mib(const benchmark::State& state) {
  setup_world({.ballast_bytes = static_cast<std::size_t>(state.range(0)) * kMiB});
}

void setup_extra_fds(const benchmark::State& state) {
  setup_world({.extra_fds = static_cast<int>(state.range(0))});
}

void setup_payload_mib(const benchmark::State& state) {
  setup_world({.payload_bytes = static_cast<std::size_t>(state.range(0)) * kMiB});
}

}  // namespace sxbench
