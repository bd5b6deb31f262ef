// containment_props.cpp - with a cgroup leaf nothing a command started
// survives (issue 19).
//
// For any child of the zoo that leaves processes behind (a setsid +
// double-fork daemon that outlives its leader, a setsid'd job, a background
// job in the group, a writer that forks, a plain sleeper, and - where the
// pids controller exists - a fork bomb under pids.max), with or without a
// timeout, and either way of ending (execute() returning or throwing; a
// Process handle destroyed after a random pause, or terminate()d first):
//   K1 once execute() has returned or thrown, or the handle is destroyed,
//      no process carrying the case's tag is alive (a forked grandchild keeps
//      its parent's argv, so the tag finds escapees reparented to init);
//   K2 no leaf is left under the property's parent cgroup;
//   K3 no descriptor and no child of ours is left (LeakGuard).
// Without a cgroup, the weaker guarantee README documents (K4): once a kill
// ended the command (a timeout, the output limit, pipes cut after the
// linger, terminate(), the destructor of an unwaited handle that has
// new_process_group(true), as execute() always does), no process of its
// process group is alive; a survivor may only be one that left our
// session (setsid) - the property kills those itself.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "prop_gtest.hpp"
#include "safeexec/safeexec.hpp"
#include "support.hpp"
#include "support/cgroup_fixture.hpp"
#include "support/child_census.hpp"

namespace safeexec_props {
namespace {

using namespace std::chrono_literals;

/// The property's own v2 parent (made once, removed at exit), or empty.
const std::string& property_parent() {
  // Never freed: the atexit handler runs after function-local statics that
  // were still being constructed when it was registered are gone.
  static const std::string* const dir = [] {
    const std::string mount = safeexec_test::test_cgroup2_mount();
    if (mount.empty()) return new std::string();
    auto* d = new std::string(mount + "/safeexec-prop-" + std::to_string(::getpid()));
    if (::mkdir(d->c_str(), 0755) != 0) {
      d->clear();
      return d;
    }
    std::atexit([] { safeexec_test::force_remove_cgroup(property_parent()); });
    return d;
  }();
  return *dir;
}

/// pids.max can be enabled under the property's parent (the fork bomb may run).
bool pids_controller() {
  static const bool on = [] {
    const std::string& parent = property_parent();
    if (parent.empty()) return false;
    std::ofstream(parent + "/cgroup.subtree_control") << "+pids";
    return safeexec_test::read_text(parent + "/cgroup.subtree_control").find("pids") !=
           std::string::npos;
  }();
  return on;
}

enum Kind { escape, setsid_job, background, writer, sleeper, fork_bomb, kind_count };

/// `leader_ms`: how long a leader that does not end by itself lives.
std::vector<std::string> zoo_argv(int kind, const std::string& tag, int leader_ms) {
  const std::string file = "/tmp/" + tag + ".pid";
  const std::string leader = std::to_string(leader_ms);
  switch (kind) {
    case escape:
      return {helper_path(), "zoo-escape", leader, "30000", file, tag};
    case setsid_job:
      return {helper_path(), "zoo-setsid", "30000", file, tag};
    case background:
      return {helper_path(), "zoo-background", "30000", tag};
    case writer:
      return {helper_path(), "zoo-yes", tag};
    case fork_bomb:  // only under pids.max (and the helper refuses without it)
      return {helper_path(), "zoo-forkbomb", leader, tag};
    default:
      return {helper_path(), "sleep", leader, tag};
  }
}

/// A case's shape: child, timeout (none: every leader ends by itself, soon),
/// and how the command ends.
struct Case {
  int kind;
  bool through_execute;
  std::optional<int> timeout_ms;
  int leader_ms;
  int pause_ms;
  bool terminate_first;
};

Case gen_case(bool bomb_allowed) {
  Case c{};
  c.kind = *rc::gen::inRange(
      0, bomb_allowed ? static_cast<int>(kind_count) : static_cast<int>(fork_bomb));
  c.through_execute = *rc::gen::arbitrary<bool>();
  if (*rc::gen::arbitrary<bool>()) c.timeout_ms = *rc::gen::inRange(50, 600);
  // Without a timeout execute() waits for the leader: keep it short then.
  const bool long_leader = (c.timeout_ms || !c.through_execute) && *rc::gen::arbitrary<bool>();
  c.leader_ms = long_leader ? 30000 : *rc::gen::inRange(0, 300);
  c.pause_ms = *rc::gen::inRange(0, 300);
  c.terminate_first = *rc::gen::arbitrary<bool>();
  return c;
}

enum class End { result, result_cut, killed };

/// Runs the case to its end; how it ended.
End run_case(const Case& c, const std::string& tag, const safeexec::SpawnOptions& spawn) {
  if (c.through_execute) {
    safeexec::ExecuteOptions o =
        safeexec::ExecuteOptions{}.kill_grace(100ms).max_output_bytes(1 << 20).spawn(spawn);
    if (c.timeout_ms) o.timeout(std::chrono::milliseconds(*c.timeout_ms));
    try {
      const safeexec::ExecuteResult r = safeexec::execute(zoo_argv(c.kind, tag, c.leader_ms), o);
      return r.output_cut ? End::result_cut : End::result;
    } catch (const safeexec::ProcessExecutionError&) {  // a non-zero exit: it ended itself
      return End::result;
    } catch (const safeexec::Error&) {  // timeout, output limit: both kill the command
      return End::killed;
    }
  }
  safeexec::Process p =
      safeexec::create_process(zoo_argv(c.kind, tag, c.leader_ms),
                               safeexec::SpawnOptions(spawn).stdout_mode(safeexec::Stdio::null));
  std::this_thread::sleep_for(std::chrono::milliseconds(c.pause_ms));
  if (c.terminate_first) (void)p.terminate(50ms);
  return End::killed;  // terminate(), or the destructor of a handle never waited for
}

std::string describe(const Case& c) {
  return "kind " + std::to_string(c.kind) + (c.through_execute ? " execute" : " handle") +
         (c.timeout_ms ? " timeout " + std::to_string(*c.timeout_ms) + " ms" : " no timeout") +
         " leader " + std::to_string(c.leader_ms) + " ms";
}

SAFEEXEC_PROP(Containment, K1_NothingTheCommandStartedSurvives) {
  if (property_parent().empty()) {
    RC_DISCARD("no writable cgroup v2 hierarchy here");
  }
  const Case c = gen_case(pids_controller());
  RC_LOG() << describe(c) << "\n";
  const std::string tag = new_tag();
  safeexec::CgroupOptions leaf = safeexec::CgroupOptions{}.parent(property_parent());
  if (c.kind == fork_bomb) leaf.pids_max(32);
  const safeexec::SpawnOptions spawn =
      safeexec::SpawnOptions{}.containment(safeexec::Containment{}.cgroup(leaf));
  {
    const LeakGuard guard;
    (void)run_case(c, tag, spawn);
    const std::vector<pid_t> alive = live_tagged(tag);
    (void)drain_tagged(tag, 0ms);  // a failing case must not poison the next
    (void)::unlink(("/tmp/" + tag + ".pid").c_str());
    RC_ASSERT(alive.empty());
    RC_ASSERT(safeexec_test::subdirs_with_prefix(property_parent(), "safeexec-").empty());
  }
}

/// The session of `pid` from /proc/<pid>/stat (field 6), or 0.
pid_t session_of(pid_t pid) {
  std::ifstream in(safeexec_test_support::proc_path("/" + std::to_string(pid) + "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 1));
  char state = 0;
  long ppid = 0;
  long pgrp = 0;
  long session = 0;
  fields >> state >> ppid >> pgrp >> session;
  return static_cast<pid_t>(session);
}

SAFEEXEC_PROP(Containment, K4_WithoutACgroupOnlyASetsidEscapeeOutlivesAKill) {
  Case c = gen_case(false);
  RC_LOG() << describe(c) << "\n";
  const std::string tag = new_tag();
  const pid_t our_session = ::getsid(0);
  {
    const LeakGuard guard;
    // A handle's group is its own only when asked for (execute() always asks).
    const End end = run_case(c, tag, safeexec::SpawnOptions{}.new_process_group(true));
    std::vector<pid_t> in_our_session;
    if (end != End::result) {
      // SIGKILL is delivered at once, but a process takes a moment to die.
      const auto settle = std::chrono::steady_clock::now() + 1s;
      do {
        in_our_session.clear();
        for (const pid_t p : live_tagged(tag)) {
          const pid_t sid = session_of(p);
          if (sid == our_session) in_our_session.push_back(p);
        }
        if (in_our_session.empty()) break;
        std::this_thread::sleep_for(5ms);
      } while (std::chrono::steady_clock::now() < settle);
    }
    (void)drain_tagged(tag, 0ms);  // the escapees too: the property cleans up after itself
    (void)::unlink(("/tmp/" + tag + ".pid").c_str());
    RC_ASSERT(in_our_session.empty());
  }
}

}  // namespace
}  // namespace safeexec_props
