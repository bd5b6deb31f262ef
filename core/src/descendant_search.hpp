// descendant_search.hpp - the bounded breadth-first search behind
// get_root_helper_child_pid, shared by the POSIX and Windows backends; each
// supplies how to list a process's children and how to test one.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace safeexec::detail {

// A process tree is finite, but it is read while it changes, and a fork
// bomb under the helper must not keep the caller busy.
inline constexpr int kMaxDescendantDepth = 32;
inline constexpr std::size_t kMaxDescendantsVisited = 4096;

/// The first descendant of `root`, nearest first, for which `matches(node)`
/// holds, or nullopt. `children_of(node)` returns a std::vector<Node>; Node
/// may be move-only (the Windows backend keeps the opened handle in it, so
/// that the process whose birth was checked is the one whose command line
/// is read).
template <class Node, class ChildrenOf, class Matches>
std::optional<Node> find_descendant(Node root, ChildrenOf&& children_of, Matches&& matches) {
  std::vector<Node> level;
  level.push_back(std::move(root));
  std::size_t visited = 0;
  for (int depth = 0; depth < kMaxDescendantDepth && !level.empty(); ++depth) {
    std::vector<Node> next;
    for (const Node& parent : level) {
      std::vector<Node> children = children_of(parent);
      for (Node& child : children) {
        if (++visited > kMaxDescendantsVisited) return std::nullopt;
        if (matches(child)) return std::optional<Node>(std::move(child));
        next.push_back(std::move(child));
      }
    }
    level = std::move(next);
  }
  return std::nullopt;
}

}  // namespace safeexec::detail
