// child_env.hpp - what one spawn gives the child as its environment, and the
// PATH its program is looked up in, both from one snapshot of environ
// (issue 18 items 6 and 7).
#pragma once

#include <string>
#include <vector>

#include "environ_snapshot.hpp"
#include "safeexec/process.hpp"

namespace safeexec::detail {

class ChildEnvironment {
 public:
  /// Takes the snapshot and builds the child's environment from it; throws
  /// InvalidArgument for a refused addition (before any resource exists).
  explicit ChildEnvironment(const SpawnOptions& options);

  /// NULL-terminated, for execve; valid while this object lives.
  char* const* envp() const noexcept { return envp_.data(); }
  /// PATH as the child will see it: an addition wins over the parent's
  /// (the first copy, the one the child gets), whatever the inherit mode.
  const std::string& search_path() const noexcept { return search_path_; }

 private:
  EnvironSnapshot parent_;
  std::vector<std::string> built_;  // empty on the fast path
  std::vector<char*> envp_;
  std::string search_path_;
};

}  // namespace safeexec::detail
