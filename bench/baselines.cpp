// baselines.cpp - the raw baselines every safeexec figure is divided by.
//
// Written directly on the system interfaces, with no error handling beyond
// "did the child exit 0", so they are the floor a library can approach but
// not pass:
//   baseline/posix_spawn/*        posix_spawn + waitpid (glibc: clone(CLONE_VM|CLONE_VFORK))
//   baseline/vfork_execve/*       vfork + execve + waitpid
//   baseline/fork_execve/*        fork + execve + waitpid (copies page tables: see P2)
// each of the static no-op helper and of /bin/true, and then the baselines
// beside the P-benchmarks:
//   baseline/posix_spawn_pipes    the same job as execute() - three pipes, a
//                                 small input written, stdout/stderr read to EOF
//                                 in a poll loop - as compact C would do it
//   baseline/fork_execve_mem      fork with 0/256/1024 MiB touched (P2, shown beside)
//   baseline/posix_spawn_fds      posix_spawn with 0/10 000 extra descriptors (P3;
//                                 leaks them all into the child)
//   baseline/posix_spawn_closefrom_fds  the same without leaking (addclosefrom_np)
//   baseline/posix_spawn_cat      the P4 denominator (see below), and _reuse
//   baseline/posix_spawn_threads  posix_spawn from 1 and 2 threads (P5's ceiling)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_common.hpp"
#include "safeexec/execute.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace sxbench {
namespace {

using benchmark::State;

// argv for a program with no arguments; the strings outlive the run.
struct Argv {
  explicit Argv(std::string program) : prog(std::move(program)) { ptrs = {prog.data(), nullptr}; }
  std::string prog;
  std::array<char*, 2> ptrs{};
};

// ---- bare spawn + wait ------------------------------------------------------

void bm_posix_spawn(State& state, const std::string& path) {
  if (!setup_ok(state)) return;
  Argv a(path);
  SpawnCounters counters(state);
  for (auto _ : state) {
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, path.c_str(), nullptr, nullptr, a.ptrs.data(), environ);
    if (rc != 0) {
      state.SkipWithError(("posix_spawn failed: " + std::string(std::strerror(rc))).c_str());
      break;
    }
    if (!exited_ok(wait_status(pid))) {
      state.SkipWithError("child did not exit 0");
      break;
    }
    counters.lap();
  }
}

void bm_fork_execve(State& state, const std::string& path) {
  if (!setup_ok(state)) return;
  Argv a(path);
  SpawnCounters counters(state);
  for (auto _ : state) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execve(a.prog.c_str(), a.ptrs.data(), environ);
      ::_exit(127);
    }
    if (pid < 0) {
      state.SkipWithError("fork failed");
      break;
    }
    if (!exited_ok(wait_status(pid))) {
      state.SkipWithError("child did not exit 0");
      break;
    }
    counters.lap();
  }
}

void bm_vfork_execve(State& state, const std::string& path) {
  if (!setup_ok(state)) return;
  Argv a(path);
  SpawnCounters counters(state);
  for (auto _ : state) {
    const pid_t pid = ::vfork();  // NOLINT(cert-env33-c): the baseline on purpose
    if (pid == 0) {
      ::execve(a.prog.c_str(), a.ptrs.data(), environ);
      ::_exit(127);
    }
    if (pid < 0) {
      state.SkipWithError("vfork failed");
      break;
    }
    if (!exited_ok(wait_status(pid))) {
      state.SkipWithError("child did not exit 0");
      break;
    }
    counters.lap();
  }
}

// ---- the same job as execute(), by hand -------------------------------------

// SIGPIPE: the child may exit before reading its input, and a write to a
// pipe without readers raises SIGPIPE on the writing thread. Like safeexec,
// the baseline blocks it on this thread for the run and discards a pending
// one at the end, rather than ignoring it process-wide.
class BlockSigpipe {
 public:
  BlockSigpipe() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  BlockSigpipe(const BlockSigpipe&) = delete;
  BlockSigpipe& operator=(const BlockSigpipe&) = delete;
  ~BlockSigpipe() {
    const timespec zero{0, 0};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t set_{};
  sigset_t old_{};
};

void close_if(int& fd) {
  if (fd >= 0) (void)::close(fd);
  fd = -1;
}

// Starts `path` with three pipes, writes `input`, reads stdout into
// out[0, cap) in place (no intermediate buffer, no growth) and stderr into a
// scratch buffer, reaps. Sets out_len; returns "" or what failed.
std::string raw_pipe_job(const std::string& path, char* const* argv, std::string_view input,
                         char* out, std::size_t cap, std::size_t& out_len) {
  std::array<int, 2> in{-1, -1};
  std::array<int, 2> so{-1, -1};
  std::array<int, 2> se{-1, -1};
  if (::pipe2(in.data(), O_CLOEXEC) != 0 || ::pipe2(so.data(), O_CLOEXEC) != 0 ||
      ::pipe2(se.data(), O_CLOEXEC) != 0) {
    for (int* fd : {&in[0], &in[1], &so[0], &so[1], &se[0], &se[1]}) close_if(*fd);
    return "pipe2 failed";
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);  // dup2 clears close-on-exec
  posix_spawn_file_actions_adddup2(&fa, so[1], 1);
  posix_spawn_file_actions_adddup2(&fa, se[1], 2);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close_if(in[0]);
  close_if(so[1]);
  close_if(se[1]);
  if (rc != 0) {
    for (int* fd : {&in[1], &so[0], &se[0]}) close_if(*fd);
    return std::string("posix_spawn failed: ") + std::strerror(rc);
  }
  // Non-blocking stdin end: never block in write() while the child blocks
  // writing a full stdout pipe.
  (void)::fcntl(in[1], F_SETFL, O_NONBLOCK);  // NOLINT(cppcoreguidelines-pro-type-vararg)
  if (input.empty()) close_if(in[1]);

  std::array<char, 64 * 1024> scratch;  // NOLINT: filled by read()
  std::size_t written = 0;
  out_len = 0;
  std::string failure;
  while (in[1] >= 0 || so[0] >= 0 || se[0] >= 0) {
    std::array<pollfd, 3> fds{};
    nfds_t n = 0;
    if (in[1] >= 0) fds[n++] = {in[1], POLLOUT, 0};
    if (so[0] >= 0) fds[n++] = {so[0], POLLIN, 0};
    if (se[0] >= 0) fds[n++] = {se[0], POLLIN, 0};
    if (::poll(fds.data(), n, -1) < 0) {
      if (errno == EINTR) continue;
      failure = "poll failed";
      break;
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      const int fd = fds[i].fd;
      if (fd == in[1]) {
        const std::size_t chunk = std::min<std::size_t>(input.size() - written, 1 << 20);
        const ssize_t w = ::write(fd, input.data() + written, chunk);
        if (w > 0) written += static_cast<std::size_t>(w);
        if ((w < 0 && errno == EPIPE) || written == input.size()) close_if(in[1]);
      } else if (fd == so[0]) {
        const bool room = out_len < cap;
        const ssize_t r = ::read(fd, room ? out + out_len : scratch.data(),
                                 room ? cap - out_len : scratch.size());
        if (r > 0 && room) out_len += static_cast<std::size_t>(r);
        if (r > 0 && !room) failure = "stdout larger than the buffer";
        if (r == 0) close_if(so[0]);
      } else {
        const ssize_t r = ::read(fd, scratch.data(), scratch.size());
        if (r == 0) close_if(se[0]);
      }
    }
  }
  for (int* fd : {&in[1], &so[0], &se[0]}) close_if(*fd);
  if (!exited_ok(wait_status(pid)) && failure.empty()) failure = "child did not exit 0";
  return failure;
}

void bm_posix_spawn_pipes(State& state, const std::string& path) {
  if (!setup_ok(state)) return;
  Argv a(path);
  BlockSigpipe no_sigpipe;
  std::array<char, 64 * 1024> out;  // NOLINT: filled by read()
  std::size_t out_len = 0;
  SpawnCounters counters(state);
  for (auto _ : state) {
    const std::string failure =
        raw_pipe_job(path, a.ptrs.data(), kSmallInput, out.data(), out.size(), out_len);
    if (!failure.empty()) {
      state.SkipWithError(failure.c_str());
      break;
    }
    counters.lap();
  }
}

// posix_spawn that does not leak: glibc's addclosefrom_np(3) closes every
// descriptor from 3 up in the child (close_range), which is what a correct
// raw spawner must do with a host full of descriptors (F06). P3's fair
// raw counterpart.
void bm_posix_spawn_closefrom(State& state, const std::string& path) {
  if (!setup_ok(state)) return;
  Argv a(path);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  SpawnCounters counters(state);
  for (auto _ : state) {
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, a.ptrs.data(), environ);
    if (rc != 0) {
      state.SkipWithError(("posix_spawn failed: " + std::string(std::strerror(rc))).c_str());
      break;
    }
    if (!exited_ok(wait_status(pid))) {
      state.SkipWithError("child did not exit 0");
      break;
    }
    counters.lap();
  }
  posix_spawn_file_actions_destroy(&fa);
}

// P4's denominator: the same bytes through the same `cat` over the same
// default 64 KiB pipes, driven by the raw poll loop above, with every read
// landing straight in its final place: a buffer of exactly the output size,
// allocated fresh for each round trip and touched only by read(). That is
// the least work any call that hands the caller a new output buffer can do
// (each output page faulted in once, each byte copied once out of the
// pipe), so the ratio isolates what execute() adds: its 64 KiB read buffer
// copied into a growing std::string, the string's reallocations, and the
// page faults of its larger total allocation. An in-process pipe copy would
// not be a fair floor (one pipe crossing, no `cat`: no spawner could reach
// 0.8 of it). The `_reuse` variant keeps one buffer for the whole run, so
// the gap between the two is the cost of faulting in fresh output memory.
void bm_posix_spawn_cat(State& state, bool reuse) {
  if (!setup_ok(state)) return;
  const std::string& input = p4_options().process_input();
  const std::size_t cap = input.size() + 1;  // +1: a longer output would be seen
  Argv a(config().cat);
  BlockSigpipe no_sigpipe;
  std::unique_ptr<char[]> kept;
  if (reuse) kept.reset(new char[cap]);  // NOLINT: uninitialised on purpose
  bool checked = false;
  std::size_t out_len = 0;
  SpawnCounters counters(state);
  for (auto _ : state) {
    std::unique_ptr<char[]> fresh;
    if (!reuse) fresh.reset(new char[cap]);  // NOLINT: untouched until read() fills it
    char* out = reuse ? kept.get() : fresh.get();
    const std::string failure = raw_pipe_job(config().cat, a.ptrs.data(), input, out, cap, out_len);
    if (!failure.empty()) {
      state.SkipWithError(failure.c_str());
      break;
    }
    if (out_len != input.size()) {
      state.SkipWithError("cat did not return as many bytes as it was given");
      break;
    }
    counters.lap();
    if (!checked) {
      // Byte-for-byte once per run, outside the timed region (as for execute).
      state.PauseTiming();
      checked = true;
      const bool same = std::memcmp(out, input.data(), input.size()) == 0;
      state.ResumeTiming();
      counters.restart_lap();
      if (!same) {
        state.SkipWithError("cat did not return the input byte for byte");
        break;
      }
    }
  }
  counters.stop();
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(input.size()));
  state.counters["payload_bytes"] = static_cast<double>(input.size());
  state.counters["rss_goal_bytes"] = static_cast<double>(2 * input.size() + 16 * kMiB);
}

}  // namespace

void register_baselines() {
  const Config& c = config();
  const std::string& noop = c.noop_static;
  const std::string& tru = c.bin_true;
  register_spawn("baseline/posix_spawn/noop_static", [noop](State& s) { bm_posix_spawn(s, noop); });
  register_spawn("baseline/posix_spawn/bin_true", [tru](State& s) { bm_posix_spawn(s, tru); });
  register_spawn("baseline/vfork_execve/noop_static",
                 [noop](State& s) { bm_vfork_execve(s, noop); });
  register_spawn("baseline/vfork_execve/bin_true", [tru](State& s) { bm_vfork_execve(s, tru); });
  register_spawn("baseline/fork_execve/noop_static", [noop](State& s) { bm_fork_execve(s, noop); });
  register_spawn("baseline/fork_execve/bin_true", [tru](State& s) { bm_fork_execve(s, tru); });
  register_spawn("baseline/posix_spawn_pipes/bin_true",
                 [tru](State& s) { bm_posix_spawn_pipes(s, tru); });

  // P2 beside: fork's cost grows with the parent's touched memory.
  register_spawn("baseline/fork_execve_mem", [tru](State& s) { bm_fork_execve(s, tru); })
      ->ArgName("mem_mib")
      ->Args({0})
      ->Args({c.smoke ? 8 : 256})
      ->Args({c.smoke ? 16 : 1024})
      ->Setup(setup_ballast_mib);
  // P3 beside: the kernel copies the descriptor table in clone() and drops
  // it at exit/execve whoever spawns.
  register_spawn("baseline/posix_spawn_fds", [tru](State& s) { bm_posix_spawn(s, tru); })
      ->ArgName("extra_fds")
      ->Args({0})
      ->Args({c.smoke ? 100 : 10000})
      ->Setup(setup_extra_fds);
  register_spawn("baseline/posix_spawn_closefrom_fds",
                 [tru](State& s) { bm_posix_spawn_closefrom(s, tru); })
      ->ArgName("extra_fds")
      ->Args({0})
      ->Args({c.smoke ? 100 : 10000})
      ->Setup(setup_extra_fds);
  register_spawn("baseline/posix_spawn_cat", [](State& s) { bm_posix_spawn_cat(s, false); })
      ->ArgName("mib")
      ->Args({c.smoke ? 16 : 256})
      ->Setup(setup_payload_mib);
  register_spawn("baseline/posix_spawn_cat_reuse", [](State& s) { bm_posix_spawn_cat(s, true); })
      ->ArgName("mib")
      ->Args({c.smoke ? 16 : 256})
      ->Setup(setup_payload_mib);
  // P5 beside: how well the machine itself scales raw spawns to 2 threads.
  register_spawn("baseline/posix_spawn_threads", [tru](State& s) { bm_posix_spawn(s, tru); })
      ->Threads(1)
      ->Threads(2);
}

}  // namespace sxbench
