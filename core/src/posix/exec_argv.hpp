// exec_argv.hpp - the argv array execve gets, built in the parent before
// the spawn: pointers into the caller's strings, argv[0] replaced by
// SpawnOptions::argv0() when one is given (the program to run was already
// found from the original argv[0]).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "safeexec/errors.hpp"

namespace safeexec::detail {

/// NULL-terminated pointers into `argv` (and `argv0`, which replaces
/// argv[0] when set); both must outlive the result. InvalidArgument for a
/// NUL byte in argv0, which execve would silently cut there.
inline std::vector<char*> exec_argv(std::vector<std::string>& argv,
                                    std::optional<std::string>& argv0) {
  if (argv0 && argv0->find('\0') != std::string::npos) {
    throw InvalidArgument("argv0 holds a NUL byte; execve would silently cut it there");
  }
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (std::string& s : argv) out.push_back(s.data());
  if (argv0) out[0] = argv0->data();
  out.push_back(nullptr);
  return out;
}

}  // namespace safeexec::detail
