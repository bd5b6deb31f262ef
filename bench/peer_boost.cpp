// peer_boost.cpp - peer: Boost.Process v2 (Debian's libboost1.81-dev,
// header-only) doing execute()'s job: /bin/true with stdin/stdout/stderr as
// asio pipes, a small input written, both outputs read to EOF, exit code
// waited for.
//
// SIGPIPE: Boost.Process v2 (through asio) writes to the child's stdin with a
// plain write(); when /bin/true has exited before the write, SIGPIPE kills
// the whole process. Observed here: this same job in a loop of 3000 runs,
// without SIG_IGN, dies with status 141 (SIGPIPE) even with the 26-byte
// input. As the issue allows, SIGPIPE is ignored process-wide for this
// benchmark only: Setup() installs SIG_IGN, Teardown() restores the previous
// disposition. safeexec needs no such help (it blocks SIGPIPE on the writing
// thread and absorbs EPIPE).
//
// Boost.Process 1.81 v2 launches with fork() (posix::default_launcher), so
// its cost grows with the parent's memory like the fork baseline does.
#include <csignal>
#include <exception>
#include <string>

#include "bench_common.hpp"

#if defined(SAFEEXEC_BENCH_HAVE_BOOST) && SAFEEXEC_BENCH_HAVE_BOOST
// std::filesystem instead of boost::filesystem: Debian ships the Boost 1.81
// headers but no libboost_filesystem 1.81 to link against. In that mode the
// 1.81 headers forget two includes of their own (boost::optional,
// std::decay): included here first.
#define BOOST_PROCESS_USE_STD_FS 1
#include <boost/optional.hpp>
#include <type_traits>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/asio/write.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#endif

namespace sxbench {
namespace {

using benchmark::State;

#if defined(SAFEEXEC_BENCH_HAVE_BOOST) && SAFEEXEC_BENCH_HAVE_BOOST

namespace asio = boost::asio;
namespace bp = boost::process::v2;

struct sigaction g_old_sigpipe {};

void setup_ignore_sigpipe(const State& state) {
  setup_plain(state);
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  (void)::sigaction(SIGPIPE, &ign, &g_old_sigpipe);
}

void teardown_restore_sigpipe(const State&) {
  (void)::sigaction(SIGPIPE, &g_old_sigpipe, nullptr);
}

// One run of the job; returns the exit code (or throws boost::system::system_error).
int boost_job(asio::io_context& ctx, const std::string& path, const std::string& input,
              std::string& out, std::string& err) {
  asio::writable_pipe in(ctx);
  asio::readable_pipe so(ctx);
  asio::readable_pipe se(ctx);
  bp::process proc(ctx, path, {}, bp::process_stdio{in, so, se});
  out.clear();
  err.clear();
  asio::async_write(in, asio::buffer(input), [&in](boost::system::error_code, std::size_t) {
    boost::system::error_code ignored;
    in.close(ignored);  // EPIPE when the child exited first: not an error here
  });
  asio::async_read(so, asio::dynamic_buffer(out), [](boost::system::error_code, std::size_t) {});
  asio::async_read(se, asio::dynamic_buffer(err), [](boost::system::error_code, std::size_t) {});
  ctx.run();
  ctx.restart();
  return proc.wait();
}

void bm_boost(State& state, const std::string& path) {
  if (!setup_ok(state)) return;
  asio::io_context ctx;
  const std::string input(kSmallInput);
  std::string out;
  std::string err;
  SpawnCounters counters(state);
  try {
    for (auto _ : state) {
      const int rc = boost_job(ctx, path, input, out, err);
      if (rc != 0) {
        state.SkipWithError(("child exited " + std::to_string(rc)).c_str());
        break;
      }
      counters.lap();
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

#else

void setup_ignore_sigpipe(const State& state) {
  setup_plain(state);
}
void teardown_restore_sigpipe(const State&) {}

void bm_boost(State& state, const std::string&) {
  for (auto _ : state) {
    state.SkipWithError("Boost.Process v2 was not found at build time (libboost1.81-dev)");
    break;
  }
}

#endif

}  // namespace

void register_peer_boost() {
  const std::string tru = config().bin_true;
  register_spawn("peer/boost_process_v2/bin_true", [tru](State& s) { bm_boost(s, tru); })
      ->Setup(setup_ignore_sigpipe)
      ->Teardown(teardown_restore_sigpipe);
}

}  // namespace sxbench
