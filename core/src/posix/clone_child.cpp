// clone_child.cpp - clone(CLONE_VM|CLONE_VFORK) onto a guarded stack, or
// clone3 with CLONE_INTO_CGROUP when the child gets a cgroup leaf.
#include "clone_child.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "child_containment.hpp"
#include "containment_seams.hpp"
#include "sys.hpp"

namespace safeexec::detail {
namespace {

/// The child joins its leaf through cgroup.procs before execve (the
/// fallback where clone3 cannot place it).
void child_joins_cgroup(ChildPlan& plan, int cgroup_dir_fd) noexcept {
  if (cgroup_dir_fd >= 0 && plan.containment != nullptr) plan.containment->join_cgroup = true;
}

/// The parent's side once the child exec'd: only a test's pause (the window
/// in which a limit applied from here, after execve, would come too late).
pid_t started(pid_t pid) noexcept {
  if (pid > 0) sys::test_pause(testing::Pause::parent_after_exec);
  return pid;
}

}  // namespace

#if defined(SAFEEXEC_TSAN)
// ThreadSanitizer builds only: TSan's clone() interceptor aborts on a
// CLONE_VM child ("CHECK failed: !thr->slot"), and TSan turns vfork() into a
// real fork(). So under TSan the child is a forked copy that runs the same
// child_main() (correct there too: it only reads the plan and makes system
// calls), reports a failure through a pipe since it shares no memory with us,
// and the pidfd comes from pidfd_open(). A cgroup leaf is joined through
// cgroup.procs. Release builds never take this path.
//
// The forked child waits at a gate until that pidfd is open: in a host that
// ignores SIGCHLD the kernel reaps a child the moment it exits, and one that
// exec'd and exited before our pidfd_open left the handle without a pidfd
// (or, had its pid been reused, with a stranger's). The parent opens the gate
// with a byte, not with EOF: another thread's fork between our pipe2 and our
// close holds a copy of the write end (close-on-exec only closes it at that
// fork's exec), so EOF could wait on another child's exec, or for ever.
// Where the pidfd cannot be had now (EMFILE: a clone's CLONE_PIDFD would
// fail the same way) the child is killed at the gate and the spawn fails.
__attribute__((noinline)) pid_t clone_child(ChildPlan& plan, bool want_pidfd, int cgroup_dir_fd,
                                            int* pidfd, SpawnStage* stage) {
  *stage = SpawnStage::clone;
  if (sys::clone_fault() != 0) return -1;
  *pidfd = -1;
  int gate[2];
  if (::pipe2(gate, O_CLOEXEC) != 0) return -1;  // EMFILE, as a clone's pidfd would be
  child_joins_cgroup(plan, cgroup_dir_fd);
  const pid_t pid = ::vfork();  // NOLINT: TSan-only, replaced by fork() in its runtime
  if (pid == 0) {
    (void)::close(gate[1]);
    char byte = 0;
    // 1: the parent has the pidfd; 0: the parent is gone; either way, on.
    while (::read(gate[0], &byte, 1) < 0 && errno == EINTR) {
    }
    (void)::close(gate[0]);
    child_main(&plan);  // never returns
  }
  int error = errno;
  bool go = pid > 0;
  if (go && want_pidfd) {
    *pidfd = sys::pidfd_open(pid);
    if (*pidfd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM)) {
      // Not now: still at the gate, so nothing of the program ran.
      error = errno;
      go = false;
      (void)::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }
  if (go) {
    const char byte = 1;
    while (::write(gate[1], &byte, 1) < 0 && errno == EINTR) {
    }
  }
  (void)::close(gate[1]);
  (void)::close(gate[0]);
  errno = error;
  return go ? started(pid) : -1;
}
pid_t clone_child_for_parent(ChildPlan& /*plan*/, int* pidfd, pid_t* /*pid_slot*/) {
  *pidfd = -1;  // TSan builds spawn directly (spawn_launch.cpp)
  errno = ENOSYS;
  return -1;
}
#else
namespace {

/// clone() with CLONE_PIDFD where the kernel has it (5.2+), remembered after
/// the first EINVAL so older kernels pay for the probe once.
std::atomic<bool> g_clone_pidfd_supported{true};
/// clone3 with CLONE_INTO_CGROUP (5.7+), remembered after the first refusal.
std::atomic<bool> g_clone3_cgroup_supported{true};

/// The child's stack: mapped for each spawn, with a PROT_NONE guard page at
/// its low end (as glibc's spawni does), and unmapped once clone() returned
/// (the child has exec'd or exited by then). It used to be a 32 KiB array in
/// the spawning frame, which made a spawn need 32 KiB more of the caller's
/// stack, and an overflow ran silently into the caller's frames. 64 KiB
/// covers child_main's frames (the largest, the close-on-exec fallbacks'
/// 8 KiB buffer) with a wide margin.
class ChildStack {
 public:
  static constexpr std::size_t kUsableBytes = std::size_t{64} * 1024;

  ChildStack() noexcept {
    const long page = ::sysconf(_SC_PAGESIZE);
    guard_ = page > 0 ? static_cast<std::size_t>(page) : 4096;
    size_ = kUsableBytes + guard_;
    void* p = ::mmap(nullptr, size_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) return;
    // Everything but the lowest page becomes usable: the stack grows down
    // into the guard, where an overflow faults instead of corrupting memory.
    if (::mprotect(static_cast<unsigned char*>(p) + guard_, kUsableBytes, PROT_READ | PROT_WRITE) !=
        0) {
      const int e = errno;
      (void)::munmap(p, size_);
      errno = e;
      return;
    }
    base_ = p;
  }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  ~ChildStack() {
    const int e = errno;  // the caller reports clone()'s errno after this runs
    if (base_ != nullptr) (void)::munmap(base_, size_);
    errno = e;
  }
  bool ok() const noexcept { return base_ != nullptr; }
  /// x86-64 and arm64 stacks grow down: clone() wants the high end.
  void* top() const noexcept { return static_cast<unsigned char*>(base_) + size_; }
  /// clone3 wants the usable range: its low end and size.
  void* usable_low() const noexcept { return static_cast<unsigned char*>(base_) + guard_; }

 private:
  void* base_ = nullptr;
  std::size_t size_ = 0;
  std::size_t guard_ = 0;
};

#if defined(__x86_64__)
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/// struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2, 88 bytes).
struct CloneArgs {
  std::uint64_t flags;
  std::uint64_t pidfd;
  std::uint64_t child_tid;
  std::uint64_t parent_tid;
  std::uint64_t exit_signal;
  std::uint64_t stack;
  std::uint64_t stack_size;
  std::uint64_t tls;
  std::uint64_t set_tid;
  std::uint64_t set_tid_size;
  std::uint64_t cgroup;
};
static_assert(sizeof(CloneArgs) == 88);

/// clone3 with a stack of its own for the child. libc has no wrapper, and
/// syscall() cannot be used: the child would return through the frame of a
/// function that the suspended parent still has to return from. So the
/// child never leaves this asm: it calls child_main on its new stack (the
/// kernel set rsp to stack + stack_size, 16-byte aligned) and exit_groups
/// with what it returned (child_main never returns; belt and braces).
__attribute__((noinline)) long raw_clone3(CloneArgs* args, int (*fn)(void*), void* arg) noexcept {
  long ret = SYS_clone3;
  asm volatile(
      "syscall\n\t"
      "testq %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xorl %%ebp, %%ebp\n\t"
      "movq %[arg], %%rdi\n\t"
      "callq *%[fn]\n\t"
      "movl %%eax, %%edi\n\t"
      "movl $231, %%eax\n\t"  // SYS_exit_group
      "syscall\n\t"
      "hlt\n\t"
      "1:\n\t"
      : "+a"(ret)
      : "D"(args), "S"(sizeof(CloneArgs)), [fn] "r"(fn), [arg] "r"(arg)
      : "rcx", "r11", "memory", "cc");
  return ret;
}

int clone3_fault() noexcept {
  SAFEEXEC_SEAM(clone3);
  return 0;
}

/// clone3 into the leaf. -2: clone3 or CLONE_INTO_CGROUP is not available
/// here (ENOSYS: pre-5.3 or a seccomp filter; E2BIG/EINVAL: pre-5.7), so
/// the caller falls back to clone + cgroup.procs.
pid_t clone3_into_cgroup(ChildPlan& plan, const ChildStack& stack, bool want_pidfd,
                         int cgroup_dir_fd, int& pidfd) noexcept {
  CloneArgs args{};
  args.flags = CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP;
  if (want_pidfd) {
    args.flags |= CLONE_PIDFD;
    args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);  // the kernel writes it there
  }
  args.exit_signal = SIGCHLD;
  args.stack = reinterpret_cast<std::uint64_t>(stack.usable_low());
  args.stack_size = ChildStack::kUsableBytes;
  args.cgroup = static_cast<std::uint64_t>(cgroup_dir_fd);
  const long r = raw_clone3(&args, child_main, &plan);
  if (r >= 0) return static_cast<pid_t>(r);
  errno = static_cast<int>(-r);
  if (errno == ENOSYS || errno == E2BIG || (errno == EINVAL && !want_pidfd)) return -2;
  return -1;
}
#endif

}  // namespace

#if defined(__x86_64__)
// pid_slot is written by the kernel (CLONE_PARENT_SETTID), not by us.
__attribute__((noinline)) pid_t clone_child_for_parent(
    ChildPlan& plan, int* pidfd,
    pid_t* pid_slot) {  // NOLINT(readability-non-const-parameter): the kernel writes it
  *pidfd = -1;
  if (sys::clone_fault() != 0) return -1;
  const ChildStack stack;
  if (!stack.ok()) return -1;
  CloneArgs args{};
  args.flags = CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PIDFD | CLONE_PARENT_SETTID;
  args.pidfd = reinterpret_cast<std::uint64_t>(pidfd);          // the kernel writes it there
  args.parent_tid = reinterpret_cast<std::uint64_t>(pid_slot);  // and the pid there
  // exit_signal stays 0: with CLONE_PARENT the kernel refuses any other value
  // and gives the child the server's own exit signal (SIGCHLD).
  args.stack = reinterpret_cast<std::uint64_t>(stack.usable_low());
  args.stack_size = ChildStack::kUsableBytes;
  const long r = raw_clone3(&args, child_main, &plan);
  if (r >= 0) return static_cast<pid_t>(r);
  errno = static_cast<int>(-r);
  return -1;
}
#else
pid_t clone_child_for_parent(ChildPlan& /*plan*/, int* pidfd, pid_t* /*pid_slot*/) {
  *pidfd = -1;
  errno = ENOSYS;
  return -1;
}
#endif

__attribute__((noinline)) pid_t clone_child(ChildPlan& plan, bool want_pidfd, int cgroup_dir_fd,
                                            int* pidfd, SpawnStage* stage) {
  *pidfd = -1;
  *stage = SpawnStage::clone;
  if (sys::clone_fault() != 0) return -1;
  const ChildStack stack;
  if (!stack.ok()) return -1;  // errno from mmap/mprotect, reported as the clone stage
#if defined(__x86_64__)
  // The test seam acts as an older kernel for one spawn, and is not remembered.
  const bool clone3_refused = cgroup_dir_fd >= 0 && clone3_fault() != 0;
  if (cgroup_dir_fd >= 0 && !clone3_refused &&
      g_clone3_cgroup_supported.load(std::memory_order_relaxed)) {
    // Pidfds on clone3 came with it (5.3); the handle copes without one.
    const bool with_pidfd = want_pidfd && g_clone_pidfd_supported.load(std::memory_order_relaxed);
    const pid_t pid = clone3_into_cgroup(plan, stack, with_pidfd, cgroup_dir_fd, *pidfd);
    if (pid != -2) {
      if (pid < 0) *stage = SpawnStage::cgroup;  // the kernel refused the placement
      return started(pid);
    }
    g_clone3_cgroup_supported.store(false, std::memory_order_relaxed);
    *pidfd = -1;
  }
#endif
  child_joins_cgroup(plan, cgroup_dir_fd);
  for (;;) {
    // Where pidfd_open is refused, a pidfd from clone would be the only one the
    // handle has; treat both as one feature (a 5.2 kernel loses nothing it needs).
    const bool with_pidfd = want_pidfd && g_clone_pidfd_supported.load(std::memory_order_relaxed);
    int flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
    if (with_pidfd) flags |= CLONE_PIDFD;
    // A borrowing child shares the table until its first step unshares it
    // (fd_borrow.hpp): the kernel copies none of the caller's descriptors.
    if (plan.borrow != nullptr) flags |= CLONE_FILES;
    *pidfd = -1;
    const pid_t pid = ::clone(child_main, stack.top(), flags, &plan, pidfd);
    if (pid < 0 && errno == EINVAL && with_pidfd) {
      g_clone_pidfd_supported.store(false, std::memory_order_relaxed);
      continue;
    }
    return started(pid);
  }
}
#endif

}  // namespace safeexec::detail
