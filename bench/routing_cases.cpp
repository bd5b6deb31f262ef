// routing_cases.cpp - P8 (issue 21): a redirect to a file, safeexec against
// the same job by hand, in the same run.
//
//   safeexec/redirect_file/mib:N   create_process({cat}) with stdin from a
//                                  file and stdout to a file by path
//                                  (StdioRoute::file: opened, checked and
//                                  truncated by the library), then wait()
//   baseline/posix_spawn_redirect/mib:N
//                                  the same job shell-free by hand: both files
//                                  opened O_CLOEXEC, posix_spawn with two
//                                  adddup2 actions, waitpid, close
// Both copy the same N MiB input file through the same `cat` into an output
// file in the same directory, truncated each time; the byte count is checked
// once per run, outside the timed region.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "bench_common.hpp"
#include "safeexec/process.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace sxbench {
namespace {

using benchmark::State;

/// The input and output files of the P8 runs, in one temporary directory.
struct RedirectFiles {
  std::string dir, in, out;
  std::size_t bytes = 0;
};

const RedirectFiles& redirect_files(std::size_t mib) {
  static RedirectFiles f;
  if (f.bytes == mib * kMiB) return f;
  if (f.dir.empty()) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "safeexec-bench-p8-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return f;
    f.dir = tmpl;
    f.in = f.dir + "/in";
    f.out = f.dir + "/out";
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(redirect_files(0).dir, ec);
    });
  }
  std::string chunk(kMiB, '\0');
  for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>('a' + i % 26);
  std::ofstream in(f.in, std::ios::binary | std::ios::trunc);
  for (std::size_t i = 0; i < mib; ++i) in.write(chunk.data(), static_cast<std::streamsize>(kMiB));
  f.bytes = mib * kMiB;
  return f;
}

bool output_complete(const RedirectFiles& f) {
  struct stat st {};
  return ::stat(f.out.c_str(), &st) == 0 && static_cast<std::size_t>(st.st_size) == f.bytes;
}

/// The first lap's output is checked, outside the timed region; false
/// (and the benchmark skipped) when it is not complete.
bool checked_once(State& state, bool& checked, SpawnCounters& counters, const RedirectFiles& f) {
  if (checked) return true;
  state.PauseTiming();
  checked = true;
  const bool ok = output_complete(f);
  state.ResumeTiming();
  counters.restart_lap();
  if (!ok) state.SkipWithError("the output file does not hold the input's size");
  return ok;
}

void bm_safeexec_redirect(State& state) {
  if (!setup_ok(state)) return;
  const RedirectFiles& f = redirect_files(static_cast<std::size_t>(state.range(0)));
  const safeexec::SpawnOptions opts = safeexec::SpawnOptions{}
                                          .stdin_from(safeexec::StdioRoute::file(f.in))
                                          .stdout_to(safeexec::StdioRoute::file(f.out));
  bool checked = false;
  SpawnCounters counters(state);
  try {
    for (auto _ : state) {
      safeexec::Process p = safeexec::create_process({config().cat}, opts);
      if (p.wait() != safeexec::ExitStatus::exited(0)) {
        state.SkipWithError("cat failed");
        break;
      }
      counters.lap();
      if (!checked_once(state, checked, counters, f)) break;
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
  counters.stop();
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(f.bytes));
}

void bm_posix_spawn_redirect(State& state) {
  if (!setup_ok(state)) return;
  const RedirectFiles& f = redirect_files(static_cast<std::size_t>(state.range(0)));
  std::string prog = config().cat;
  char* argv[] = {prog.data(), nullptr};
  bool checked = false;
  SpawnCounters counters(state);
  for (auto _ : state) {
    const int in = ::open(f.in.c_str(), O_RDONLY | O_CLOEXEC);
    const int out = ::open(f.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, prog.c_str(), &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in);
    ::close(out);
    if (rc != 0 || !exited_ok(wait_status(pid))) {
      state.SkipWithError("posix_spawn of cat failed");
      break;
    }
    counters.lap();
    if (!checked_once(state, checked, counters, f)) break;
  }
  counters.stop();
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(f.bytes));
}

}  // namespace

void register_routing() {
  const std::int64_t mib = config().smoke ? 1 : 64;
  register_spawn("safeexec/redirect_file", bm_safeexec_redirect)->ArgName("mib")->Arg(mib);
  register_spawn("baseline/posix_spawn_redirect", bm_posix_spawn_redirect)
      ->ArgName("mib")
      ->Arg(mib);
}

}  // namespace sxbench
