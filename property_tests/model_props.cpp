// model_props.cpp - the stateful property (rc::state): any sequence of
// create_process / Process operations leaves no descriptor and no child
// behind (F05), children see only 0, 1, 2 (F06), and after every command the
// real system agrees with the model in process_model.hpp.
//
// Shape (after ArcticDB's rapidcheck_version_map.cpp): each command is a
// rc::state::Command<Model, Sut> that draws its arguments from the model in
// its constructor, re-checks its preconditions with RC_PRE (shrinking replays
// commands on other states), updates the model in apply(), acts on the real
// system and asserts in run(), and prints itself exactly in show() - the
// printed sequence is the counterexample, so a show() that lies would make
// the failure trace lie too.
//
// After every command, check_agreement() compares the whole system with the
// model: which handles exist, which pipe ends and pidfds each holds, the
// process's descriptor count (snapshot + what the model says is held), and
// the number of our children in /proc (= the unreaped handles). After the
// sequence, every handle is dropped and the descriptors must equal the
// snapshot taken before it, waitpid(-1, WNOHANG) must say ECHILD and no
// zombie may name us as parent.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <rapidcheck.h>
#include <rapidcheck/state.h>
#include <sys/wait.h>
#include <unistd.h>
#include "prop_gtest.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "process_model.hpp"
#include "safeexec/safeexec.hpp"
#include "support.hpp"
#include "support/kernel_features.hpp"

namespace safeexec_props {
namespace {

using namespace std::chrono_literals;
using safeexec::ExecuteOptions;
using safeexec::ExitStatus;
using safeexec::KillOutcome;
using safeexec::Process;
using safeexec::Stdio;
using safeexec_test_support::kernel_has_pidfd;

/// Fails the case with a message that is built only when the check fails.
constexpr std::size_t kMaxHandles = 6;

// --- the system under test --------------------------------------------------

struct SutHandle {
  std::optional<Process> proc;
  pid_t pid = -1;
  std::string out_seen;  // bytes read from stdout/stderr outside communicate()
  std::string err_seen;
  std::optional<ExitStatus> final_status;
};

struct Sut {
  std::map<int, SutHandle> handles;
  std::vector<std::string> tags;  // daemon grandchildren to wait for
  std::size_t base_fds = open_fds().size();
  pid_t parent_pgid = ::getpgrp();
  std::string parent_cwd = current_dir();

  Sut() = default;
  Sut(const Sut&) = delete;
  Sut& operator=(const Sut&) = delete;
  ~Sut() {
    handles.clear();  // each Process kills and reaps its child
    for (const std::string& tag : tags) (void)drain_tagged(tag, 0ms);
  }

  Process& proc(int id) { return *handles.at(id).proc; }

  static std::string current_dir() {
    char buf[PATH_MAX];
    return ::getcwd(buf, sizeof buf) != nullptr ? std::string(buf) : std::string();
  }
};

using ProcCommand = rc::state::Command<Model, Sut>;

bool is_our_unreaped_child(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

std::string fd_state(const Process& p) {
  return "pid=" + std::to_string(p.pid()) + " pidfd=" + std::to_string(p.pidfd()) +
         " in=" + std::to_string(p.stdin_fd()) + " out=" + std::to_string(p.stdout_fd()) +
         " err=" + std::to_string(p.stderr_fd()) + " status=" + p.status().str();
}

/// The real system agrees with the model `m` (the state after the command).
void check_agreement(const Model& m, Sut& sut) {
  PROP_CHECK(m.handles.size() == sut.handles.size(), "handle count differs from the model");
  for (const auto& [id, h] : m.handles) {
    const auto it = sut.handles.find(id);
    PROP_CHECK(it != sut.handles.end(), "handle #" + std::to_string(id) + " missing");
    const Process& p = *it->second.proc;
    const std::string where = "handle #" + std::to_string(id) + " (" + fd_state(p) + ")";
    PROP_CHECK((p.stdin_fd() >= 0) == h.stdin_open, where);
    PROP_CHECK((p.stdout_fd() >= 0) == h.stdout_open, where);
    PROP_CHECK((p.stderr_fd() >= 0) == h.stderr_open, where);
    // No pidfd at all on a kernel without them (ci/kernels' no-pidfd profile).
    PROP_CHECK((p.pidfd() >= 0) == (!h.reaped && kernel_has_pidfd()), where);
    PROP_CHECK(p.status().running() == !h.reaped, where);
    // F06: every descriptor the library holds is close-on-exec, so a child
    // that anyone else starts (a fork+exec elsewhere in the process) cannot
    // inherit it and hold our pipes open.
    for (const int fd : {p.pidfd(), p.stdin_fd(), p.stdout_fd(), p.stderr_fd()}) {
      if (fd < 0) continue;
      const int flags = ::fcntl(fd, F_GETFD);  // NOLINT(cppcoreguidelines-pro-type-vararg)
      PROP_CHECK(
          flags >= 0 && (flags & FD_CLOEXEC) != 0,
          "F06: descriptor " + std::to_string(fd) + " of " + where + " is not close-on-exec");
    }
  }
  const std::set<int> fds = open_fds();
  PROP_CHECK(fds.size() == sut.base_fds + m.fds_held(),
             "F05: the process holds " + std::to_string(fds.size()) + " descriptors, the model " +
                 std::to_string(sut.base_fds) + " + " + std::to_string(m.fds_held()) +
                 "; open: " + show_fds(fds));
  const std::vector<ProcInfo> kids = our_children();
  std::string kid_list;
  for (const ProcInfo& k : kids) kid_list += " " + std::to_string(k.pid) + "(" + k.state + ")";
  PROP_CHECK(kids.size() == m.unreaped(), "F05: children in /proc:" + kid_list + "; model: " +
                                              std::to_string(m.unreaped()) + " unreaped");
}

void check_status(const HandleModel& h, const ExitStatus& st, const std::string& what) {
  PROP_CHECK(h.status_possible(st), what + ": status " + st.str() + " is not one of " +
                                        show_status_set(h.possible_statuses()));
}

std::string sorted_env(const std::string& listing) {
  std::vector<std::string> entries;
  std::size_t start = 0;
  while (start < listing.size()) {
    const std::size_t end = listing.find('\0', start);
    if (end == std::string::npos) {
      entries.push_back(listing.substr(start));
      break;
    }
    entries.push_back(listing.substr(start, end - start));
    start = end + 1;
  }
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const std::string& e : entries) out += e + '\0';
  return out;
}

bool starts_with(const std::string& whole, const std::string& prefix) {
  return whole.size() >= prefix.size() && whole.compare(0, prefix.size(), prefix) == 0;
}

/// Output check: the whole output when the child certainly ran to its
/// natural end, else a prefix of it (a signal may have cut it short).
void check_output(const HandleModel& h, const ExitStatus& st,
                  const std::optional<std::string>& want, const std::string& got,
                  const char* stream) {
  if (!want) return;
  const std::optional<ExitStatus> nat = h.natural_status();
  const bool natural_end =
      nat && st == *nat &&
      !(nat->kind() == ExitStatus::Kind::signaled && h.deciding_signals.count(nat->signal()));
  const bool env_mode = h.spec.mode == Mode::env && std::string(stream) == "stdout";
  const std::string g = env_mode ? sorted_env(got) : got;
  if (natural_end) {
    PROP_CHECK(g == *want,
               std::string(stream) + ": got " + show_bytes(g) + ", want " + show_bytes(*want));
  } else if (!env_mode) {
    PROP_CHECK(starts_with(*want, g), std::string(stream) + ": got " + show_bytes(g) +
                                          ", not a prefix of " + show_bytes(*want));
  }
}

std::string show_input(const std::string& s) {
  constexpr std::size_t kShown = 24;
  return s.size() > kShown ? show_bytes(s, kShown)
                           : show_bytes(s, kShown) + " (" + std::to_string(s.size()) + " bytes)";
}

/// An id drawn from the handles for which `pred` holds; discards the command
/// when there is none.
template <class Pred>
int draw_id(const Model& m, Pred pred) {
  const std::vector<int> ids = m.ids_where(pred);
  RC_PRE(!ids.empty());
  return *rc::gen::elementOf(ids);
}

const auto any_handle = [](const HandleModel&) { return true; };

/// Stdout small enough that reading part of it cannot change whether the
/// child can finish (see process_model.hpp).
bool small_stdout(const HandleModel& h) {
  return h.spec.out == Stdio::pipe &&
         h.spec.own_stdout_bytes() + (h.spec.reads_stdin() ? kInputBudget : 0) <= kSmallOutput;
}
bool small_stderr(const HandleModel& h) {
  return h.spec.err == Stdio::pipe && h.spec.own_stderr_bytes() <= kSmallOutput;
}

// --- commands ------------------------------------------------------------------

/// create_process() with random options.
struct Spawn : ProcCommand {
  int id;
  ChildSpec spec;

  explicit Spawn(const Model& m) : id(m.next_id) {
    RC_PRE(m.handles.size() < kMaxHandles);
    spec.mode = *rc::gen::weightedElement<Mode>({
        {4, Mode::echo},
        {2, Mode::read_some},
        {2, Mode::write_then_echo},
        {3, Mode::spew},
        {3, Mode::exit_code},
        {2, Mode::die_by_signal},
        {2, Mode::sleep_short},
        {3, Mode::sleep_long},
        {2, Mode::ignore_term},
        {1, Mode::ignore_stdin},
        {2, Mode::argv},
        {1, Mode::env},
        {2, Mode::fds},
        {1, Mode::cwd},
        {1, Mode::pgid},
        {2, Mode::daemon},
    });
    const auto stdio = rc::gen::weightedElement<Stdio>({{3, Stdio::pipe}, {1, Stdio::null}});
    spec.in = *stdio;
    spec.out = *stdio;
    spec.err = *stdio;
    spec.new_group = *rc::gen::arbitrary<bool>();
    spec.cwd = *rc::gen::element<std::string>("", "", "/", "/tmp");
    if (*rc::gen::element(0, 1, 2, 3) == 0) {
      const int count = *rc::gen::inRange(1, 4);
      for (int i = 0; i < count; ++i) spec.env[*gen_permitted_env_key()] = *gen_nul_free_bytes(16);
    }
    // Outputs are either small (never block) or large (always block unread).
    const auto out_size = rc::gen::weightedOneOf<long>({
        {3, rc::gen::inRange<long>(0, static_cast<long>(kSmallOutput) + 1)},
        {1, rc::gen::inRange<long>(static_cast<long>(kLargeOutput), 300 * 1024)},
    });
    switch (spec.mode) {
      case Mode::read_some:
        spec.n = *rc::gen::inRange<long>(0, 65);
        break;
      case Mode::write_then_echo:
        spec.n = *rc::gen::inRange<long>(0, static_cast<long>(kSmallOutput - kInputBudget) + 1);
        break;
      case Mode::spew:
        spec.n = *out_size;
        spec.m = *out_size;
        break;
      case Mode::exit_code:
        spec.n = *rc::gen::inRange<long>(0, 256);
        break;
      case Mode::die_by_signal:
        spec.n = *rc::gen::elementOf(fatal_signals());
        break;
      case Mode::sleep_short:
        spec.n = *rc::gen::inRange<long>(0, 31);
        break;
      case Mode::sleep_long:
      case Mode::ignore_term:
        spec.n = kLongSleepMs;
        break;
      case Mode::argv:
        spec.extra_args = *rc::gen::resize(
            6, rc::gen::container<std::vector<std::string>>(gen_nul_free_bytes(32)));
        break;
      case Mode::daemon:
        spec.n = *rc::gen::inRange<long>(50, 201);
        break;
      default:
        break;
    }
    // The environment listing must stay below a pipe's capacity to be
    // predictable; with a huge test environment, ask for descriptors instead.
    if (spec.mode == Mode::env && spec.out == Stdio::pipe &&
        spec.own_stdout_bytes() > kSmallOutput) {
      spec.mode = Mode::fds;
    }
  }

  void checkPreconditions(const Model& m) const override {
    RC_PRE(m.handles.count(id) == 0);
    RC_PRE(m.handles.size() < kMaxHandles);
  }

  void apply(Model& m) const override {
    HandleModel h;
    h.spec = spec;
    h.stdin_open = spec.in == Stdio::pipe;
    h.stdout_open = spec.out == Stdio::pipe;
    h.stderr_open = spec.err == Stdio::pipe;
    m.handles[id] = h;
    m.next_id = std::max(m.next_id, id + 1);
  }

  void run(const Model& m0, Sut& sut) const override {
    std::string tag;
    if (spec.mode == Mode::daemon) {
      tag = new_tag();
      sut.tags.push_back(tag);
    }
    Process p = safeexec::create_process(spec.argv(helper_path(), tag), spec.options());
    PROP_CHECK(p.pid() > 0 && (p.pidfd() >= 0) == kernel_has_pidfd(), fd_state(p));
    PROP_CHECK(p.leads_process_group() == spec.new_group, fd_state(p));
    SutHandle sh;
    sh.pid = p.pid();
    sh.proc.emplace(std::move(p));
    sut.handles.emplace(id, std::move(sh));
    check_agreement(nextState(m0), sut);
  }

  void show(std::ostream& os) const override { os << "spawn #" << id << ": " << spec.show(); }
};

/// A spawn that must be refused: a missing program (absolute or PATH
/// search), a missing cwd, a bad or dangerous env key, a NUL in an argument
/// or an env value, an empty argv; through create_process() or execute().
/// Nothing may be left behind (F05 on the error paths, F01, F02, F11).
struct SpawnFails : ProcCommand {
  enum class Kind {
    missing_abs,
    missing_path,
    missing_cwd,
    bad_key,
    dangerous_key,
    nul_arg,
    nul_value,
    empty_argv
  };
  Kind kind;
  bool via_execute;
  Stdio in, out, err;
  std::string detail;

  SpawnFails() {
    kind =
        *rc::gen::element(Kind::missing_abs, Kind::missing_path, Kind::missing_cwd, Kind::bad_key,
                          Kind::dangerous_key, Kind::nul_arg, Kind::nul_value, Kind::empty_argv);
    via_execute = *rc::gen::arbitrary<bool>();
    const auto stdio = rc::gen::element(Stdio::pipe, Stdio::null);
    in = *stdio;
    out = *stdio;
    err = *stdio;
    switch (kind) {
      case Kind::bad_key:
        detail = *rc::gen::element<std::string>(
            "", "1ABC", "A-B", "A=B", "A B", std::string("A\0B", 3), "\xc3\xa9t\xc3\xa9", "PATH=");
        break;
      case Kind::dangerous_key:
        detail = *rc::gen::element<std::string>("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",
                                                "GCONV_PATH", "BASH_ENV", "ENV", "GLIBC_TUNABLES",
                                                "PYTHONPATH", "NODE_OPTIONS");
        break;
      default:
        break;
    }
  }

  std::vector<std::string> argv() const {
    switch (kind) {
      case Kind::missing_abs:
        return {"/nonexistent-safeexec-dir/no-such-program"};
      case Kind::missing_path:
        return {"safeexec-no-such-program-in-path"};
      case Kind::nul_arg:
        return {helper_path(), "argv", std::string("a\0b", 3)};
      case Kind::empty_argv:
        return {};
      default:
        return {helper_path(), "exit", "0"};
    }
  }

  safeexec::EnvMap env() const {
    if (kind == Kind::bad_key || kind == Kind::dangerous_key) return {{detail, "x"}};
    if (kind == Kind::nul_value) return {{"SAFEEXEC_PROP_VALUE", std::string("a\0b", 3)}};
    return {};
  }

  std::string cwd() const { return kind == Kind::missing_cwd ? "/nonexistent-safeexec-dir" : ""; }

  void run(const Model& m0, Sut& sut) const override {
    const std::set<int> before = open_fds();
    const std::size_t kids = our_children().size();
    bool refused = false;
    try {
      if (via_execute) {
        (void)safeexec::execute(argv(),
                                ExecuteOptions{}
                                    .spawn(safeexec::SpawnOptions{}.addl_env(env()).cwd(cwd()))
                                    .timeout(10s));
      } else {
        safeexec::SpawnOptions o;
        o.stdin_mode(in).stdout_mode(out).stderr_mode(err).addl_env(env()).cwd(cwd());
        Process p = safeexec::create_process(argv(), o);
        RC_FAIL("create_process started a child it should have refused: " + fd_state(p));
      }
    } catch (const safeexec::SpawnError& e) {
      refused = true;
      const bool missing = kind == Kind::missing_abs || kind == Kind::missing_path;
      PROP_CHECK(missing || kind == Kind::missing_cwd, std::string("SpawnError: ") + e.what());
      PROP_CHECK(e.stage() == (missing ? safeexec::SpawnStage::exec : safeexec::SpawnStage::chdir),
                 std::string("stage ") + safeexec::to_string(e.stage()) + ": " + e.what());
      PROP_CHECK(e.error_code() == ENOENT, e.what());
      PROP_CHECK(e.program() == argv().at(0), e.what());
    } catch (const safeexec::InvalidArgument& e) {
      refused = true;
      const bool invalid = kind == Kind::bad_key || kind == Kind::dangerous_key ||
                           kind == Kind::nul_arg || kind == Kind::nul_value ||
                           kind == Kind::empty_argv;
      PROP_CHECK(invalid, std::string("InvalidArgument: ") + e.what());
    }
    PROP_CHECK(refused, "execute() ran a command it should have refused");
    const std::set<int> after = open_fds();
    PROP_CHECK(after == before, "F05: the failed spawn changed the descriptors (" +
                                    show_fd_diff(before, after) + ")");
    PROP_CHECK(our_children().size() == kids, "F05: the failed spawn left a child");
    check_agreement(m0, sut);
  }

  void show(std::ostream& os) const override {
    static const char* names[] = {"missing program (absolute path)",
                                  "missing program (PATH search)",
                                  "missing cwd",
                                  "invalid env key",
                                  "dangerous env key",
                                  "NUL in an argument",
                                  "NUL in an env value",
                                  "empty argv"};
    os << "refused spawn via " << (via_execute ? "execute" : "create_process") << ": "
       << names[static_cast<int>(kind)];
    if (!detail.empty()) os << " " << show_bytes(detail);
    if (!via_execute) {
      os << " (in=" << (in == Stdio::pipe ? "pipe" : "null")
         << " out=" << (out == Stdio::pipe ? "pipe" : "null")
         << " err=" << (err == Stdio::pipe ? "pipe" : "null") << ")";
    }
  }
};

/// write() on the child's stdin pipe (the parent's end is non-blocking).
struct Write : ProcCommand {
  int id;
  std::string bytes;

  explicit Write(const Model& m) {
    id = draw_id(
        m, [](const HandleModel& h) { return h.stdin_open && h.input.size() < kInputBudget; });
    const std::size_t room =
        std::min<std::size_t>(kInputBudget - m.handles.at(id).input.size(), 512);
    const auto n = *rc::gen::inRange<std::size_t>(1, room + 1);
    bytes = *rc::gen::container<std::string>(n, rc::gen::arbitrary<char>());
  }

  void checkPreconditions(const Model& m) const override {
    const auto it = m.handles.find(id);
    RC_PRE(it != m.handles.end());
    RC_PRE(it->second.stdin_open && it->second.input.size() + bytes.size() <= kInputBudget);
  }

  void apply(Model& m) const override { m.handles.at(id).input += bytes; }

  void run(const Model& m0, Sut& sut) const override {
    const HandleModel& h = m0.handles.at(id);
    Process& p = sut.proc(id);
    ssize_t w = -1;
    int error = 0;
    {
      const SigpipeBlock no_sigpipe;
      w = ::write(p.stdin_fd(), bytes.data(), bytes.size());
      error = errno;
    }
    // A live reader with room in the pipe takes all of it (<= PIPE_BUF is
    // atomic). Otherwise the child may have closed its stdin already.
    const bool reader_alive =
        h.spec.reads_stdin() && h.deciding_signals.empty() && !h.reaped &&
        !(h.spec.mode == Mode::read_some && h.input.size() >= static_cast<std::size_t>(h.spec.n));
    const std::string what = "write returned " + std::to_string(w) +
                             (w < 0 ? std::string(" errno ") + strerrorname_np(error) : "");
    if (reader_alive) {
      PROP_CHECK(w == static_cast<ssize_t>(bytes.size()), what);
    } else {
      PROP_CHECK(w == static_cast<ssize_t>(bytes.size()) || (w < 0 && error == EPIPE), what);
    }
    check_agreement(nextState(m0), sut);
  }

  void show(std::ostream& os) const override { os << "write #" << id << " " << show_input(bytes); }
};

/// close_stdin(): the child sees EOF.
struct CloseStdin : ProcCommand {
  int id;
  explicit CloseStdin(const Model& m)
      : id(draw_id(m, [](const HandleModel& h) { return h.stdin_open; })) {}
  void checkPreconditions(const Model& m) const override {
    RC_PRE(m.handles.count(id) != 0 && m.handles.at(id).stdin_open);
  }
  void apply(Model& m) const override { m.handles.at(id).stdin_open = false; }
  void run(const Model& m0, Sut& sut) const override {
    Process& p = sut.proc(id);
    p.close_stdin();
    PROP_CHECK(p.stdin_fd() == -1, fd_state(p));
    check_agreement(nextState(m0), sut);
  }
  void show(std::ostream& os) const override { os << "close_stdin #" << id; }
};

/// Reads what is there (poll 20 ms, one read) from stdout or stderr: it must
/// be the start of what the child writes.
struct Read : ProcCommand {
  int id;
  bool from_stderr;
  std::size_t max;

  explicit Read(const Model& m) {
    id = draw_id(m, [](const HandleModel& h) {
      return (h.stdout_open && small_stdout(h)) || (h.stderr_open && small_stderr(h));
    });
    const HandleModel& h = m.handles.at(id);
    const bool can_out = h.stdout_open && small_stdout(h);
    const bool can_err = h.stderr_open && small_stderr(h);
    from_stderr = can_out && can_err ? *rc::gen::arbitrary<bool>() : can_err;
    max = *rc::gen::element<std::size_t>(1, 7, 100, 4096);
  }

  void checkPreconditions(const Model& m) const override {
    const auto it = m.handles.find(id);
    RC_PRE(it != m.handles.end());
    const HandleModel& h = it->second;
    const bool readable =
        from_stderr ? (h.stderr_open && small_stderr(h)) : (h.stdout_open && small_stdout(h));
    RC_PRE(readable);
  }

  void run(const Model& m0, Sut& sut) const override {
    const HandleModel& h = m0.handles.at(id);
    SutHandle& sh = sut.handles.at(id);
    const int fd = from_stderr ? sh.proc->stderr_fd() : sh.proc->stdout_fd();
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 20) > 0) {
      std::string buf(max, '\0');
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      PROP_CHECK(n >= 0, std::string("read failed: ") + strerrorname_np(errno));
      (from_stderr ? sh.err_seen : sh.out_seen).append(buf.data(), static_cast<std::size_t>(n));
    }
    if (h.spec.mode != Mode::env) {
      const std::optional<std::string> want =
          from_stderr ? std::optional<std::string>(h.expected_stderr())
                      : h.expected_stdout(sh.pid, sut.parent_pgid, sut.parent_cwd);
      const std::string& seen = from_stderr ? sh.err_seen : sh.out_seen;
      if (want) {
        PROP_CHECK(starts_with(*want, seen),
                   "read " + show_bytes(seen) + ", not a prefix of " + show_bytes(*want));
      }
    }
    check_agreement(m0, sut);
  }

  void show(std::ostream& os) const override {
    os << "read #" << id << " " << (from_stderr ? "stderr" : "stdout") << " up to " << max;
  }
};

/// communicate(input, deadline): all the output and the status when the
/// child can end; TimeoutError (child left as it is) when it cannot.
struct Communicate : ProcCommand {
  int id;
  std::string input;

  explicit Communicate(const Model& m) {
    id = draw_id(m, any_handle);
    const HandleModel& h = m.handles.at(id);
    if (h.stdin_open && h.input.size() < kInputBudget && *rc::gen::arbitrary<bool>()) {
      const std::size_t room = std::min<std::size_t>(kInputBudget - h.input.size(), 512);
      const auto n = *rc::gen::inRange<std::size_t>(1, room + 1);
      input = *rc::gen::container<std::string>(n, rc::gen::arbitrary<char>());
    }
  }

  void checkPreconditions(const Model& m) const override {
    const auto it = m.handles.find(id);
    RC_PRE(it != m.handles.end());
    RC_PRE(input.empty() ||
           (it->second.stdin_open && it->second.input.size() + input.size() <= kInputBudget));
  }

  void apply(Model& m) const override {
    HandleModel& h = m.handles.at(id);
    const bool completes = h.ends_with_communicate();
    h.input += input;
    h.stdin_open = false;  // written in full and closed (or closed at once)
    if (completes) {
      h.stdout_open = false;
      h.stderr_open = false;
      h.reaped = true;
      h.consumed = true;
    }
  }

  void run(const Model& m0, Sut& sut) const override {
    const HandleModel& h0 = m0.handles.at(id);
    const Model m1 = nextState(m0);
    const HandleModel& h1 = m1.handles.at(id);
    SutHandle& sh = sut.handles.at(id);
    Process& p = *sh.proc;
    if (h0.ends_with_communicate()) {
      const safeexec::Output o = p.communicate(input, safeexec::deadline_after(10s));
      const ExitStatus st = p.status();
      PROP_CHECK(!st.running(), fd_state(p));
      check_status(h1, st, "communicate");
      if (sh.final_status) PROP_CHECK(st == *sh.final_status, "status changed after reaping");
      sh.final_status = st;
      if (!h0.stdout_open) PROP_CHECK(o.out.empty(), "stdout from a closed pipe");
      if (!h0.stderr_open) PROP_CHECK(o.err.empty(), "stderr from a closed pipe");
      sh.out_seen += o.out;
      sh.err_seen += o.err;
      if (!h0.consumed) {
        check_output(h1, st, h1.expected_stdout(sh.pid, sut.parent_pgid, sut.parent_cwd),
                     sh.out_seen, "stdout");
        check_output(h1, st, h1.expected_stderr(), sh.err_seen, "stderr");
      }
    } else {
      bool timed_out = false;
      try {
        (void)p.communicate(input, safeexec::deadline_after(20ms));
      } catch (const safeexec::TimeoutError&) {
        timed_out = true;
      }
      PROP_CHECK(timed_out, "communicate returned although the child cannot end: " + fd_state(p));
      PROP_CHECK(p.status().running(), fd_state(p));
    }
    check_agreement(m1, sut);
  }

  void show(std::ostream& os) const override {
    os << "communicate #" << id;
    if (!input.empty()) os << " input " << show_input(input);
  }
};

/// wait_until / try_wait: the status when the child ends unaided, nothing
/// when it cannot end (it waits for stdin, or sleeps "forever").
struct Wait : ProcCommand {
  int id;
  bool polling;  // try_wait() in a loop rather than wait_until()

  explicit Wait(const Model& m)
      : id(draw_id(m, any_handle)), polling(*rc::gen::arbitrary<bool>()) {}

  void checkPreconditions(const Model& m) const override { RC_PRE(m.handles.count(id) != 0); }

  void apply(Model& m) const override {
    HandleModel& h = m.handles.at(id);
    if (!h.reaped && h.ends_unaided()) h.reaped = true;
  }

  void run(const Model& m0, Sut& sut) const override {
    const HandleModel& h0 = m0.handles.at(id);
    const Model m1 = nextState(m0);
    SutHandle& sh = sut.handles.at(id);
    Process& p = *sh.proc;
    if (h0.reaped) {
      const std::optional<ExitStatus> st =
          polling ? p.try_wait() : p.wait_until(safeexec::deadline_after(1s));
      PROP_CHECK(st && sh.final_status && *st == *sh.final_status,
                 "a reaped status must not change");
      PROP_CHECK(p.wait() == *sh.final_status, "wait() after reaping");
    } else if (h0.ends_unaided()) {
      std::optional<ExitStatus> st;
      const auto deadline = safeexec::deadline_after(10s);
      if (polling) {
        while (!(st = p.try_wait()) && safeexec::Clock::now() < deadline) {
          std::this_thread::sleep_for(1ms);
        }
      } else {
        st = p.wait_until(deadline);
      }
      PROP_CHECK(st.has_value(), "the child did not end within 10 s: " + fd_state(p));
      check_status(m1.handles.at(id), *st, "wait");
      sh.final_status = st;
    } else {
      const std::optional<ExitStatus> st =
          polling ? p.try_wait() : p.wait_until(safeexec::deadline_after(10ms));
      PROP_CHECK(!st.has_value(), "the child ended although it cannot: " + st->str());
    }
    check_agreement(m1, sut);
  }

  void show(std::ostream& os) const override {
    os << (polling ? "try_wait #" : "wait_until #") << id;
  }
};

/// send_signal / signal_group with a signal that kills by default.
struct Signal : ProcCommand {
  int id;
  int sig;
  bool group;

  explicit Signal(const Model& m) : id(draw_id(m, any_handle)) {
    sig = *rc::gen::elementOf(fatal_signals());
    group = *rc::gen::arbitrary<bool>();
  }

  /// SIGTERM to a child that is about to ignore it races with its startup.
  static bool racy(const HandleModel& h, int s) {
    return h.spec.mode == Mode::ignore_term && s == SIGTERM && !h.reaped &&
           h.deciding_signals.empty();
  }

  void checkPreconditions(const Model& m) const override {
    const auto it = m.handles.find(id);
    RC_PRE(it != m.handles.end());
    RC_PRE(!racy(it->second, sig));
  }

  void apply(Model& m) const override {
    HandleModel& h = m.handles.at(id);
    if (!h.reaped && h.deciding_signals.empty()) {
      h.natural_possible = h.ends_unaided();
      h.deciding_signals = {sig};
    }
  }

  void run(const Model& m0, Sut& sut) const override {
    const HandleModel& h0 = m0.handles.at(id);
    Process& p = sut.proc(id);
    const KillOutcome got = group ? p.signal_group(sig) : p.send_signal(sig);
    // A reaped child is gone; a running one gets the signal; one that may
    // have exited by now (on its own, or by an earlier fatal signal) and is
    // not reaped yet is either, since signals to an exited child say gone
    // (issue 18 item 5, H22).
    const bool may_have_exited = h0.ends_unaided() || !h0.deciding_signals.empty();
    const bool ok =
        h0.reaped ? got == KillOutcome::gone : got == KillOutcome::delivered || may_have_exited;
    PROP_CHECK(ok, std::string("outcome ") + (got == KillOutcome::gone ? "gone" : "delivered") +
                       " for " + fd_state(p));
    check_agreement(nextState(m0), sut);
  }

  void show(std::ostream& os) const override {
    os << (group ? "signal_group #" : "send_signal #") << id << " " << signal_name(sig);
  }
};

/// terminate(grace): SIGTERM, grace, SIGKILL; reaps.
struct Terminate : ProcCommand {
  int id;
  int grace_ms;

  explicit Terminate(const Model& m)
      : id(draw_id(m, any_handle)), grace_ms(*rc::gen::element(1, 10, 50)) {}

  void checkPreconditions(const Model& m) const override { RC_PRE(m.handles.count(id) != 0); }

  void apply(Model& m) const override {
    HandleModel& h = m.handles.at(id);
    if (h.reaped) return;
    if (h.deciding_signals.empty()) {
      h.natural_possible = h.ends_unaided();
      h.deciding_signals = {SIGTERM};
      if (h.spec.mode == Mode::ignore_term) h.deciding_signals.insert(SIGKILL);
    }
    h.reaped = true;
  }

  void run(const Model& m0, Sut& sut) const override {
    const HandleModel& h0 = m0.handles.at(id);
    const Model m1 = nextState(m0);
    SutHandle& sh = sut.handles.at(id);
    const ExitStatus st = sh.proc->terminate(std::chrono::milliseconds(grace_ms));
    if (h0.reaped) {
      PROP_CHECK(sh.final_status && st == *sh.final_status, "terminate changed a reaped status");
    } else {
      check_status(m1.handles.at(id), st, "terminate");
      sh.final_status = st;
    }
    check_agreement(m1, sut);
  }

  void show(std::ostream& os) const override {
    os << "terminate #" << id << " grace " << grace_ms << " ms";
  }
};

/// Moves a handle: into a new handle, onto another live handle (whose child
/// must then be killed and reaped), or onto itself (a no-op).
struct Move : ProcCommand {
  enum class Kind { construct, assign, self };
  Kind kind;
  int from;
  int to;

  explicit Move(const Model& m) : from(draw_id(m, any_handle)) {
    kind = *rc::gen::element(Kind::construct, Kind::assign, Kind::self);
    if (kind == Kind::construct) {
      to = m.next_id;
    } else if (kind == Kind::assign) {
      const int source = from;
      to = draw_id(m, [&m, source](const HandleModel& h) { return &h != &m.handles.at(source); });
    } else {
      to = from;
    }
  }

  void checkPreconditions(const Model& m) const override {
    RC_PRE(m.handles.count(from) != 0);
    if (kind == Kind::construct) RC_PRE(m.handles.count(to) == 0);
    if (kind == Kind::assign) RC_PRE(m.handles.count(to) != 0 && to != from);
  }

  void apply(Model& m) const override {
    if (kind == Kind::self) return;
    m.handles[to] = m.handles.at(from);
    m.handles.erase(from);
    m.next_id = std::max(m.next_id, to + 1);
  }

  static void check_moved_from(const Process& p) {
    PROP_CHECK(p.pid() == -1 && p.pidfd() == -1 && p.stdin_fd() == -1 && p.stdout_fd() == -1 &&
                   p.stderr_fd() == -1,
               "moved-from handle still owns something: " + fd_state(p));
  }

  void run(const Model& m0, Sut& sut) const override {
    SutHandle& src = sut.handles.at(from);
    const std::string before = fd_state(*src.proc);
    if (kind == Kind::self) {
      Process& alias = *src.proc;
      *src.proc = std::move(alias);
      PROP_CHECK(fd_state(*src.proc) == before, "self-move changed " + before);
    } else if (kind == Kind::construct) {
      SutHandle dst;
      dst.proc.emplace(std::move(*src.proc));
      check_moved_from(*src.proc);
      PROP_CHECK(fd_state(*dst.proc) == before, "moved: " + fd_state(*dst.proc) + " vs " + before);
      dst.pid = src.pid;
      dst.out_seen = src.out_seen;
      dst.err_seen = src.err_seen;
      dst.final_status = src.final_status;
      sut.handles.erase(from);
      sut.handles.emplace(to, std::move(dst));
    } else {
      SutHandle& victim = sut.handles.at(to);
      const pid_t victim_pid = victim.proc->pid();
      const bool victim_unreaped = !m0.handles.at(to).reaped;
      *victim.proc = std::move(*src.proc);
      check_moved_from(*src.proc);
      PROP_CHECK(fd_state(*victim.proc) == before,
                 "assigned: " + fd_state(*victim.proc) + " vs " + before);
      if (victim_unreaped) {
        PROP_CHECK(!is_our_unreaped_child(victim_pid), "F05: the overwritten handle's child " +
                                                           std::to_string(victim_pid) +
                                                           " was not reaped");
      }
      victim.pid = src.pid;
      victim.out_seen = src.out_seen;
      victim.err_seen = src.err_seen;
      victim.final_status = src.final_status;
      sut.handles.erase(from);
    }
    check_agreement(nextState(m0), sut);
  }

  void show(std::ostream& os) const override {
    switch (kind) {
      case Kind::construct:
        os << "move #" << from << " into new handle #" << to;
        break;
      case Kind::assign:
        os << "move-assign #" << from << " onto live handle #" << to;
        break;
      case Kind::self:
        os << "self-move-assign #" << from;
        break;
    }
  }
};

/// Drops a handle, live or not: its child must be killed and reaped, its
/// descriptors closed.
struct Destroy : ProcCommand {
  int id;
  explicit Destroy(const Model& m) : id(draw_id(m, any_handle)) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.handles.count(id) != 0); }
  void apply(Model& m) const override { m.handles.erase(id); }
  void run(const Model& m0, Sut& sut) const override {
    const bool unreaped = !m0.handles.at(id).reaped;
    const pid_t pid = sut.handles.at(id).pid;
    sut.handles.erase(id);
    if (unreaped) {
      PROP_CHECK(!is_our_unreaped_child(pid),
                 "F05: destroying the handle left child " + std::to_string(pid) + " unreaped");
    }
    check_agreement(nextState(m0), sut);
  }
  void show(std::ostream& os) const override { os << "destroy #" << id; }
};

/// execute() to completion: exit codes against check_exit_code and
/// extra_ok_codes, death by signal, input round trip, output limits,
/// timeouts (SIGTERM ignored too), a daemonising grandchild.
struct Execute : ProcCommand {
  Mode mode;
  long n = 0;
  long m = 0;
  bool check = true;
  std::set<int> ok_codes;
  std::string input;
  std::optional<int> timeout_ms;
  int grace_ms = 1000;
  std::optional<std::size_t> max_output;

  Execute() {
    mode = *rc::gen::weightedElement<Mode>({{4, Mode::exit_code},
                                            {2, Mode::die_by_signal},
                                            {2, Mode::echo},
                                            {1, Mode::write_then_echo},
                                            {2, Mode::spew},
                                            {1, Mode::sleep_long},
                                            {1, Mode::ignore_term},
                                            {1, Mode::daemon},
                                            {1, Mode::fds}});
    check = *rc::gen::weightedElement<bool>({{3, true}, {1, false}});
    ok_codes = *rc::gen::resize(4, rc::gen::container<std::set<int>>(rc::gen::inRange(1, 7)));
    switch (mode) {
      case Mode::exit_code:
        n = *rc::gen::inRange<long>(0, 7);
        break;
      case Mode::die_by_signal:
        n = *rc::gen::elementOf(fatal_signals());
        break;
      case Mode::echo:
      case Mode::write_then_echo: {
        if (mode == Mode::write_then_echo) {
          n = *rc::gen::element<long>(0, 4096, 65536, 65537, 200000);
        }
        const std::size_t size = *gen_pipe_edge_size(256 * 1024);
        input = make_bytes(size, *rc::gen::arbitrary<std::uint64_t>(),
                           *rc::gen::element(0, 1, 2, 3, 4));
        break;
      }
      case Mode::spew: {
        const auto size = rc::gen::element<long>(0, 1, 4096, 65536, 65537, 200000);
        n = *size;
        m = *size;
        if (*rc::gen::arbitrary<bool>()) {
          max_output = *rc::gen::element<std::size_t>(0, 100, 4096, 65536);
        }
        break;
      }
      case Mode::sleep_long:
      case Mode::ignore_term:
        n = kLongSleepMs;
        timeout_ms = *rc::gen::inRange(5, 51);
        grace_ms = *rc::gen::inRange(5, 51);
        break;
      case Mode::daemon:
        n = *rc::gen::inRange<long>(50, 201);
        grace_ms = *rc::gen::inRange(5, 51);
        break;
      default:
        break;
    }
  }

  ExecuteOptions options() const {
    ExecuteOptions o;
    o.process_input(input).check_exit_code(check).extra_ok_codes(ok_codes).kill_grace(
        std::chrono::milliseconds(grace_ms));
    o.timeout(std::chrono::milliseconds(timeout_ms ? *timeout_ms : 30000));
    if (max_output) o.max_output_bytes(*max_output);
    return o;
  }

  void run(const Model& m0, Sut& sut) const override {
    ChildSpec spec;
    spec.mode = mode;
    spec.n = n;
    spec.m = m;
    std::string tag;
    if (mode == Mode::daemon) {
      tag = new_tag();
      sut.tags.push_back(tag);
    }
    const std::vector<std::string> argv = spec.argv(helper_path(), tag);
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&start] { return std::chrono::steady_clock::now() - start; };
    const auto ms = [](auto d) {
      return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) +
             " ms";
    };
    switch (mode) {
      case Mode::exit_code:
      case Mode::die_by_signal: {
        const ExitStatus want = mode == Mode::exit_code ? ExitStatus::exited(static_cast<int>(n))
                                                        : ExitStatus::signaled(static_cast<int>(n));
        const bool accepted =
            !check || (mode == Mode::exit_code && (n == 0 || ok_codes.count(static_cast<int>(n))));
        try {
          const safeexec::ExecuteResult r = safeexec::execute(argv, options());
          PROP_CHECK(accepted, "returned " + r.status.str() + " instead of throwing");
          PROP_CHECK(r.status == want, r.status.str());
        } catch (const safeexec::ProcessExecutionError& e) {
          PROP_CHECK(!accepted, std::string("threw for an accepted status: ") + e.what());
          PROP_CHECK(e.status() == want && e.exit_code() == want.exit_code(), e.what());
        }
        break;
      }
      case Mode::echo:
      case Mode::write_then_echo: {
        const safeexec::ExecuteResult r = safeexec::execute(argv, options());
        const std::string pattern = helper_pattern(static_cast<std::size_t>(n));
        PROP_CHECK(r.status.success(), r.status.str());
        PROP_CHECK(r.out == pattern + input, "F09: stdout " + show_bytes(r.out) + " (" +
                                                 std::to_string(r.out.size()) + " bytes)");
        PROP_CHECK(r.err == pattern, "stderr " + show_bytes(r.err));
        break;
      }
      case Mode::spew: {
        const bool over = max_output && (static_cast<std::size_t>(n) > *max_output ||
                                         static_cast<std::size_t>(m) > *max_output);
        try {
          const safeexec::ExecuteResult r = safeexec::execute(argv, options());
          PROP_CHECK(!over, "returned although a stream passed max_output_bytes");
          PROP_CHECK(r.out == helper_pattern(static_cast<std::size_t>(n)),
                     "stdout size " + std::to_string(r.out.size()));
          PROP_CHECK(r.err == helper_pattern(static_cast<std::size_t>(m)),
                     "stderr size " + std::to_string(r.err.size()));
        } catch (const safeexec::OutputLimitError& e) {
          PROP_CHECK(over, std::string("OutputLimitError within the limit: ") + e.what());
          PROP_CHECK(e.limit() == *max_output, e.what());
          const long size = e.stream() == "stdout" ? n : m;
          PROP_CHECK(static_cast<std::size_t>(size) > *max_output, e.what());
        }
        break;
      }
      case Mode::sleep_long:
      case Mode::ignore_term: {
        bool timed_out = false;
        try {
          (void)safeexec::execute(argv, options());
        } catch (const safeexec::TimeoutError& e) {
          timed_out = true;
          PROP_CHECK(e.timeout() == std::chrono::milliseconds(*timeout_ms), e.what());
        }
        PROP_CHECK(timed_out, "no TimeoutError");
        const auto bound = std::chrono::milliseconds(*timeout_ms + grace_ms) + timing_slack();
        PROP_CHECK(elapsed() <= bound, "F14: took " + ms(elapsed()) + ", bound " + ms(bound));
        break;
      }
      case Mode::daemon: {
        const safeexec::ExecuteResult r = safeexec::execute(argv, options());
        PROP_CHECK(r.status.success() && r.out.empty() && r.err.empty(), r.status.str());
        const auto bound = std::chrono::milliseconds(grace_ms) + timing_slack();
        PROP_CHECK(elapsed() <= bound, "F14: a grandchild holding the pipes delayed execute(): " +
                                           ms(elapsed()) + ", bound " + ms(bound));
        break;
      }
      case Mode::fds: {
        const safeexec::ExecuteResult r = safeexec::execute(argv, options());
        PROP_CHECK(r.out == "0 1 2\n", "F06: the child had " + show_bytes(r.out) + " open");
        break;
      }
      default:
        RC_FAIL("unexpected execute mode");
    }
    check_agreement(m0, sut);
  }

  void show(std::ostream& os) const override {
    ChildSpec spec;
    spec.mode = mode;
    spec.n = n;
    spec.m = m;
    os << "execute " << to_string(mode);
    if (mode != Mode::echo && mode != Mode::fds) os << " " << n;
    if (mode == Mode::spew) os << " " << m;
    os << " check_exit_code=" << check << " extra_ok_codes={";
    bool first = true;
    for (const int c : ok_codes) {
      os << (first ? "" : ",") << c;
      first = false;
    }
    os << "} timeout=" << (timeout_ms ? *timeout_ms : 30000) << "ms kill_grace=" << grace_ms
       << "ms";
    if (max_output) os << " max_output_bytes=" << *max_output;
    if (!input.empty()) os << " input " << show_input(input);
  }
};

SAFEEXEC_PROP(ProcessModel, F05_F06_AnySequenceLeavesNoDescriptorAndNoChild) {
  const LogCapture quiet;  // failure paths log at error level on purpose
  LeakGuard leaks;
  {
    Sut sut;
    rc::state::check(Model{}, sut,
                     rc::state::gen::execOneOfWithArgs<Spawn, Spawn, SpawnFails, Write, CloseStdin,
                                                       Read, Communicate, Communicate, Wait, Signal,
                                                       Terminate, Move, Destroy, Execute>());
    sut.handles.clear();
    // Daemonised grandchildren are init's now; wait for them (they sleep at
    // most 200 ms) so that nothing outlives the case.
    for (const std::string& tag : sut.tags) (void)drain_tagged(tag, 3s);
    sut.tags.clear();
  }
  leaks.verify("F05 (after the whole sequence)");
}

}  // namespace
}  // namespace safeexec_props
