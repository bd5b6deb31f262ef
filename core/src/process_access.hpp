// process_access.hpp - library-internal access to a Process's insides, for
// create_process() (which fills a handle) and execute() (which drives the I/O
// loop with options the public communicate() does not offer).
#pragma once

#include <optional>
#include <string_view>

#include "safeexec/process.hpp"

namespace safeexec::detail {

/// How the I/O loop ended.
enum class PumpEnd {
  eof,           ///< every pipe reached EOF
  lingered,      ///< the child exited; its pipes stayed open past the linger time
  deadline,      ///< the caller's deadline passed
  output_limit,  ///< a stream passed max_output_bytes
};

struct PumpRequest {
  std::string_view input;
  std::optional<Deadline> deadline;
  std::size_t max_output_bytes = static_cast<std::size_t>(-1);
  /// When set: once the child has exited, read its pipes for at most this
  /// long (a daemonised grandchild may hold them open forever).
  std::optional<Clock::duration> linger_after_exit;
};

struct PumpResult {
  PumpEnd end = PumpEnd::eof;
  const char* overflowed_stream = nullptr;  ///< "stdout"/"stderr" on output_limit
};

struct ProcessAccess {
  static Process make() { return Process(); }
  static void set(Process& p, pid_t pid, int pidfd, int in, int out, int err, bool own_group) {
    p.pid_ = pid;
    p.pidfd_ = pidfd;
    p.stdin_fd_ = in;
    p.stdout_fd_ = out;
    p.stderr_fd_ = err;
    p.own_group_ = own_group;
  }
#ifdef _WIN32
  static void set_windows(Process& p, pid_t pid, void* process, void* job, int in, int out, int err,
                          bool own_group) {
    p.pid_ = pid;
    p.process_handle_ = process;
    p.job_ = job;
    p.stdin_fd_ = in;
    p.stdout_fd_ = out;
    p.stderr_fd_ = err;
    p.own_group_ = own_group;
  }
#endif
  /// The one poll loop behind communicate() and execute().
  static PumpResult pump(Process& p, const PumpRequest& request, Output& output);
};

}  // namespace safeexec::detail
