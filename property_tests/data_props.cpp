// data_props.cpp - what goes in comes out exactly, and nothing else:
//   F09  any byte string through execute(echo) comes back byte-exact, sizes
//        up to several MiB biased to pipe-buffer edges, also when the child
//        first writes a lot before reading (no deadlock);
//   F01  the child's environment is the parent's plus the additions;
//   F02  refused keys (malformed, or dangerous without opt-in) never start a
//        child; opted-in dangerous names do reach it;
//   F11  argv arrives verbatim (shell metacharacters, empty strings, bytes
//        that are not UTF-8), and an argument with NUL is refused;
//   F14  execute() returns within timeout + kill_grace (+ slack) even when
//        the child ignores SIGTERM or a grandchild holds the pipes;
//   F13  error messages and log lines never hold the process input (or a
//        masked secret).
// Each property ends with the same leak check as the others (F05).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include "prop_gtest.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "safeexec/safeexec.hpp"
#include "support.hpp"
#include "support/split_nul.hpp"

namespace safeexec_props {
namespace {

using namespace std::chrono_literals;
using safeexec::ExecuteOptions;
using safeexec::ExitStatus;

std::string ms(std::chrono::steady_clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

/// "K=V\0K=V\0..." -> map (split at the first '=').
safeexec::EnvMap parse_env(const std::string& listing) {
  safeexec::EnvMap env;
  std::size_t start = 0;
  while (start < listing.size()) {
    std::size_t end = listing.find('\0', start);
    if (end == std::string::npos) end = listing.size();
    const std::string entry = listing.substr(start, end - start);
    const std::size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    start = end + 1;
  }
  return env;
}

using safeexec_test_support::split_nul;

SAFEEXEC_PROP(DataRoundTrip, F09_AnyBytesThroughEchoComeBackExactly) {
  // Small inputs byte by byte (shrinks to the offending byte); large ones
  // from a seed, sized at pipe-buffer edges (4095/4096/4097, 64 KiB +- 1 and
  // multiples) up to 6 MiB.
  const bool small = *rc::gen::weightedElement<bool>({{1, true}, {3, false}});
  std::string input;
  if (small) {
    input = *rc::gen::container<std::string>(rc::gen::arbitrary<char>());
  } else {
    const std::size_t size = *gen_pipe_edge_size(6 * 1024 * 1024);
    input =
        make_bytes(size, *rc::gen::arbitrary<std::uint64_t>(), *rc::gen::element(0, 1, 2, 3, 4));
  }
  // The child may first fill stdout and stderr before it reads a byte: the
  // parent must keep reading while it writes (F09, F14).
  const auto first = *rc::gen::element<std::size_t>(0, 0, 4095, 65536, 65537, 300000);
  RC_TAG(first == 0 ? "echo" : "write-then-echo");
  RC_LOG() << "case: " << (first == 0 ? "echo" : "write-then-echo " + std::to_string(first))
           << ", input " << input.size() << " bytes " << show_bytes(input) << "\n";
  const LogCapture quiet;
  LeakGuard leaks;
  {
    const std::vector<std::string> argv =
        first == 0
            ? std::vector<std::string>{helper_path(), "echo"}
            : std::vector<std::string>{helper_path(), "write-then-echo", std::to_string(first)};
    const safeexec::ExecuteResult r =
        safeexec::execute(argv, ExecuteOptions{}.process_input(input).timeout(60s));
    const std::string pattern = helper_pattern(first);
    PROP_CHECK(r.status == ExitStatus::exited(0), r.status.str());
    PROP_CHECK(r.out.size() == pattern.size() + input.size(),
               "F09: stdout has " + std::to_string(r.out.size()) + " bytes, want " +
                   std::to_string(pattern.size() + input.size()));
    PROP_CHECK(r.out.compare(0, pattern.size(), pattern) == 0, "stdout pattern differs");
    if (r.out.compare(pattern.size(), std::string::npos, input) != 0) {
      const auto mismatch = std::mismatch(input.begin(), input.end(),
                                          r.out.begin() + static_cast<long>(pattern.size()));
      RC_FAIL("F09: echoed bytes differ from byte " +
              std::to_string(mismatch.first - input.begin()) + " of " +
              std::to_string(input.size()));
    }
    PROP_CHECK(r.err == pattern, "stderr has " + std::to_string(r.err.size()) + " bytes");
  }
  leaks.verify("F05");
}

SAFEEXEC_PROP(DataRoundTrip, F01_ChildEnvIsParentPlusAdditions) {
  safeexec::EnvMap additions;
  const int count = *rc::gen::inRange(0, 9);
  for (int i = 0; i < count; ++i) additions[*gen_permitted_env_key()] = *gen_nul_free_bytes(64);
  // Sometimes override a variable the parent has (additions win).
  const safeexec::EnvMap parent = safeexec::current_environment();
  std::vector<std::string> overridable;
  for (const auto& [k, v] : parent) {
    // Not PATH, nor a sanitizer's options: the helper child is built with
    // the same sanitizer flags and would refuse random bytes there.
    const bool sanitizer_options = k.size() > 8 && k.compare(k.size() - 8, 8, "_OPTIONS") == 0 &&
                                   k.find("SAN_OPTIONS") != std::string::npos;
    if (safeexec::is_valid_env_key(k) && safeexec::EnvPolicy::deny_dangerous().permits(k) &&
        k != "PATH" && !sanitizer_options) {
      overridable.push_back(k);
    }
  }
  if (!overridable.empty() && *rc::gen::arbitrary<bool>()) {
    additions[*rc::gen::elementOf(overridable)] = *gen_nul_free_bytes(16);
  }
  RC_LOG() << "case: additions";
  for (const auto& [k, v] : additions) RC_LOG() << " " << k << "=" << show_bytes(v);
  RC_LOG() << "\n";
  const LogCapture quiet;
  LeakGuard leaks;
  {
    const safeexec::ExecuteResult r = safeexec::execute(
        {helper_path(), "env"},
        ExecuteOptions{}.spawn(safeexec::SpawnOptions{}.addl_env(additions)).timeout(30s));
    safeexec::EnvMap want = parent;
    for (const auto& [k, v] : additions) want[k] = v;
    const safeexec::EnvMap got = parse_env(r.out);
    if (got != want) {
      std::string diff;
      for (const auto& [k, v] : want) {
        const auto it = got.find(k);
        if (it == got.end()) {
          diff += "\n  missing " + k;
        } else if (it->second != v) {
          diff += "\n  " + k + " = " + show_bytes(it->second) + ", want " + show_bytes(v);
        }
      }
      for (const auto& [k, v] : got) {
        if (want.count(k) == 0) diff += "\n  extra " + k + "=" + show_bytes(v);
      }
      RC_FAIL("F01: the child's environment is not the parent's plus the additions:" + diff);
    }
  }
  leaks.verify("F05");
}

SAFEEXEC_PROP(DataRoundTrip, F02_RefusedKeysNeverReachAChild) {
  // A malformed key, or a dangerous one: refused before anything starts,
  // whatever else is in the map. A dangerous name the caller opted in to by
  // name reaches the child.
  static const std::vector<std::string> dangerous = {
      "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GCONV_PATH",   "GLIBC_TUNABLES", "BASH_ENV",
      "ENV",        "PYTHONPATH",      "PERL5LIB", "NODE_OPTIONS", "MALLOC_CHECK_",  "IFS"};
  const int kind = *rc::gen::element(0, 1, 2);  // 0 malformed, 1 dangerous, 2 dangerous opted in
  std::string key;
  if (kind == 0) {
    key = *rc::gen::suchThat(rc::gen::container<std::string>(rc::gen::arbitrary<char>()),
                             [](const std::string& k) { return !safeexec::is_valid_env_key(k); });
  } else {
    key = *rc::gen::elementOf(dangerous);
  }
  safeexec::EnvMap env;
  const int others = *rc::gen::inRange(0, 4);
  for (int i = 0; i < others; ++i) env[*gen_permitted_env_key()] = *gen_nul_free_bytes(8);
  const std::string value = "safeexec-prop-value";
  env[key] = value;
  const bool via_execute = *rc::gen::arbitrary<bool>();
  static const char* kinds[] = {"malformed key", "dangerous key", "dangerous key, opted in"};
  RC_LOG() << "case: " << kinds[kind] << " " << show_bytes(key) << " via "
           << (via_execute ? "execute" : "create_process") << " with " << env.size() - 1
           << " other key(s)\n";
  const LogCapture quiet;
  LeakGuard leaks;
  {
    safeexec::EnvPolicy policy = safeexec::EnvPolicy::deny_dangerous();
    if (kind == 2) policy.allow(key);
    std::string out;
    bool refused = false;
    try {
      if (via_execute) {
        out =
            safeexec::execute({helper_path(), "env"},
                              ExecuteOptions{}
                                  .spawn(safeexec::SpawnOptions{}.addl_env(env).env_policy(policy))
                                  .timeout(30s))
                .out;
      } else {
        safeexec::Process p =
            safeexec::create_process({helper_path(), "env"}, safeexec::SpawnOptions{}
                                                                 .stdout_pipe()
                                                                 .stdin_mode(safeexec::Stdio::null)
                                                                 .addl_env(env)
                                                                 .env_policy(policy));
        out = p.communicate({}, safeexec::deadline_after(30s)).out;
      }
    } catch (const safeexec::InvalidArgument& e) {
      refused = true;
      // The message names the key (escaped), never its value.
      PROP_CHECK(std::string(e.what()).find(value) == std::string::npos, e.what());
    }
    if (kind == 2) {
      PROP_CHECK(!refused, "an opted-in name was refused");
      const safeexec::EnvMap got = parse_env(out);
      PROP_CHECK(got.count(key) != 0 && got.at(key) == value, "F02: opted-in " + key + " missing");
    } else {
      PROP_CHECK(refused, "F0" + std::to_string(kind == 0 ? 1 : 2) + ": key " + show_bytes(key) +
                              " was accepted; the child saw " + show_bytes(out, 200));
    }
    // Refused: no child was ever started (leaks.verify checks none is left;
    // a started one would have shown its environment).
  }
  leaks.verify("F05");
}

SAFEEXEC_PROP(DataRoundTrip, F11_ArgvArrivesVerbatim) {
  std::vector<std::string> args =
      *rc::gen::resize(24, rc::gen::container<std::vector<std::string>>(gen_nul_free_bytes(48)));
  // Sometimes one argument carries a NUL: refused, nothing started.
  const bool with_nul = !args.empty() && *rc::gen::weightedElement<bool>({{1, true}, {5, false}});
  if (with_nul) {
    const std::size_t which = *rc::gen::inRange<std::size_t>(0, args.size());
    const std::size_t at = *rc::gen::inRange<std::size_t>(0, args[which].size() + 1);
    args[which].insert(at, 1, '\0');
  }
  RC_TAG(with_nul ? "NUL (refused)" : "verbatim");
  RC_LOG() << "case: " << args.size() << " argument(s):";
  for (const std::string& a : args) RC_LOG() << " " << show_bytes(a);
  RC_LOG() << "\n";
  const LogCapture quiet;
  LeakGuard leaks;
  {
    std::vector<std::string> argv{helper_path(), "argv"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (with_nul) {
      RC_ASSERT_THROWS_AS(safeexec::execute(argv, ExecuteOptions{}.timeout(30s)),
                          safeexec::InvalidArgument);
    } else {
      const safeexec::ExecuteResult r = safeexec::execute(argv, ExecuteOptions{}.timeout(30s));
      // The helper writes each argument and a NUL: compare the byte stream
      // (empty arguments included), and name the first argument that differs.
      std::string stream;
      for (const std::string& a : args) stream += a + '\0';
      if (r.out != stream) {
        const std::vector<std::string> got = split_nul(r.out);
        std::size_t i = 0;
        while (i < got.size() && i < args.size() && got[i] == args[i]) ++i;
        RC_FAIL("F11: argument " + std::to_string(i) + " arrived as " +
                (i < got.size() ? show_bytes(got[i]) : std::string("nothing")) + ", want " +
                (i < args.size() ? show_bytes(args[i]) : std::string("nothing")));
      }
    }
  }
  leaks.verify("F05");
}

SAFEEXEC_PROP(DataRoundTrip, F14_TimeoutBoundsExecute) {
  // The child sleeps, or ignores SIGTERM, or exits at once leaving a
  // grandchild that holds stdout/stderr past the deadline.
  const int kind = *rc::gen::element(0, 1, 2);
  // Mostly tens of ms (the suite stays quick), sometimes a few hundred.
  const int timeout_ms =
      *rc::gen::weightedOneOf<int>({{3, rc::gen::inRange(10, 60)}, {1, rc::gen::inRange(60, 301)}});
  const int grace_ms =
      *rc::gen::weightedOneOf<int>({{3, rc::gen::inRange(10, 50)}, {1, rc::gen::inRange(50, 201)}});
  const bool with_input = *rc::gen::arbitrary<bool>();
  static const char* names[] = {"sleep", "ignore-term", "daemon"};
  RC_TAG(names[kind]);
  const LogCapture quiet;
  LeakGuard leaks;
  const std::string tag = new_tag();
  RC_LOG() << "case: " << names[kind] << " timeout " << timeout_ms << " ms, kill_grace " << grace_ms
           << " ms, input " << (with_input ? "100000 bytes" : "none") << "\n";
  std::vector<std::string> argv{helper_path()};
  if (kind == 0) argv.insert(argv.end(), {"sleep", "60000", tag});
  if (kind == 1) argv.insert(argv.end(), {"ignore-term", "60000", tag});
  // The grandchild outlives timeout + grace, so it holds the pipes the
  // whole time; it is killed right after the check.
  if (kind == 2)
    argv.insert(argv.end(), {"daemon", std::to_string(timeout_ms + grace_ms + 300), tag});
  const ExecuteOptions options = ExecuteOptions{}
                                     .timeout(std::chrono::milliseconds(timeout_ms))
                                     .kill_grace(std::chrono::milliseconds(grace_ms))
                                     .process_input(with_input ? std::string(100000, 'x') : "");
  const auto start = std::chrono::steady_clock::now();
  bool timed_out = false;
  ExitStatus status;
  try {
    status = safeexec::execute(argv, options).status;
  } catch (const safeexec::TimeoutError& e) {
    timed_out = true;
    PROP_CHECK(e.timeout() == std::chrono::milliseconds(timeout_ms), e.what());
  }
  const auto took = std::chrono::steady_clock::now() - start;
  // For a sleeping or SIGTERM-ignoring child, the whole group must be gone
  // the moment execute() throws; a daemon's grandchild legitimately outlives
  // a successful execute() (it was never waited for) and is cleaned up here.
  const std::vector<pid_t> left = live_tagged(tag);
  (void)drain_tagged(tag, 0ms);
  const auto bound = std::chrono::milliseconds(timeout_ms + grace_ms) + timing_slack();
  PROP_CHECK(took <= bound,
             std::string("F14: ") + names[kind] + " took " + ms(took) + ", bound " + ms(bound));
  if (kind == 2) {
    // exits at once; execute() lingers at most kill_grace for the pipes.
    PROP_CHECK(timed_out || status == ExitStatus::exited(0), status.str());
  } else {
    PROP_CHECK(timed_out, "no TimeoutError from a child that never ends");
    PROP_CHECK(took >= std::chrono::milliseconds(timeout_ms), "returned early: " + ms(took));
    PROP_CHECK(left.empty(), "F14: " + std::to_string(left.size()) +
                                 " process(es) of the killed group still running after the throw");
  }
  leaks.verify("F05 (after a timeout)");
}

SAFEEXEC_PROP(DataRoundTrip, F13_MessagesNeverContainTheInput) {
  // >= 16 random bytes, so that no message can contain it by chance.
  const std::string input =
      make_bytes(*rc::gen::inRange<std::size_t>(16, 4097), *rc::gen::arbitrary<std::uint64_t>(), 0);
  const std::string secret = *rc::gen::map(
      rc::gen::container<std::string>(
          12, rc::gen::elementOf(std::string("abcdefghijklmnopqrstuvwxyz0123456789"))),
      [](std::string s) { return "pw-" + s; });
  const int kind = *rc::gen::element(0, 1, 2);  // 0 exit N, 1 timeout, 2 output limit
  const int code = *rc::gen::inRange(1, 256);
  static const char* names[] = {"non-zero exit", "timeout", "output limit"};
  RC_TAG(names[kind]);
  RC_LOG() << "case: " << names[kind] << " (exit code " << code << "), input " << input.size()
           << " bytes, secret " << secret << "\n";
  std::vector<std::string> lines;
  LeakGuard leaks;
  std::string message;
  {
    const LogCapture capture(&lines);
    std::vector<std::string> argv{helper_path()};
    if (kind == 0) argv.insert(argv.end(), {"exit", std::to_string(code), "--password=" + secret});
    if (kind == 1) argv.insert(argv.end(), {"sleep", "60000", "--password=" + secret});
    if (kind == 2) argv.insert(argv.end(), {"spew", "5000", "0", "--password=" + secret});
    const ExecuteOptions options =
        ExecuteOptions{}
            .process_input(input)
            .secrets({secret})
            .timeout(kind == 1 ? 20ms : 30000ms)
            .kill_grace(20ms)
            .max_output_bytes(kind == 2 ? 100 : static_cast<std::size_t>(-1));
    try {
      (void)safeexec::execute(argv, options);
      RC_FAIL("execute() did not fail");
    } catch (const safeexec::ProcessExecutionError& e) {
      PROP_CHECK(kind == 0 && e.exit_code() == code, e.what());
      message = e.what();
    } catch (const safeexec::TimeoutError& e) {
      PROP_CHECK(kind == 1, e.what());
      message = e.what();
    } catch (const safeexec::OutputLimitError& e) {
      PROP_CHECK(kind == 2, e.what());
      message = e.what();
    }
  }
  PROP_CHECK(message.find(input) == std::string::npos, "F13: the message holds the input");
  PROP_CHECK(message.find(secret) == std::string::npos,
             "F13: the message holds the secret: " + message);
  PROP_CHECK(message.find("***") != std::string::npos, "F13: the secret is not masked: " + message);
  PROP_CHECK(!lines.empty(), "the failure was not logged");
  for (const std::string& line : lines) {
    PROP_CHECK(line.find(input) == std::string::npos, "F13: a log line holds the input");
    PROP_CHECK(line.find(secret) == std::string::npos, "F13: a log line holds the secret: " + line);
    // Nor any 16-byte window of it (a partial copy is still a disclosure).
    for (std::size_t at = 0; at + 16 <= input.size(); at += 16) {
      PROP_CHECK(line.find(input.substr(at, 16)) == std::string::npos,
                 "F13: a log line holds input bytes " + std::to_string(at) + "..");
    }
  }
  for (std::size_t at = 0; at + 16 <= input.size(); at += 16) {
    PROP_CHECK(message.find(input.substr(at, 16)) == std::string::npos,
               "F13: the message holds input bytes " + std::to_string(at) + "..");
  }
  leaks.verify("F05");
}

}  // namespace
}  // namespace safeexec_props
