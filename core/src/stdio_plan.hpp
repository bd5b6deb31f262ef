// stdio_plan.hpp - the routing checks both backends share (stdio_plan.cpp).
//
// A backend builds its descriptor (or handle) plan in three steps:
//   1. check_routes(): what no platform can do is refused (InvalidArgument)
//      before anything is opened;
//   2. the backend checks the borrowed descriptors, opens stdin's file and
//      the output files - without truncating anything yet - and records what
//      each stream's end is (EndIdentity);
//   3. check_distinct_ends() refuses the same pipe or file as the child's
//      input and output (or one file opened twice for stdout and stderr);
//      only then are the files that asked for it truncated.
// So a refused plan leaves every file as it was.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "safeexec/process.hpp"

namespace safeexec::detail {

/// The route each stream takes (inherit where none was chosen), by number.
using StdioRoutes = std::array<StdioRoute, 3>;
StdioRoutes chosen_routes(const SpawnOptions& o);

/// "stdin", "stdout", "stderr".
const char* stream_name(int stream) noexcept;

/// How a route is named in messages ("the file 'x.log'", "descriptor 5").
std::string describe_route(const StdioRoute& r);

/// Refuses what no platform can do: to_stdout() on stdin or stdout, stderr
/// merged into an inherited stdout, a file route with an empty path or one
/// holding a NUL. Throws InvalidArgument.
void check_routes(const StdioRoutes& routes);

/// What one stream's end is, for the comparisons of step 3: a pipe or a
/// regular file, named by (volume, object) - st_dev/st_ino on POSIX, the
/// volume serial and file index on Windows. Anything else (a terminal, a
/// socket, the null device) may well serve both ways and is not compared.
struct EndIdentity {
  enum class Type { other, pipe, regular_file };
  Type type = Type::other;
  std::uint64_t volume = 0;
  std::uint64_t object = 0;
  bool same_object(const EndIdentity& o) const noexcept {
    return type != Type::other && type == o.type && volume == o.volume && object == o.object;
  }
};

/// Step 3. `ends[i]` is what stream i's end is (left `other` for a merged
/// stderr: it is stdout's own end). Throws
/// InvalidArgument when stdin and an output are one pipe or one file (the
/// child would read its own output, or a truncated input), or when stdout
/// and stderr each opened the same file without append (two offsets
/// overwriting each other; to_stdout() is the way to say 2>&1).
void check_distinct_ends(const StdioRoutes& routes, const std::array<EndIdentity, 3>& ends);

/// Step 4: stream `r`'s file is to be emptied now - a regular file routed
/// with FileWrite::truncate (a FIFO or a device is left as O_TRUNC would).
inline bool wants_truncation(const StdioRoute& r, const EndIdentity& end) noexcept {
  return r.kind() == StdioRoute::Kind::file && r.file_write() == FileWrite::truncate &&
         end.type == EndIdentity::Type::regular_file;
}

/// A file a stream is routed to could not be opened (or a borrowed handle
/// could not be duplicated): SpawnError, stage redirect, naming the stream
/// and the route.
[[noreturn]] void throw_redirect_failed(int stream, const StdioRoute& route, int error,
                                        const std::string& program);

}  // namespace safeexec::detail
