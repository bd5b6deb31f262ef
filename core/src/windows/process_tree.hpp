// process_tree.hpp (Windows) - other processes seen from outside: their
// command lines (from their process parameters) and their children (a
// Toolhelp snapshot, checked by creation time). Used by read_cmdline and
// get_root_helper_child_pid.
#pragma once

#include <windows.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "win_util.hpp"

namespace safeexec::detail::win {

/// What a Toolhelp snapshot says of one process: its id and the id its
/// creator had.
struct ProcessEntry {
  DWORD pid = 0;
  DWORD parent = 0;
};

/// Every process in the system now; empty when the snapshot fails.
std::vector<ProcessEntry> snapshot_processes();

/// A process opened for reading, with its creation time (FILETIME ticks).
struct OpenedProcess {
  DWORD pid = 0;
  std::uint64_t created = 0;
  UniqueHandle handle;
};

/// Opens `pid` to read its command line; nullopt when it is gone, has
/// exited, or cannot be opened.
std::optional<OpenedProcess> open_for_reading(DWORD pid);

/// The command line of an opened process, split by the CommandLineToArgvW
/// rules; nullopt when it cannot be read (exited, protected, not UTF-16).
std::optional<std::vector<std::string>> read_command_line(HANDLE process);

/// The children of `parent` in `snapshot`, each opened with `open_child` (a DWORD
/// -> std::optional<Node>; Node has pid and created). A snapshot's parent
/// ids are only numbers: Windows keeps the id of a creator that has exited,
/// and gives that id to the next process - so an entry can name `parent`
/// while it is the orphan of an earlier process with the same id. A child
/// is never created before its parent, so a candidate created earlier is
/// not a child and is dropped (this is the check F07 asks for).
template <class Node, class Open>
std::vector<Node> children_in_snapshot(const std::vector<ProcessEntry>& snapshot,
                                       const Node& parent, Open&& open_child) {
  std::vector<Node> out;
  for (const ProcessEntry& e : snapshot) {
    // The idle process (0) names itself as its parent.
    if (e.parent != parent.pid || e.pid == e.parent) continue;
    std::optional<Node> child = open_child(e.pid);
    if (!child || child->created < parent.created) continue;
    out.push_back(std::move(*child));
  }
  return out;
}

}  // namespace safeexec::detail::win
