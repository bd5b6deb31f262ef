// stdio_fds.cpp - the descriptor plan of one POSIX spawn (stdio_fds.hpp).
//
// Order of work (stdio_plan.hpp): the shared checks; the borrowed
// descriptors (open, right access mode, not also a keep_fd); the ends, in
// stream order, every one close-on-exec from birth - pipes, /dev/null,
// files opened without O_TRUNC; the same-pipe / same-file check; and only
// then the truncation of the files that asked for it. Files are opened
// O_NONBLOCK and set back to blocking: opening a FIFO must not wait for its
// other end inside create_process() (a FIFO with no reader is ENXIO).
#include "stdio_fds.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "log_internal.hpp"
#include "safeexec/errors.hpp"
#include "stdio_plan.hpp"
#include "sys.hpp"

namespace safeexec::detail {
namespace {

[[noreturn]] void throw_pipes(int error, const std::string& program) {
  SpawnError e(SpawnStage::pipes, error, program);
  log(LogLevel::error, e.what());
  throw e;
}

EndIdentity identity_of(int fd) {
  struct stat st {};
  EndIdentity id;
  if (::fstat(fd, &st) != 0) return id;
  if (S_ISFIFO(st.st_mode)) {
    id.type = EndIdentity::Type::pipe;
  } else if (S_ISREG(st.st_mode)) {
    id.type = EndIdentity::Type::regular_file;
  } else {
    return id;
  }
  id.volume = static_cast<std::uint64_t>(st.st_dev);
  id.object = static_cast<std::uint64_t>(st.st_ino);
  return id;
}

/// A borrowed descriptor must be open, usable for the stream's direction,
/// and not named by keep_fd() too (the child would get it twice, under two
/// numbers, and close-on-exec rules for one would decide for the other).
void check_borrowed(int stream, int fd, const std::vector<int>& keep_fds) {
  const std::string what =
      std::string(stream_name(stream)) + " borrows descriptor " + std::to_string(fd);
  const int fl = fd < 0 ? -1 : ::fcntl(fd, F_GETFL);  // NOLINT(cppcoreguidelines-pro-type-vararg)
  if (fl < 0) throw InvalidArgument(what + ", which is not an open descriptor");
#ifdef O_PATH
  if ((fl & O_PATH) != 0) throw InvalidArgument(what + ", opened with O_PATH (no I/O through it)");
#endif
  const int acc = fl & O_ACCMODE;
  if (stream == 0 && acc == O_WRONLY) {
    throw InvalidArgument(what + ", which is open for writing only");
  }
  if (stream != 0 && acc == O_RDONLY) {
    throw InvalidArgument(what + ", which is open for reading only");
  }
  if (std::find(keep_fds.begin(), keep_fds.end(), fd) != keep_fds.end()) {
    throw InvalidArgument(what + ", which keep_fd() names too: pass it one way");
  }
}

/// Clears O_NONBLOCK on a file we opened: the child expects blocking stdio.
bool set_blocking(int fd) {
  const int fl = ::fcntl(fd, F_GETFL);  // NOLINT(cppcoreguidelines-pro-type-vararg)
  return fl >= 0 &&
         ((fl & O_NONBLOCK) == 0 || ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0);  // NOLINT
}

UniqueFd open_file(int stream, const StdioRoute& r, const std::string& program) {
  int flags = O_NOCTTY | O_NONBLOCK;
  if (stream == 0) {
    flags |= O_RDONLY;
  } else {
    flags |= O_WRONLY | O_CREAT;  // O_TRUNC comes later, once the plan is accepted
    if (r.file_write() == FileWrite::append) flags |= O_APPEND;
  }
  UniqueFd fd(sys::open_cloexec(r.path().c_str(), flags, static_cast<mode_t>(r.file_mode())));
  if (!fd) throw_redirect_failed(stream, r, errno, program);
  fd = above_stdio(std::move(fd));
  if (!fd || !set_blocking(fd.get())) throw_redirect_failed(stream, r, errno, program);
  return fd;
}

/// /dev/null for the child's stdin (read) or stdout/stderr (write), above 2.
UniqueFd open_null(bool child_reads, const std::string& program) {
  UniqueFd fd(sys::open_cloexec("/dev/null", child_reads ? O_RDONLY : O_WRONLY));
  if (!fd) throw_pipes(errno, program);
  fd = above_stdio(std::move(fd));
  if (!fd) throw_pipes(errno, program);
  return fd;
}

/// Whether the caller's standard descriptor `i` would not reach a child:
/// closed, or close-on-exec (a descriptor of ours, or the host's, that
/// landed there while it was closed).
bool not_inherited(int i) {
  const int flags = ::fcntl(i, F_GETFD);  // NOLINT(cppcoreguidelines-pro-type-vararg)
  return flags < 0 || (flags & FD_CLOEXEC) != 0;
}

}  // namespace

UniqueFd above_stdio(UniqueFd fd) {
  if (fd.get() >= 3) return fd;
  const int moved =
      ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);  // NOLINT(cppcoreguidelines-pro-type-vararg)
  return UniqueFd(moved);
}

Pipe make_pipe(const std::string& program) {
  std::array<int, 2> fds{-1, -1};
  if (sys::pipe2_cloexec(fds.data()) != 0) throw_pipes(errno, program);
  Pipe p{UniqueFd(fds[0]), UniqueFd(fds[1])};
  p.read_end = above_stdio(std::move(p.read_end));
  if (!p.read_end) throw_pipes(errno, program);
  p.write_end = above_stdio(std::move(p.write_end));
  if (!p.write_end) throw_pipes(errno, program);
  return p;
}

StdioFds open_stdio(const SpawnOptions& o, const std::string& program) {
  const StdioRoutes routes = chosen_routes(o);
  check_routes(routes);
  for (int i = 0; i < 3; ++i) {
    const StdioRoute& r = routes[static_cast<std::size_t>(i)];
    if (r.kind() == StdioRoute::Kind::borrowed) check_borrowed(i, r.borrowed(), o.keep_fds());
  }

  StdioFds fds;
  std::array<EndIdentity, 3> ends;
  for (int i = 0; i < 3; ++i) {
    const auto n = static_cast<std::size_t>(i);
    const StdioRoute& r = routes[n];
    const bool child_reads = i == 0;
    switch (r.kind()) {
      case StdioRoute::Kind::inherit:
        // A caller whose own would not reach the child (closed, or
        // close-on-exec): the child gets /dev/null there, not a hole that
        // its first open() would fill (its output would land in a file it
        // opened). The spawn server's child gets the same.
        if (not_inherited(i)) fds.owned[n] = open_null(child_reads, program);
        break;
      case StdioRoute::Kind::pipe: {
        Pipe p = make_pipe(program);
        fds.parent[n] = child_reads ? std::move(p.write_end) : std::move(p.read_end);
        fds.owned[n] = child_reads ? std::move(p.read_end) : std::move(p.write_end);
        break;
      }
      case StdioRoute::Kind::null:
        fds.owned[n] = open_null(child_reads, program);
        break;
      case StdioRoute::Kind::file:
        fds.owned[n] = open_file(i, r, program);
        ends[n] = identity_of(fds.owned[n].get());
        break;
      case StdioRoute::Kind::borrowed:
        // The child dup2s the caller's own number; the parent never touches it.
        fds.source[n] = r.borrowed();
        ends[n] = identity_of(r.borrowed());
        break;
      case StdioRoute::Kind::to_stdout:
        fds.source[n] = fds.source[1];  // one description for both: the child's order kept
        break;
    }
    if (fds.owned[n]) fds.source[n] = fds.owned[n].get();
  }
  check_distinct_ends(routes, ends);

  for (std::size_t n = 1; n < 3; ++n) {
    const StdioRoute& r = routes[n];
    if (!wants_truncation(r, ends[n])) continue;
    if (::ftruncate(fds.owned[n].get(), 0) != 0) {
      throw_redirect_failed(static_cast<int>(n), r, errno, program);
    }
  }
  if (fds.parent[0]) {
    // Our end of stdin is non-blocking: the I/O loop must never block in
    // write() while the child is blocked writing a full stdout pipe.
    const int fl =
        ::fcntl(fds.parent[0].get(), F_GETFL);  // NOLINT(cppcoreguidelines-pro-type-vararg)
    if (fl < 0 || ::fcntl(fds.parent[0].get(), F_SETFL, fl | O_NONBLOCK) != 0) {  // NOLINT
      throw_pipes(errno, program);
    }
  }
  return fds;
}

}  // namespace safeexec::detail
