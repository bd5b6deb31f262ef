// containment_helpers.hpp - what the containment tests share (issue 19): the
// helper's contain-info report, the zoo daemon's pid file, a guard that kills
// an escapee a failing test left alive, and enabling a controller for the
// test parent (or saying why it cannot be).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "safeexec/containment.hpp"
#include "safeexec/process.hpp"
#include "support/cgroup_fixture.hpp"
#include "test_child.hpp"

namespace safeexec_test {

/// contain-info's key=value lines.
inline std::map<std::string, std::string> parse_info(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

/// What contain-info reports when started with `options`.
inline std::map<std::string, std::string> info_of(const safeexec::SpawnOptions& options) {
  using namespace std::chrono_literals;
  safeexec::Process p = safeexec::create_process(child_cmd({"contain-info"}),
                                                 safeexec::SpawnOptions(options).stdout_pipe());
  const safeexec::Output out = p.communicate({}, safeexec::deadline_after(10s));
  EXPECT_EQ(p.wait().exit_code(), 0);
  return parse_info(out.out);
}

/// The pid a zoo-escape daemon wrote, once it has (0 if it never did).
inline pid_t wait_for_pidfile(const std::string& path) {
  pid_t pid = 0;
  (void)eventually([&] {
    std::ifstream in(path);
    return static_cast<bool>(in >> pid);
  });
  return pid;
}

/// True while `pid` exists and is not a zombie.
inline bool alive(pid_t pid) {
  const char st = proc_state(pid);
  return st != '\0' && st != 'Z';
}

/// Kills a daemon a failing test left alive, so it cannot outlive the test.
struct KillOnExit {
  pid_t pid = 0;
  KillOnExit() = default;
  KillOnExit(const KillOnExit&) = delete;
  KillOnExit& operator=(const KillOnExit&) = delete;
  ~KillOnExit() {
    if (pid > 0 && alive(pid)) (void)::kill(pid, SIGKILL);
  }
};

inline std::string pidfile(const char* what) {
  return "/tmp/" + unique_token(what) + ".pid";
}

/// Enables `controller` for the test parent's children, or says why not.
inline std::string enable_controller(const std::string& parent, const std::string& controller) {
  std::ofstream(parent + "/cgroup.subtree_control") << "+" << controller;
  if (read_text(parent + "/cgroup.subtree_control").find(controller) != std::string::npos) {
    return {};
  }
  const std::string above = parent.substr(0, parent.rfind('/'));
  return "the " + controller + " controller is not available in cgroup v2 here (" + above +
         "/cgroup.controllers: \"" + read_text(above + "/cgroup.controllers") +
         "\"; it is bound to a v1 hierarchy): this limit cannot be applied on this machine";
}

/// A test with a cgroup v2 parent of its own (CgroupChecked) and leaves under it.
class LeafTest : public CgroupChecked {
 protected:
  /// SpawnOptions that put the child in a fresh leaf under the test's parent.
  safeexec::SpawnOptions in_leaf() const {
    return safeexec::SpawnOptions{}.containment(
        safeexec::Containment{}.cgroup(safeexec::CgroupOptions{}.parent(parent())));
  }
  /// A zoo-escape command whose daemon writes `file`; `*daemon` gets its pid
  /// (0 if it never wrote it).
  safeexec::Process start_daemon(const std::string& file, pid_t* daemon) const {
    safeexec::Process p =
        safeexec::create_process(child_cmd({"zoo-escape", "60000", "60000", file}), in_leaf());
    *daemon = wait_for_pidfile(file);
    return p;
  }
};

}  // namespace safeexec_test
