/* no_cgroup_kill_preload.cpp - LD_PRELOAD'ed by seccomp_run's no-cgroup-kill
 * profile (issue 19): every cgroup v2 directory looks as it does before Linux
 * 5.14, without a cgroup.kill file - opening it fails with ENOENT.
 *
 * Why not a seccomp rule like the other profiles: a filter sees a path only
 * as a pointer, never the string. And not a mount trick like no-proc's: the
 * leaves are made while the suite runs, each with a fresh cgroup.kill that
 * no mount made beforehand could cover. An interposer works because the
 * library opens cgroup.kill (and every cgroupfs file) in the parent through
 * libc's openat (cgroup_leaf.cpp, write_at) - a dynamic symbol an
 * LD_PRELOAD'ed definition wins. The child path uses raw syscalls, but it
 * never touches cgroup.kill. Everything else goes to the kernel unchanged
 * (the raw openat, so no libc lookup and no recursion).
 *
 * A test tool: built without sanitizers (their runtime must come first), C
 * linkage, no C++ runtime needed.
 */
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>

namespace {

bool is_cgroup_kill(const char* path) {
  if (path == nullptr) return false;
  const char* slash = std::strrchr(path, '/');
  return std::strcmp(slash != nullptr ? slash + 1 : path, "cgroup.kill") == 0;
}

int open_or_refuse(int dir, const char* path, int flags, mode_t mode) {
  if (is_cgroup_kill(path)) {
    errno = ENOENT;  // what a pre-5.14 kernel answers: the file does not exist
    return -1;
  }
  return static_cast<int>(::syscall(SYS_openat, dir, path, flags, mode));
}

/// open(2)'s third argument exists only with O_CREAT or O_TMPFILE.
bool takes_mode(int flags) {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

}  // namespace

#define MODE_ARG(flags)                                                           \
  mode_t mode = 0;                                                                \
  if (takes_mode(flags)) {                                                        \
    va_list ap;                                                                   \
    va_start(ap, flags);                                                          \
    mode = static_cast<mode_t>(va_arg(ap, int)); /* promoted, as libc reads it */ \
    va_end(ap);                                                                   \
  }

extern "C" {

int openat(int dir, const char* path, int flags, ...) {
  MODE_ARG(flags);
  return open_or_refuse(dir, path, flags, mode);
}

int openat64(int dir, const char* path, int flags, ...) {
  MODE_ARG(flags);
  return open_or_refuse(dir, path, flags, mode);
}

int open(const char* path, int flags, ...) {
  MODE_ARG(flags);
  return open_or_refuse(AT_FDCWD, path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  MODE_ARG(flags);
  return open_or_refuse(AT_FDCWD, path, flags, mode);
}

/* The _FORTIFY_SOURCE entry points (no mode: the caller's flags need none). */
int __openat_2(int dir, const char* path, int flags) {
  return open_or_refuse(dir, path, flags, 0);
}
int __openat64_2(int dir, const char* path, int flags) {
  return open_or_refuse(dir, path, flags, 0);
}
int __open_2(const char* path, int flags) {
  return open_or_refuse(AT_FDCWD, path, flags, 0);
}
int __open64_2(const char* path, int flags) {
  return open_or_refuse(AT_FDCWD, path, flags, 0);
}

}  // extern "C"
