// safeexec_cases.cpp - safeexec itself: the numerators of P1..P5.
//
//   safeexec/execute/bin_true          P1: execute() of /bin/true with its three
//                                      pipes, a small input, output captured
//   safeexec/execute/noop_static       the same on the static helper (no loader)
//   safeexec/create_process/bin_true   spawn + wait alone, no pipes: the closest
//                                      safeexec call to the raw posix_spawn baseline
//   safeexec/execute_mem/mem_mib:N     P2: as P1 with N MiB touched in this process
//   safeexec/execute_fds/extra_fds:N   P3: as P1 with N extra descriptors open
//   safeexec/execute_cat/mib:N         P4: N MiB round trip through cat
//   safeexec/execute_threads           P5: as P1 from 1 and 2 threads at once
//   safeexec/execute_cgroup/leaf:0|1   P9: as P1 without / with a cgroup v2 leaf
//                                      (made, the child placed, killed, removed)
//   safeexec/execute_strategy/S        as P1 through strategy S (issue 20):
//                                      server, automatic (P1-auto, server-vs-direct)
//   safeexec/execute_fds_S/extra_fds:N as P3 through strategy S: server, automatic
//   safeexec/execute_mem_server/mem_mib:N
//                                      as P2 through the server (P2-server-1024)
//   safeexec/execute_threads_server    as P5 through one server (P5-server)
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/execute.hpp"
#include "safeexec/process.hpp"

namespace sxbench {
namespace {

using benchmark::State;

// One execute() per iteration, the argv built each time as a caller would.
void bm_execute(State& state, const std::string& path,
                const safeexec::SpawnOptions& spawn = safeexec::SpawnOptions{}) {
  const bool via_server = spawn.spawn_strategy() == safeexec::SpawnStrategy::server;
  if (!setup_ok(state)) return;
  const safeexec::ExecuteOptions opts =
      safeexec::ExecuteOptions{}.process_input(std::string(kSmallInput)).spawn(spawn);
  SpawnCounters counters(state);
  try {
    for (auto _ : state) {
      const safeexec::ExecuteResult r = safeexec::execute({path}, opts);
      benchmark::DoNotOptimize(r.out.data());
      if (!r.status.success()) {
        state.SkipWithError(("child: " + r.status.str()).c_str());
        break;
      }
      counters.lap();
    }
    // Outside the timed loop: a server run that spawned directly measured
    // the wrong path (server_probe.cpp).
    if (via_server && state.thread_index() == 0 && !state.error_occurred() &&
        !spawn_server_running()) {
      state.SkipWithError(
          "the server strategy spawned directly: no safeexec-spawn-server child is running "
          "(not built or installed, or it would not start)");
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void bm_create_process(State& state, const std::string& path) {
  if (!setup_ok(state)) return;
  SpawnCounters counters(state);
  try {
    for (auto _ : state) {
      safeexec::Process p = safeexec::create_process({path});
      const safeexec::ExitStatus st = p.wait();
      if (!st.success()) {
        state.SkipWithError(("child: " + st.str()).c_str());
        break;
      }
      counters.lap();
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// P4: the payload (and max_output_bytes = its size) lives in p4_options(),
// so the input exists once in memory. Peak RSS is measured from the Setup()
// of this run (VmHWM reset through /proc/self/clear_refs), so it covers the
// held input, the output being built, and the process's own base.
void bm_execute_cat(State& state) {
  if (!setup_ok(state)) return;
  const safeexec::ExecuteOptions& opts = p4_options();
  const std::size_t bytes = opts.process_input().size();
  const std::size_t rss_before = current_rss_bytes();
  bool checked = false;
  SpawnCounters counters(state);
  try {
    for (auto _ : state) {
      const safeexec::ExecuteResult r = safeexec::execute({config().cat}, opts);
      if (r.out.size() != bytes) {
        state.SkipWithError("cat did not return as many bytes as it was given");
        break;
      }
      counters.lap();
      if (!checked) {
        // Byte-for-byte once per run, outside the timed region.
        state.PauseTiming();
        checked = true;
        const bool same = std::memcmp(r.out.data(), opts.process_input().data(), bytes) == 0;
        state.ResumeTiming();
        counters.restart_lap();
        if (!same) {
          state.SkipWithError("cat did not return the input byte for byte");
          break;
        }
      }
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
  counters.stop();
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
  state.counters["payload_bytes"] = static_cast<double>(bytes);
  state.counters["rss_before_bytes"] = static_cast<double>(rss_before);
  // The goal: peak RSS <= input + output + 16 MiB.
  state.counters["rss_goal_bytes"] = static_cast<double>(2 * bytes + 16 * kMiB);
}

}  // namespace

void register_safeexec() {
  const Config& c = config();
  const std::string& noop = c.noop_static;
  const std::string& tru = c.bin_true;
  register_spawn("safeexec/execute/bin_true", [tru](State& s) { bm_execute(s, tru); });
  register_spawn("safeexec/execute/noop_static", [noop](State& s) { bm_execute(s, noop); });
  register_spawn("safeexec/create_process/bin_true",
                 [tru](State& s) { bm_create_process(s, tru); });
  register_spawn("safeexec/execute_mem", [tru](State& s) { bm_execute(s, tru); })
      ->ArgName("mem_mib")
      ->Args({0})
      ->Args({c.smoke ? 8 : 256})
      ->Args({c.smoke ? 16 : 1024})
      ->Setup(setup_ballast_mib);
  // 1000 and 4000 extra, direct and through the server: the server starts
  // to win between them, the measure of kAutomaticServerFd (threshold-1000,
  // threshold-4000).
  const std::vector<std::int64_t> table_sizes =
      c.smoke ? std::vector<std::int64_t>{0, 100} : std::vector<std::int64_t>{0, 1000, 4000, 10000};
  // Direct by name: the default (automatic) takes the server from
  // kAutomaticServerFd open, and P3 and the threshold rows are about what a
  // direct spawn pays.
  auto* direct_fds =
      register_spawn("safeexec/execute_fds", [tru](State& s) {
        bm_execute(s, tru,
                   safeexec::SpawnOptions{}.spawn_strategy(safeexec::SpawnStrategy::direct));
      })->ArgName("extra_fds");
  for (const std::int64_t n : table_sizes) direct_fds->Args({n});
  direct_fds->Setup(setup_extra_fds);
  // Issue 20: the spawn server and the automatic choice, same job.
  const auto with = [](safeexec::SpawnStrategy st) {
    return safeexec::SpawnOptions{}.spawn_strategy(st);
  };
  const auto via_server = [tru, with](State& s) {
    bm_execute(s, tru, with(safeexec::SpawnStrategy::server));
  };
  register_spawn("safeexec/execute_strategy/server", via_server);
  register_spawn("safeexec/execute_strategy/automatic", [tru, with](State& s) {
    bm_execute(s, tru, with(safeexec::SpawnStrategy::automatic));
  });
  auto* server_fds =
      register_spawn("safeexec/execute_fds_server", via_server)->ArgName("extra_fds");
  for (const std::int64_t n : table_sizes) server_fds->Args({n});
  server_fds->Setup(setup_extra_fds);
  register_spawn(
      "safeexec/execute_fds_automatic",
      [tru, with](State& s) { bm_execute(s, tru, with(safeexec::SpawnStrategy::automatic)); })
      ->ArgName("extra_fds")
      ->Args({0})
      ->Args({c.smoke ? 100 : 10000})
      ->Setup(setup_extra_fds);
  // P2 through the server: the caller's memory should not reach the clone
  // either way; this says the request and the reply do not grow with it.
  register_spawn("safeexec/execute_mem_server", via_server)
      ->ArgName("mem_mib")
      ->Args({0})
      ->Args({c.smoke ? 16 : 1024})
      ->Setup(setup_ballast_mib);
  // P5 through the one server of this process: its requests queue behind
  // one lock and one socket (bench/README.md, "Spawn server").
  register_spawn("safeexec/execute_threads_server", via_server)->Threads(1)->Threads(2);
  register_spawn("safeexec/execute_cat", bm_execute_cat)
      ->ArgName("mib")
      ->Args({c.smoke ? 16 : 256})
      ->Setup(setup_payload_mib);
  register_spawn("safeexec/execute_threads", [tru](State& s) { bm_execute(s, tru); })
      ->Threads(1)
      ->Threads(2);
  // P9: the leaf goes under the caller's own v2 cgroup (skipped with the
  // library's error where there is none or it is not writable).
  register_spawn("safeexec/execute_cgroup",
                 [tru](State& s) {
                   safeexec::SpawnOptions spawn;
                   if (s.range(0) != 0) spawn.containment(safeexec::Containment{}.cgroup({}));
                   bm_execute(s, tru, spawn);
                 })
      ->ArgName("leaf")
      ->Args({0})
      ->Args({1});
}

}  // namespace sxbench
