// stdio_fds.hpp - the descriptor plan of one POSIX spawn: what the child puts
// on 0, 1 and 2, and the parent's ends of the pipes (stdio_fds.cpp).
#pragma once

#include <array>
#include <string>

#include "safeexec/process.hpp"
#include "unique_fd.hpp"

namespace safeexec::detail {

/// A pipe whose ends are both close-on-exec and numbered >= 3, so that they
/// never sit on the parent's 0-2 (a host may run with those closed, and a
/// pipe end there would take its stdout) nor on a number the child's dup2
/// onto 0-2 overwrites.
struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};
/// Throws SpawnError (stage pipes).
Pipe make_pipe(const std::string& program);

/// `fd` moved to a number >= 3 (close-on-exec), or an empty UniqueFd with
/// errno set: a descriptor of ours must never sit on 0-2, which a host may
/// run with closed.
UniqueFd above_stdio(UniqueFd fd);

struct StdioFds {
  /// The parent's ends: stdin's write end (non-blocking), stdout's and
  /// stderr's read ends; empty where the stream is not piped.
  std::array<UniqueFd, 3> parent;
  /// What the child dup2s onto 0, 1, 2: a descriptor in `owned`, a borrowed
  /// one (any number, 0-2 included), or -1 to inherit. Merged stderr has
  /// stdout's source.
  std::array<int, 3> source{-1, -1, -1};
  /// The descriptors opened for the child (pipe ends, files, /dev/null):
  /// closed once the child has exec'd or exited.
  std::array<UniqueFd, 3> owned;
};

/// Builds the plan for `o`'s routes: refuses what cannot work with
/// InvalidArgument (see stdio.hpp), opens files (SpawnError, stage redirect,
/// naming stream and path) and pipes (stage pipes). On any throw every
/// descriptor opened so far is closed, no file has been truncated by a
/// refused plan, and borrowed descriptors are untouched.
StdioFds open_stdio(const SpawnOptions& o, const std::string& program);

}  // namespace safeexec::detail
