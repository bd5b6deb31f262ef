// process_model.hpp - the model of the stateful property (model_props.cpp):
// what a sequence of create_process/Process operations must leave behind.
//
// Plain standard containers and pure functions only (after ArcticDB's
// version_map_model.hpp): the model knows which children exist, which of
// their pipes the parent still holds, what has been written to each stdin,
// whether each child has been reaped, and which exit statuses are possible.
// It never looks at the real system; the commands compare the two.
//
// Determinism is designed in, so that the model can say *exactly* what the
// system must do, rather than "something reasonable":
//   * outputs that the parent does not read are small (<= 4 KiB per stream,
//     below any pipe's capacity), or large (>= 128 KiB, above any pipe's
//     capacity); so whether a child can finish without our help never
//     depends on timing;
//   * input is written only while the total stays <= 2 KiB, so a write to a
//     live reader never blocks or comes back short;
//   * every signal the commands send kills by default, and the first fatal
//     signal decides the status (the kernel records it when it is sent).
#pragma once

#include <signal.h>

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "safeexec/env.hpp"
#include "safeexec/exit_status.hpp"
#include "safeexec/process.hpp"

namespace safeexec_props {

/// What the helper child is asked to do (one of its modes).
enum class Mode {
  echo,             // copy stdin to stdout until EOF
  read_some,        // read n bytes of stdin, close it, echo them
  write_then_echo,  // n bytes to stdout and stderr, then echo stdin
  spew,             // n bytes to stdout, m to stderr; stdin unread
  exit_code,        // exit n
  die_by_signal,    // kill itself with signal n
  sleep_short,      // sleep n ms (n <= 30), exit 0
  sleep_long,       // sleep 60 s: ends only when killed
  ignore_term,      // ignore SIGTERM, sleep 60 s
  ignore_stdin,     // exit 0 at once
  argv,             // print the extra arguments, NUL-terminated
  env,              // print the environment
  fds,              // print its open descriptors: must be "0 1 2" (F06)
  cwd,              // print its working directory
  pgid,             // print "<pid> <pgid>"
  daemon,           // fork a grandchild that holds stdout/stderr n ms; exit 0
};

const char* to_string(Mode m);

/// Pipe capacity is at least one page (a full user may get one page only);
/// below this an unread stream never blocks its writer.
constexpr std::size_t kSmallOutput = 4096;
/// Above any pipe's capacity (64 KiB by default, 1 MiB at most unprivileged):
/// an unread stream of this size always blocks its writer.
constexpr std::size_t kLargeOutput = 128 * 1024;
/// Most bytes the model writes to one stdin.
constexpr std::size_t kInputBudget = 2048;
/// Long enough to outlive any sequence, short enough not to matter if a bug
/// left one behind (the leak check kills strays anyway).
constexpr long kLongSleepMs = 60000;

/// Everything a spawn asks for; drawn by the Spawn command's constructor.
struct ChildSpec {
  Mode mode = Mode::exit_code;
  long n = 0;                           // exit code, signal, ms, byte count
  long m = 0;                           // spew: stderr byte count
  std::vector<std::string> extra_args;  // argv mode
  safeexec::Stdio in = safeexec::Stdio::pipe;
  safeexec::Stdio out = safeexec::Stdio::pipe;
  safeexec::Stdio err = safeexec::Stdio::pipe;
  bool new_group = false;
  safeexec::EnvMap env;
  std::string cwd;  // "" = the parent's

  /// The helper's argv for this spec; `tag` marks daemon grandchildren.
  std::vector<std::string> argv(const std::string& helper, const std::string& tag) const;
  safeexec::SpawnOptions options() const;
  /// Reads stdin at all (so a write to it may not fail while it lives).
  bool reads_stdin() const;
  /// Bytes the child writes to stdout/stderr on its own (input echo aside).
  std::size_t own_stdout_bytes() const;
  std::size_t own_stderr_bytes() const;
  /// One line, exactly as run: "echo in=pipe out=pipe err=null group=0 ...".
  std::string show() const;
};

/// One handle the sequence holds.
struct HandleModel {
  ChildSpec spec;
  bool stdin_open = false;  // the parent's ends, as the handle holds them
  bool stdout_open = false;
  bool stderr_open = false;
  std::string input;  // bytes written to stdin (or handed to communicate)
  bool reaped = false;
  /// Signals one of which decides the status: the first fatal signal sent
  /// while the child was unreaped (terminate() adds SIGKILL for a child that
  /// ignores SIGTERM). Empty: no signal was sent.
  std::set<int> deciding_signals;
  bool natural_possible = true;  // it might have ended on its own before that
  bool consumed = false;         // a communicate() has read its streams to EOF

  /// The status it ends with on its own, if it ends on its own at all.
  std::optional<safeexec::ExitStatus> natural_status() const;
  /// True when the child ends without any further help from us: it is not
  /// waiting for stdin and its unread output fits in the pipes.
  bool ends_unaided() const;
  /// True when communicate() (which closes stdin and reads everything) lets
  /// it end, i.e. unless it sleeps "forever" and no fatal signal was sent.
  bool ends_with_communicate() const;
  /// Every status the real child may have ended with. Empty: it must not
  /// have ended (and must not end) on its own.
  std::set<std::pair<int, int>> possible_statuses() const;
  bool status_possible(const safeexec::ExitStatus& st) const;
  /// Its whole stdout/stderr when it runs to its natural end. `pid` and
  /// `parent_pgid` feed the pgid mode; `parent_env` and `parent_cwd` the env
  /// and cwd modes. nullopt when the output cannot be predicted.
  std::optional<std::string> expected_stdout(pid_t pid, pid_t parent_pgid,
                                             const std::string& parent_cwd) const;
  std::string expected_stderr() const;
  /// Descriptors the parent holds for this handle: pidfd until reaped, plus
  /// every pipe end still open.
  std::size_t fds_held() const;
};

/// The model: handles by the id that the spawning command gave them.
struct Model {
  std::map<int, HandleModel> handles;
  int next_id = 0;

  std::size_t fds_held() const;
  std::size_t unreaped() const;
  /// Ids of handles for which `pred` holds, in id order.
  template <class Pred>
  std::vector<int> ids_where(Pred pred) const {
    std::vector<int> out;
    for (const auto& [id, h] : handles) {
      if (pred(h)) out.push_back(id);
    }
    return out;
  }
};

/// Pair form of an ExitStatus (kind, value) for sets and printing.
std::pair<int, int> status_key(const safeexec::ExitStatus& st);
std::string show_status_set(const std::set<std::pair<int, int>>& s);

/// The signals commands send: each one kills a helper child by default.
const std::vector<int>& fatal_signals();
std::string signal_name(int sig);

}  // namespace safeexec_props
