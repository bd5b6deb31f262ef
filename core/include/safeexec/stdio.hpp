// safeexec/stdio.hpp - where a child's stdin, stdout and stderr go.
//
// A StdioRoute names one stream's other end: the parent's own stream
// (inherit), a pipe to the parent, the null device, a file by path, a
// descriptor (HANDLE on Windows) the caller owns and lends, or - for stderr
// only - wherever stdout goes (2>&1). SpawnOptions::stdin_from / stdout_to /
// stderr_to take one each:
//
//   safeexec::SpawnOptions{}
//       .stdin_from(safeexec::StdioRoute::file("in.txt"))
//       .stdout_to(safeexec::StdioRoute::file("build.log", safeexec::FileWrite::append))
//       .stderr_to(safeexec::StdioRoute::to_stdout());
//
// Guarantees (both backends):
//   * Files are opened by the parent before anything starts, close-on-exec
//     from birth; a file that cannot be opened is a SpawnError (stage
//     redirect) naming the stream and the path, and no child is started.
//   * A borrowed descriptor is duplicated for the child and never closed,
//     moved or changed in the parent; it must be open (and, on POSIX, open
//     for reading for stdin, for writing for stdout/stderr).
//   * Merged stderr is one descriptor for both streams (one pipe when
//     stdout is piped): the bytes keep the order the child wrote them in.
//   * Plans that cannot work are refused with InvalidArgument before any
//     descriptor is opened: a merge into a stream that goes nowhere of ours
//     (stdout inherited), the same pipe or file as both the child's input
//     and its output, keep_fd() naming a descriptor a stream is routed from.
//   * The child gets exactly 0, 1, 2 (+ keep_fd()s), whatever numbers the
//     sources have in the parent (a borrowed fd 2 as stdout and fd 1 as
//     stderr swap correctly; a parent with 0-2 closed works too).
#pragma once

#include <cstdint>
#include <string>

namespace safeexec {

/// What a child's stdin/stdout/stderr is connected to (the three plain
/// routes; StdioRoute has the others).
enum class Stdio {
  inherit,  ///< the parent's descriptor of the same number
  pipe,     ///< a pipe to the parent, exposed by the Process handle
  null,     ///< /dev/null (opened by the library; if it cannot be, spawn fails)
};

/// How a file the child writes to is opened.
enum class FileWrite {
  truncate,  ///< emptied first: the file holds this child's output only
  append,    ///< every write lands at the end (O_APPEND), as >> does
};

#ifdef _WIN32
using NativeStdio = void*;  ///< a HANDLE
#else
using NativeStdio = int;  ///< a file descriptor
#endif

/// One stream's route. Cheap to copy; validated when the child is started.
class StdioRoute {
 public:
  enum class Kind {
    inherit,   ///< the parent's stream of the same number
    pipe,      ///< a pipe to the parent
    null,      ///< the null device
    file,      ///< a file by path
    borrowed,  ///< a descriptor/handle of the caller, duplicated for the child
    to_stdout  ///< stderr only: wherever stdout goes (2>&1)
  };

  /// The three plain routes, so stdout_to(Stdio::pipe) reads as before.
  StdioRoute(Stdio s) noexcept  // NOLINT(google-explicit-constructor): a Stdio is a route
      : kind_(s == Stdio::pipe   ? Kind::pipe
              : s == Stdio::null ? Kind::null
                                 : Kind::inherit) {}

  static StdioRoute inherit() noexcept { return StdioRoute(Kind::inherit); }
  static StdioRoute pipe() noexcept { return StdioRoute(Kind::pipe); }
  static StdioRoute null() noexcept { return StdioRoute(Kind::null); }
  /// stdin: the existing file at `path`, read-only (`how` and `mode` unused).
  /// stdout/stderr: the file at `path`, created with permission bits `mode`
  /// (before the umask; unused on Windows) when missing, then truncated or
  /// appended to as `how` says. Symbolic links are followed, as a shell does.
  static StdioRoute file(std::string path, FileWrite how = FileWrite::truncate,
                         unsigned mode = 0644) {
    StdioRoute r(Kind::file);
    r.path_ = std::move(path);
    r.write_ = how;
    r.mode_ = mode;
    return r;
  }
  /// The caller's open descriptor (HANDLE on Windows): the child gets a
  /// duplicate; the caller keeps ownership and must keep it open until
  /// create_process() returns.
  static StdioRoute borrow(NativeStdio fd) noexcept {
    StdioRoute r(Kind::borrowed);
    r.native_ = fd;
    return r;
  }
  /// stderr only: the same descriptor as stdout (one pipe when stdout is
  /// piped, so the merged bytes keep the order the child wrote them in).
  static StdioRoute to_stdout() noexcept { return StdioRoute(Kind::to_stdout); }

  Kind kind() const noexcept { return kind_; }
  const std::string& path() const noexcept { return path_; }
  FileWrite file_write() const noexcept { return write_; }
  unsigned file_mode() const noexcept { return mode_; }
  NativeStdio borrowed() const noexcept { return native_; }

 private:
  explicit StdioRoute(Kind k) noexcept : kind_(k) {}

  Kind kind_;
  std::string path_;
  FileWrite write_ = FileWrite::truncate;
  unsigned mode_ = 0644;
#ifdef _WIN32
  NativeStdio native_ = nullptr;
#else
  NativeStdio native_ = -1;
#endif
};

}  // namespace safeexec
