// stdio_plan.cpp - the routing checks both backends share (stdio_plan.hpp).
#include "stdio_plan.hpp"

#include <string>

#include "log_internal.hpp"
#include "safeexec/errors.hpp"
#include "text_internal.hpp"

namespace safeexec::detail {

StdioRoutes chosen_routes(const SpawnOptions& o) {
  return {o.stdin_route().value_or(StdioRoute::inherit()),
          o.stdout_route().value_or(StdioRoute::inherit()),
          o.stderr_route().value_or(StdioRoute::inherit())};
}

const char* stream_name(int stream) noexcept {
  return stream == 0 ? "stdin" : stream == 1 ? "stdout" : "stderr";
}

std::string describe_route(const StdioRoute& r) {
  switch (r.kind()) {
    case StdioRoute::Kind::inherit:
      return "the parent's stream";
    case StdioRoute::Kind::pipe:
      return "a pipe";
    case StdioRoute::Kind::null:
      return "the null device";
    case StdioRoute::Kind::file:
      // The caller's path, quoted and escaped as argv is (no raw control byte).
      return std::string("the file ") + quote_word(r.path()) +
             (r.file_write() == FileWrite::append ? " (append)" : "");
    case StdioRoute::Kind::borrowed:
#ifdef _WIN32
      return "the borrowed handle " +
             std::to_string(reinterpret_cast<std::uintptr_t>(r.borrowed()));
#else
      return "the borrowed descriptor " + std::to_string(r.borrowed());
#endif
    case StdioRoute::Kind::to_stdout:
      return "stdout (2>&1)";
  }
  return "an unknown route";
}

void check_routes(const StdioRoutes& routes) {
  for (int i = 0; i < 3; ++i) {
    const StdioRoute& r = routes[static_cast<std::size_t>(i)];
    const std::string name = stream_name(i);
    if (r.kind() == StdioRoute::Kind::to_stdout && i != 2) {
      throw InvalidArgument(name + " routed to stdout: only stderr can be merged into stdout");
    }
    if (r.kind() == StdioRoute::Kind::file) {
      if (r.path().empty()) throw InvalidArgument(name + " routed to a file with an empty path");
      if (r.path().find('\0') != std::string::npos) {
        throw InvalidArgument(name + " routed to a file whose path holds a NUL byte");
      }
    }
  }
  if (routes[2].kind() == StdioRoute::Kind::to_stdout &&
      routes[1].kind() == StdioRoute::Kind::inherit) {
    // There is no stdout of ours to merge into: the parent's own may be
    // closed, and "wherever the parent's stdout goes" is borrow() said out loud.
    throw InvalidArgument(
        "stderr merged into stdout, but stdout is inherited: route stdout (pipe, file, null) or "
        "borrow the parent's descriptor explicitly");
  }
}

void check_distinct_ends(const StdioRoutes& routes, const std::array<EndIdentity, 3>& ends) {
  for (int out = 1; out < 3; ++out) {
    if (!ends[0].same_object(ends[static_cast<std::size_t>(out)])) continue;
    const bool pipe = ends[0].type == EndIdentity::Type::pipe;
    throw InvalidArgument(std::string("stdin and ") + stream_name(out) + " are the same " +
                          (pipe ? "pipe" : "file") + " (" + describe_route(routes[0]) + ", " +
                          describe_route(routes[static_cast<std::size_t>(out)]) +
                          "): the child would read " +
                          (pipe ? "its own output" : "a file it is overwriting"));
  }
  const bool both_opened =
      routes[1].kind() == StdioRoute::Kind::file && routes[2].kind() == StdioRoute::Kind::file;
  const bool both_append =
      routes[1].file_write() == FileWrite::append && routes[2].file_write() == FileWrite::append;
  if (both_opened && !both_append && ends[1].type == EndIdentity::Type::regular_file &&
      ends[1].same_object(ends[2])) {
    throw InvalidArgument("stdout and stderr opened the same file (" + describe_route(routes[1]) +
                          ") with two offsets that overwrite each other: route stderr "
                          "to_stdout() for 2>&1, or append on both");
  }
}

[[noreturn]] void throw_redirect_failed(int stream, const StdioRoute& route, int error,
                                        const std::string& program) {
  SpawnError e(SpawnStage::redirect, error, program,
               std::string(stream_name(stream)) + " to " + describe_route(route));
  log(LogLevel::error, e.what());
  throw e;
}

}  // namespace safeexec::detail
