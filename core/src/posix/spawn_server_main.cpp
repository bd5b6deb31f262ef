// spawn_server_main.cpp - safeexec-spawn-server, the library's spawn server
// (issue 20; spawn_strategy.hpp).
//
// Started by the library with the direct path, from a clean state: its
// socket, the caller's shared pid slot, 0-2 on /dev/null, an empty mask,
// default dispositions, an empty environment. It serves one request at a
// time: it rebuilds the caller's ChildPlan, puts the caller's descriptors on
// the numbers the plan names, takes the caller's working directory, umask and
// ignored signals for the length of one clone, and starts child_main() (the
// direct path's child, child.cpp) with CLONE_PARENT: the child is the
// caller's, so only this process's few descriptors are copied for it, and
// nothing the caller waits on depends on this process staying alive. It
// never runs caller code and exits when the caller closes the socket.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "child.hpp"
#include "child_containment.hpp"
#include "clone_child.hpp"
#include "safeexec/errors.hpp"
#include "signal_block.hpp"
#include "spawn_wire.hpp"

// An ASan build of the server (ci/sanitize) must not change what its
// children inherit. The runtime lowers its own process's RLIMIT_CORE to 0 at
// start (disable_coredump, on by default on 64-bit Linux), so every child
// made here had no core dumps where a direct child of the caller had them
// (prop.Inherited found it under ASan). The runtime asks for this before
// main; release builds have no such runtime and no such function.
#if defined(__SANITIZE_ADDRESS__)
#define SAFEEXEC_SERVER_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAFEEXEC_SERVER_UNDER_ASAN 1
#endif
#endif
#if defined(SAFEEXEC_SERVER_UNDER_ASAN)
// NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): the runtime's hook
extern "C" __attribute__((used)) const char* __asan_default_options() {
  return "disable_coredump=0";
}
#endif

namespace {

using namespace safeexec::detail;  // NOLINT(google-build-using-namespace): one file, one job

int parse_fd_arg(const char* arg, const char* name) {
  const std::size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0) return -1;
  char* end = nullptr;
  const long v = std::strtol(arg + n, &end, 10);
  return (end != nullptr && *end == '\0' && v >= 3 && v < (1L << 30)) ? static_cast<int>(v) : -1;
}

bool send_reply(int sock, const wire::Reply& reply, int pidfd) {
  iovec iov{const_cast<wire::Reply*>(&reply), sizeof reply};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (pidfd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &pidfd, sizeof pidfd);
  }
  for (;;) {
    if (::sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0) return true;
    if (errno != EINTR) return false;
  }
}

void close_all(const std::vector<int>& fds) {
  for (int fd : fds) {
    if (fd >= 0) (void)::close(fd);
  }
}

/// The caller's ignored signals become this process's for one clone (the
/// child keeps SIG_IGN, child.cpp step 1), then go back to SIG_DFL.
class CallerIgnoredSignals {
 public:
  explicit CallerIgnoredSignals(std::uint64_t set) : set_(set) { apply(SIG_IGN); }
  CallerIgnoredSignals(const CallerIgnoredSignals&) = delete;
  CallerIgnoredSignals& operator=(const CallerIgnoredSignals&) = delete;
  ~CallerIgnoredSignals() { apply(SIG_DFL); }

 private:
  void apply(sighandler_t h) const {
    for (int sig = 1; sig <= 64; ++sig) {
      if ((set_ & (std::uint64_t{1} << (sig - 1))) == 0 || sig == SIGKILL || sig == SIGSTOP) {
        continue;
      }
      struct sigaction sa {};
      sa.sa_handler = h;
      (void)::sigaction(sig, &sa, nullptr);  // libc's 32/33 refuse: they stay as they are
    }
  }
  std::uint64_t set_;
};

/// Whether clone3 with CLONE_PIDFD works here: one fork-like clone3 of this
/// small process, whose copy exits at once and is reaped here. (What a
/// seccomp filter refuses it refuses for every clone3: it cannot read the
/// flags, which are in memory.)
bool clone3_works() {
#if defined(__x86_64__)
  int pidfd = -1;
  struct {
    std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
  } args{CLONE_PIDFD, reinterpret_cast<std::uint64_t>(&pidfd), 0, 0, SIGCHLD, 0, 0, 0};
  const long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) ::_exit(0);  // the copy: a fork, so returning through syscall() was fine
  if (pid < 0) return false;
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED) != 0 && errno == EINTR) {
  }
  if (pidfd >= 0) (void)::close(pidfd);
  return true;
#else
  return false;
#endif
}

/// Moves `fd` (close-on-exec) above `top` if it is not there yet.
bool move_above(int& fd, int top) {
  if (fd > top) return true;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, top + 1);
  if (moved < 0) return false;
  (void)::close(fd);
  fd = moved;
  return true;
}

/// Serves one request: `fds` are the descriptors that came with it (this
/// process's numbers), closed before returning.
wire::Reply serve(int& sock, char* data, std::size_t size, std::vector<int>& fds, pid_t* slot,
                  int* pidfd) {
  wire::Reply reply{};
  reply.magic = wire::kReplyMagic;
  reply.clone_stage = static_cast<int>(safeexec::SpawnStage::spawn_server);
  wire::DecodedRequest req;
  if (!wire::decode_request(data, size, req) || req.header.fd_count != fds.size() || fds.empty() ||
      fds.size() != 1 + req.keep_targets.size() +
                        static_cast<std::size_t>(std::count_if(std::begin(req.header.stdio_fd),
                                                               std::end(req.header.stdio_fd),
                                                               [](int i) { return i >= 0; }))) {
    reply.clone_error = EPROTO;
    return reply;
  }
  // Every descriptor of the request moves above every number the child
  // must find a keep fd on, and so does our socket: then placing the keep
  // fds on their numbers (below) overwrites nothing we still need.
  int top = 2;
  for (int t : req.keep_targets) top = std::max(top, t);
  if (!move_above(sock, top)) {
    reply.clone_error = errno;
    return reply;
  }
  for (int& fd : fds) {
    if (!move_above(fd, top)) {
      reply.clone_error = errno;
      return reply;
    }
  }
  // Keep fds on the caller's numbers, still close-on-exec: the child clears
  // the flag on exactly these (child.cpp step 4).
  std::vector<int> placed;
  const std::size_t first_keep = fds.size() - req.keep_targets.size();
  for (std::size_t i = 0; i < req.keep_targets.size(); ++i) {
    if (::dup3(fds[first_keep + i], req.keep_targets[i], O_CLOEXEC) < 0) {
      reply.clone_error = errno;
      close_all(placed);
      return reply;
    }
    placed.push_back(req.keep_targets[i]);
  }

  const wire::RequestHeader& h = req.header;
  ChildContainment containment{};
  containment.cgroup_procs_fd = -1;
  containment.setsid = (h.flags & wire::kSetsid) != 0;
  containment.rlimits = req.rlimits.data();
  containment.rlimit_count = req.rlimits.size();
  containment.umask = h.contain_umask;
  containment.set_credentials = (h.flags & wire::kSetCredentials) != 0;
  containment.groups = req.groups.data();
  containment.group_count = req.groups.size();
  containment.gid = h.gid;
  containment.uid = h.uid;
  containment.no_new_privs = (h.flags & wire::kNoNewPrivs) != 0;

  ChildPlan plan{};
  plan.exec_paths = req.exec.data();
  plan.exec_count = req.exec.size();
  plan.argv = req.argv.data();
  plan.envp = req.envp.data();
  plan.cwd = req.cwd;
  for (int i = 0; i < 3; ++i) plan.stdio_src[i] = h.stdio_fd[i] < 0 ? -1 : fds[h.stdio_fd[i]];
  plan.keep_fds = req.keep_targets.data();
  plan.keep_count = req.keep_targets.size();
  plan.report_fd = -1;
  plan.new_process_group = (h.flags & wire::kNewProcessGroup) != 0;
  plan.reset_ignored_signals = (h.flags & wire::kResetIgnored) != 0;
  plan.use_close_range = (h.flags & wire::kUseCloseRange) != 0;
  plan.fd_limit = h.fd_limit;
  plan.containment = (h.flags & wire::kContainment) != 0 ? &containment : nullptr;
  plan.report = ChildReport{0, 0, 0};

  // The caller's working directory (fds[0]) and umask, for this child only.
  if (::fchdir(fds[0]) != 0) {
    reply.clone_error = errno;
    reply.clone_stage = static_cast<int>(safeexec::SpawnStage::chdir);
    close_all(placed);
    return reply;
  }
  const mode_t old_umask = ::umask(static_cast<mode_t>(h.umask & 0777));
  *slot = 0;
  pid_t pid = -1;
  int clone_errno = 0;
  {
    const CallerIgnoredSignals ignored(plan.reset_ignored_signals ? 0 : h.ignored);
    const AllSignalsBlocked blocked;
    pid = clone_child_for_parent(plan, pidfd, slot);
    clone_errno = errno;
  }
  (void)::umask(old_umask);
  (void)::chdir("/");  // hold no directory of the caller's between requests
  close_all(placed);
  if (pid < 0) {
    reply.clone_error = clone_errno;
    reply.clone_stage = static_cast<int>(safeexec::SpawnStage::clone);
    return reply;
  }
  reply.pid = pid;
  reply.report = plan.report;
  if ((h.flags & wire::kDieBeforeReply) != 0) (void)::raise(SIGKILL);
  if ((h.flags & wire::kStopBeforeReply) != 0) (void)::raise(SIGSTOP);
  return reply;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  int sock = parse_fd_arg(argv[1], "--socket=");
  const int slot_fd = parse_fd_arg(argv[2], "--slot=");
  if (sock < 0 || slot_fd < 0) return 2;
  void* slot_map = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, slot_fd, 0);
  (void)::close(slot_fd);
  if (slot_map == MAP_FAILED) return 3;
  auto* slot = static_cast<pid_t*>(slot_map);
  (void)::chdir("/");

  const wire::Hello hello{wire::kHelloMagic, static_cast<std::int32_t>(::getpid()),
                          clone3_works() ? 1 : 0};
  if (::send(sock, &hello, sizeof hello, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof hello)) {
    return 4;
  }
  std::vector<char> buffer(wire::kMaxRequestBytes + 1);
  alignas(cmsghdr) static char control[CMSG_SPACE(sizeof(int) * (wire::kMaxFds + 4))];
  std::vector<int> fds;
  for (;;) {
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n == 0) return 0;  // the caller closed its end (or exited)
    if (n < 0) {
      if (errno == EINTR) continue;
      return 5;
    }
    fds.clear();
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
        fds.push_back(fd);
      }
    }
    int pidfd = -1;
    wire::Reply reply{};
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
      reply.magic = wire::kReplyMagic;
      reply.clone_error = EMSGSIZE;
      reply.clone_stage = static_cast<int>(safeexec::SpawnStage::spawn_server);
    } else {
      reply = serve(sock, buffer.data(), static_cast<std::size_t>(n), fds, slot, &pidfd);
    }
    close_all(fds);
    const bool sent = send_reply(sock, reply, pidfd);
    if (pidfd >= 0) (void)::close(pidfd);
    if (!sent) return 6;
  }
}
