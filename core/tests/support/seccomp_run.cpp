/* seccomp_run.cpp - run a command as if on an older or locked-down kernel (issue 14).
 *
 *   seccomp_run PROFILE COMMAND [ARG...]
 *   seccomp_run --list
 *
 * Installs a seccomp filter that answers some system calls the way a kernel
 * without the feature (or a container profile that blocks it) does, sets
 * no_new_privs, and execs COMMAND. Filters are inherited by every descendant,
 * so `seccomp_run no-pidfd ctest -L unit` runs the whole suite, test binaries
 * and their children alike, on a "kernel without pidfds".
 *
 * The answers are the kernel's own, not arbitrary errnos: a syscall number a
 * kernel does not know returns ENOSYS; a flag or idtype it does not know
 * returns EINVAL; a policy that forbids something returns EPERM (Docker's
 * default seccomp profile answers EPERM for every syscall it does not list).
 *
 * This is a test tool, not library code: it may print, call execvp and exit.
 */
#include <sched.h>
#include <seccomp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* clone(2)'s flags are its first argument on x86_64 and aarch64 (and most
 * others); s390 and cris swap flags and stack. The rule below filters arg 0. */
#if !defined(__x86_64__) && !defined(__aarch64__) && !defined(__i386__) && !defined(__arm__)
#error "seccomp_run: check which argument of clone carries the flags on this architecture"
#endif

/* Where the no-proc profile puts the procfs the test fixtures (not the
 * library) may use; exported to the command as SAFEEXEC_TEST_PROC. */
#define TEST_PROC_DIR "/proc/.safeexec-test-proc"

namespace {

/// A rule on argument 0 (libseccomp's SCMP_A0 is a C compound literal).
/// MASKED_EQ compares (arg & a) == b; EQ compares arg == a.
scmp_arg_cmp arg0(scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
  return scmp_arg_cmp{0, op, a, b};
}

/// Answer syscall nr with -err, always or when `arg` holds.
int add(scmp_filter_ctx ctx, int err, int nr, const scmp_arg_cmp* arg) {
  const uint32_t action = SCMP_ACT_ERRNO(static_cast<uint32_t>(err));
  const int rc = arg != nullptr ? seccomp_rule_add_array(ctx, action, nr, 1, arg)
                                : seccomp_rule_add(ctx, action, nr, 0);
  if (rc != 0) fprintf(stderr, "seccomp_run: rule for syscall %d: %s\n", nr, strerror(-rc));
  return rc;
}

/* Before 5.3 there is no clone3 (added in 5.3): glibc 2.34+ (pthread_create,
 * posix_spawn) calls it first and falls back to clone on ENOSYS. */
int no_clone3(scmp_filter_ctx ctx) {
  return add(ctx, ENOSYS, SCMP_SYS(clone3), nullptr);
}

/* Before 5.3 (or 5.2, which has CLONE_PIDFD but no pidfd_open), as seen from
 * userspace: clone rejects the unknown CLONE_PIDFD flag with EINVAL; the
 * pidfd syscalls do not exist (ENOSYS); waitid does not know P_PIDFD (5.4)
 * and says EINVAL; and clone3 (5.3), whose flags sit in a struct a filter
 * cannot read, does not exist either. */
int no_pidfd(scmp_filter_ctx ctx) {
  const scmp_arg_cmp clone_pidfd = arg0(SCMP_CMP_MASKED_EQ, CLONE_PIDFD, CLONE_PIDFD);
  const scmp_arg_cmp idtype_pidfd = arg0(SCMP_CMP_EQ, P_PIDFD);
  return add(ctx, EINVAL, SCMP_SYS(clone), &clone_pidfd) ||
         add(ctx, ENOSYS, SCMP_SYS(pidfd_open), nullptr) ||
         add(ctx, ENOSYS, SCMP_SYS(pidfd_send_signal), nullptr) ||
         add(ctx, ENOSYS, SCMP_SYS(pidfd_getfd), nullptr) ||
         add(ctx, EINVAL, SCMP_SYS(waitid), &idtype_pidfd) || no_clone3(ctx);
}

/* 5.3: pidfds exist, but waitid(P_PIDFD, ...) came in 5.4; an unknown idtype
 * is EINVAL. */
int no_waitid_pidfd(scmp_filter_ctx ctx) {
  const scmp_arg_cmp idtype_pidfd = arg0(SCMP_CMP_EQ, P_PIDFD);
  return add(ctx, EINVAL, SCMP_SYS(waitid), &idtype_pidfd);
}

/* Before 5.9, or a container profile older than the syscall (bun #30769). */
int no_close_range(scmp_filter_ctx ctx) {
  return add(ctx, ENOSYS, SCMP_SYS(close_range), nullptr);
}

/* Signals to a process group refused: kill() with a negative pid (killpg is
 * kill(-pgid)) and pidfd_send_signal, as old Docker profiles answered EPERM
 * for syscalls they did not list. kill(pid > 0) and tgkill stay allowed, so
 * the test process itself (and a library falling back to the child's own
 * pid) still works. The pid is an int: test its sign bit, whatever the upper
 * half of the 64-bit register holds. */
int eperm_kill(scmp_filter_ctx ctx) {
  const scmp_arg_cmp negative = arg0(SCMP_CMP_MASKED_EQ, 0x80000000U, 0x80000000U);
  return add(ctx, EPERM, SCMP_SYS(kill), &negative) ||
         add(ctx, EPERM, SCMP_SYS(pidfd_send_signal), nullptr);
}

/* No /proc (a minimal container, a chroot): in a private mount namespace,
 * /proc becomes an empty read-only tmpfs, so the library's reads of
 * /proc/self/fd, /proc/<pid>/stat ... fail with ENOENT. The test fixtures
 * still need a procfs for their leak checks (descriptor table, child census):
 * weakening them to "whatever fcntl can see" would let a leak through on the
 * very profile that exercises the library's blind fd-closing fallback. So a
 * fresh procfs is mounted at TEST_PROC_DIR, a path the library never opens,
 * and named in SAFEEXEC_TEST_PROC for the fixtures (proc_path() in
 * child_census.hpp). Needs CAP_SYS_ADMIN (CI runs as root). */
int hide_proc() {
  if (unshare(CLONE_NEWNS) != 0) return perror("seccomp_run: unshare(CLONE_NEWNS)"), -1;
  /* Private: nothing mounted here propagates back to the host. */
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return perror("seccomp_run: make / rprivate"), -1;
  if (mount("none", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555,size=16k") != 0)
    return perror("seccomp_run: tmpfs over /proc"), -1;
  if (mkdir(TEST_PROC_DIR, 0555) != 0) return perror("seccomp_run: mkdir " TEST_PROC_DIR), -1;
  if (mount("proc", TEST_PROC_DIR, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    return perror("seccomp_run: mount proc at " TEST_PROC_DIR), -1;
  /* Read-only from now on: nobody creates entries under the fake /proc. */
  if (mount(nullptr, "/proc", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            nullptr) != 0)
    return perror("seccomp_run: remount /proc read-only"), -1;
  return setenv("SAFEEXEC_TEST_PROC", TEST_PROC_DIR, 1);
}

int no_close_range_no_proc(scmp_filter_ctx ctx) {
  return hide_proc() || no_close_range(ctx);
}

/* Before 5.14 a cgroup v2 directory has no cgroup.kill: opening it fails
 * with ENOENT. A filter cannot read the path it is given, so this profile
 * preloads an interposer of libc's open/openat that answers so for every
 * file named cgroup.kill (support/no_cgroup_kill_preload.cpp says why that
 * reaches the library's write), and adds no rule. */
int no_cgroup_kill(scmp_filter_ctx ctx) {
  static_cast<void>(ctx);
#ifdef SAFEEXEC_NO_CGROUP_KILL_PRELOAD
  const char* lib = SAFEEXEC_NO_CGROUP_KILL_PRELOAD;
  if (access(lib, R_OK) != 0) return perror("seccomp_run: " SAFEEXEC_NO_CGROUP_KILL_PRELOAD), -1;
  const char* old = getenv("LD_PRELOAD");
  std::string value = lib;
  if (old != nullptr && *old != '\0') value += std::string(":") + old;
  return setenv("LD_PRELOAD", value.c_str(), 1);
#else
  fprintf(stderr, "seccomp_run: built without the no-cgroup-kill interposer\n");
  return -1;
#endif
}

/* "none": no rule at all, the baseline column of the matrix. */
int none(scmp_filter_ctx ctx) {
  static_cast<void>(ctx);
  return 0;
}

struct Profile {
  const char* name;
  int (*apply)(scmp_filter_ctx);
};
const Profile profiles[] = {
    {"none", none},
    {"no-pidfd", no_pidfd},
    {"no-waitid-pidfd", no_waitid_pidfd},
    {"no-close-range", no_close_range},
    {"no-close-range-no-proc", no_close_range_no_proc},
    {"no-clone3", no_clone3},
    {"eperm-kill", eperm_kill},
    {"no-cgroup-kill", no_cgroup_kill},
};

}  // namespace

int main(int argc, char** argv) {
  const std::size_t count = sizeof profiles / sizeof profiles[0];
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (std::size_t i = 0; i < count; ++i) puts(profiles[i].name);
    return 0;
  }
  if (argc < 3) {
    fprintf(stderr, "usage: seccomp_run PROFILE COMMAND [ARG...] | seccomp_run --list\n");
    return 2;
  }
  std::size_t i = 0;
  while (i < count && strcmp(profiles[i].name, argv[1]) != 0) ++i;
  if (i == count) {
    fprintf(stderr, "seccomp_run: unknown profile '%s' (see --list)\n", argv[1]);
    return 2;
  }
  /* Default: allow. SCMP_FLTATR_CTL_NNP (on by default) sets no_new_privs,
   * which lets an unprivileged process install the filter and keeps a setuid
   * program from escaping it. */
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return fprintf(stderr, "seccomp_run: seccomp_init failed\n"), 125;
  if (profiles[i].apply(ctx) != 0)
    return fprintf(stderr, "seccomp_run: profile %s failed\n", argv[1]), 125;
  const int rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) return fprintf(stderr, "seccomp_run: seccomp_load: %s\n", strerror(-rc)), 125;
  execvp(argv[2], argv + 2);
  fprintf(stderr, "seccomp_run: cannot run %s: %s\n", argv[2], strerror(errno));
  return 127;
}
