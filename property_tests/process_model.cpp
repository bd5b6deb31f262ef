// process_model.cpp - the model's pure functions (see process_model.hpp).
#include "process_model.hpp"
#include "support/kernel_features.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

#include "support.hpp"

namespace safeexec_props {

using safeexec::ExitStatus;
using safeexec::Stdio;

const char* to_string(Mode m) {
  switch (m) {
    case Mode::echo:
      return "echo";
    case Mode::read_some:
      return "read-some";
    case Mode::write_then_echo:
      return "write-then-echo";
    case Mode::spew:
      return "spew";
    case Mode::exit_code:
      return "exit";
    case Mode::die_by_signal:
      return "signal";
    case Mode::sleep_short:
      return "sleep";
    case Mode::sleep_long:
      return "sleep(long)";
    case Mode::ignore_term:
      return "ignore-term";
    case Mode::ignore_stdin:
      return "ignore-stdin";
    case Mode::argv:
      return "argv";
    case Mode::env:
      return "env";
    case Mode::fds:
      return "fds";
    case Mode::cwd:
      return "cwd";
    case Mode::pgid:
      return "pgid";
    case Mode::daemon:
      return "daemon";
  }
  return "?";
}

namespace {

const char* stdio_name(Stdio s) {
  switch (s) {
    case Stdio::pipe:
      return "pipe";
    case Stdio::null:
      return "null";
    case Stdio::inherit:
      return "inherit";
  }
  return "?";
}

/// The bytes the env mode prints: "K=V\0" per entry, the entries sorted as
/// whole strings, as the property sorts the child's (model_props.cpp,
/// sorted_env). Not in the map's key order: with keys "_" and "_0" the key
/// order puts "_=..." first, the entry order "_0=..." ('0' < '=').
std::string env_listing(const safeexec::EnvMap& additions) {
  safeexec::EnvMap env = safeexec::current_environment();
  for (const auto& [k, v] : additions) env[k] = v;
  std::vector<std::string> entries;
  entries.reserve(env.size());
  for (const auto& [k, v] : env) entries.push_back(k + "=" + v);
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const std::string& e : entries) {
    out += e;
    out += '\0';
  }
  return out;
}

}  // namespace

std::vector<std::string> ChildSpec::argv(const std::string& helper, const std::string& tag) const {
  std::vector<std::string> a{helper};
  switch (mode) {
    case Mode::echo:
      a.emplace_back("echo");
      break;
    case Mode::read_some:
      a.insert(a.end(), {"read-some", std::to_string(n)});
      break;
    case Mode::write_then_echo:
      a.insert(a.end(), {"write-then-echo", std::to_string(n)});
      break;
    case Mode::spew:
      a.insert(a.end(), {"spew", std::to_string(n), std::to_string(m)});
      break;
    case Mode::exit_code:
      a.insert(a.end(), {"exit", std::to_string(n)});
      break;
    case Mode::die_by_signal:
      a.insert(a.end(), {"signal", std::to_string(n)});
      break;
    case Mode::sleep_short:
    case Mode::sleep_long:
      a.insert(a.end(), {"sleep", std::to_string(n)});
      break;
    case Mode::ignore_term:
      a.insert(a.end(), {"ignore-term", std::to_string(n)});
      break;
    case Mode::ignore_stdin:
      a.emplace_back("ignore-stdin");
      break;
    case Mode::argv:
      a.emplace_back("argv");
      a.insert(a.end(), extra_args.begin(), extra_args.end());
      break;
    case Mode::env:
      a.emplace_back("env");
      break;
    case Mode::fds:
      a.emplace_back("fds");
      break;
    case Mode::cwd:
      a.emplace_back("cwd");
      break;
    case Mode::pgid:
      a.emplace_back("pgid");
      break;
    case Mode::daemon:
      a.insert(a.end(), {"daemon", std::to_string(n), tag});
      break;
  }
  return a;
}

safeexec::SpawnOptions ChildSpec::options() const {
  safeexec::SpawnOptions o;
  o.stdin_mode(in).stdout_mode(out).stderr_mode(err).new_process_group(new_group).cwd(cwd);
  if (!env.empty()) o.addl_env(env);
  return o;
}

bool ChildSpec::reads_stdin() const {
  return mode == Mode::echo || mode == Mode::read_some || mode == Mode::write_then_echo;
}

std::size_t ChildSpec::own_stdout_bytes() const {
  switch (mode) {
    case Mode::write_then_echo:
    case Mode::spew:
      return static_cast<std::size_t>(n);
    case Mode::argv: {
      std::size_t total = 0;
      for (const std::string& s : extra_args) total += s.size() + 1;
      return total;
    }
    case Mode::env:
      return env_listing(env).size();
    case Mode::cwd:
      return 256;  // "/", "/tmp" or the test's working directory, and "\n"
    default:
      return 64;  // "0 1 2\n", "<pid> <pgid>\n" or nothing
  }
}

std::size_t ChildSpec::own_stderr_bytes() const {
  if (mode == Mode::write_then_echo) return static_cast<std::size_t>(n);
  if (mode == Mode::spew) return static_cast<std::size_t>(m);
  return 0;
}

std::string ChildSpec::show() const {
  std::string s = to_string(mode);
  switch (mode) {
    case Mode::argv:
      for (const std::string& a : extra_args) s += " " + show_bytes(a);
      break;
    case Mode::spew:
      s += " " + std::to_string(n) + " " + std::to_string(m);
      break;
    case Mode::daemon:
      s += " " + std::to_string(n) + " <tag>";
      break;
    case Mode::echo:
    case Mode::ignore_stdin:
    case Mode::env:
    case Mode::fds:
    case Mode::cwd:
    case Mode::pgid:
      break;
    default:
      s += " " + std::to_string(n);
      break;
  }
  s += std::string(" in=") + stdio_name(in) + " out=" + stdio_name(out) +
       " err=" + stdio_name(err) + " group=" + (new_group ? "1" : "0");
  if (!cwd.empty()) s += " cwd=" + cwd;
  if (!env.empty()) {
    s += " env={";
    bool first = true;
    for (const auto& [k, v] : env) {
      if (!first) s += ",";
      first = false;
      s += k + "=" + show_bytes(v, 16);
    }
    s += "}";
  }
  return s;
}

std::optional<ExitStatus> HandleModel::natural_status() const {
  switch (spec.mode) {
    case Mode::exit_code:
      return ExitStatus::exited(static_cast<int>(spec.n));
    case Mode::die_by_signal:
      return ExitStatus::signaled(static_cast<int>(spec.n));
    case Mode::sleep_long:
    case Mode::ignore_term:
      return std::nullopt;
    default:
      return ExitStatus::exited(0);
  }
}

bool HandleModel::ends_unaided() const {
  if (reaped || !deciding_signals.empty()) return true;
  const bool stdin_eof = spec.in != Stdio::pipe || !stdin_open;
  const auto fits = [](Stdio s, std::size_t bytes) {
    return s != Stdio::pipe || bytes <= kSmallOutput;
  };
  switch (spec.mode) {
    case Mode::echo:
    case Mode::write_then_echo:
      // Unread output stays below a pipe's capacity (n, input <= 2 KiB).
      return stdin_eof;
    case Mode::read_some:
      return stdin_eof || input.size() >= static_cast<std::size_t>(spec.n);
    case Mode::spew:
    case Mode::env:
    case Mode::argv:
      return fits(spec.out, spec.own_stdout_bytes()) && fits(spec.err, spec.own_stderr_bytes());
    case Mode::sleep_long:
    case Mode::ignore_term:
      return false;
    default:
      return true;
  }
}

bool HandleModel::ends_with_communicate() const {
  return reaped || !deciding_signals.empty() || natural_status().has_value();
}

std::set<std::pair<int, int>> HandleModel::possible_statuses() const {
  std::set<std::pair<int, int>> s;
  const std::optional<ExitStatus> nat = natural_status();
  const std::set<int>& deciding = deciding_signals;
  for (const int sig : deciding) s.insert(status_key(ExitStatus::signaled(sig)));
  if (nat && (deciding.empty() || natural_possible)) s.insert(status_key(*nat));
  return s;
}

bool HandleModel::status_possible(const ExitStatus& st) const {
  return possible_statuses().count(status_key(st)) != 0;
}

std::optional<std::string> HandleModel::expected_stdout(pid_t pid, pid_t parent_pgid,
                                                        const std::string& parent_cwd) const {
  if (spec.out != Stdio::pipe) return std::string();
  switch (spec.mode) {
    case Mode::echo:
      return input;
    case Mode::read_some:
      return input.substr(0, static_cast<std::size_t>(spec.n));
    case Mode::write_then_echo:
      return helper_pattern(static_cast<std::size_t>(spec.n)) + input;
    case Mode::spew:
      return helper_pattern(static_cast<std::size_t>(spec.n));
    case Mode::argv: {
      std::string out;
      for (const std::string& a : spec.extra_args) {
        out += a;
        out += '\0';
      }
      return out;
    }
    case Mode::env:
      return env_listing(spec.env);
    case Mode::fds:
      return std::string("0 1 2\n");
    case Mode::cwd: {
      if (spec.cwd.empty()) return parent_cwd + "\n";
      char resolved[PATH_MAX];
      if (::realpath(spec.cwd.c_str(), resolved) == nullptr) return std::nullopt;
      return std::string(resolved) + "\n";
    }
    case Mode::pgid:
      return std::to_string(pid) + " " + std::to_string(spec.new_group ? pid : parent_pgid) + "\n";
    default:
      return std::string();
  }
}

std::string HandleModel::expected_stderr() const {
  if (spec.err != Stdio::pipe) return {};
  return helper_pattern(spec.own_stderr_bytes());
}

std::size_t HandleModel::fds_held() const {
  // The pidfd, while unreaped, on a kernel that has pidfds (ci/kernels'
  // no-pidfd profile takes them away), and the pipe ends still open.
  const bool pidfd = !reaped && safeexec_test_support::kernel_has_pidfd();
  return (pidfd ? 1U : 0U) + (stdin_open ? 1U : 0U) + (stdout_open ? 1U : 0U) +
         (stderr_open ? 1U : 0U);
}

std::size_t Model::fds_held() const {
  std::size_t n = 0;
  for (const auto& [id, h] : handles) n += h.fds_held();
  return n;
}

std::size_t Model::unreaped() const {
  std::size_t n = 0;
  for (const auto& [id, h] : handles) n += h.reaped ? 0U : 1U;
  return n;
}

std::pair<int, int> status_key(const ExitStatus& st) {
  return {static_cast<int>(st.kind()),
          st.kind() == ExitStatus::Kind::exited ? st.exit_code() : st.signal()};
}

std::string show_status_set(const std::set<std::pair<int, int>>& s) {
  std::string out = "{";
  for (const auto& [kind, value] : s) {
    if (out.size() > 1) out += ", ";
    if (kind == static_cast<int>(ExitStatus::Kind::exited)) {
      out += ExitStatus::exited(value).str();
    } else if (kind == static_cast<int>(ExitStatus::Kind::signaled)) {
      out += ExitStatus::signaled(value).str();
    } else {
      out += "running";
    }
  }
  return out + "}";
}

const std::vector<int>& fatal_signals() {
  static const std::vector<int> sigs{SIGTERM, SIGKILL, SIGINT,  SIGHUP,
                                     SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE};
  return sigs;
}

std::string signal_name(int sig) {
  switch (sig) {
    case SIGTERM:
      return "SIGTERM";
    case SIGKILL:
      return "SIGKILL";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGUSR2:
      return "SIGUSR2";
    case SIGALRM:
      return "SIGALRM";
    case SIGPIPE:
      return "SIGPIPE";
    default:
      return "signal " + std::to_string(sig);
  }
}

}  // namespace safeexec_props
