// spawn_server_client.cpp - the library's end of the spawn server (issue 20;
// spawn_server_client.hpp, spawn_wire.hpp).
//
// What the server keeps from its start is what its CLONE_PARENT children
// inherit from it rather than from the caller: credentials, capabilities,
// rlimits, process group and session, no_new_privs and the seccomp mode,
// the root directory, namespaces, cgroup, oom_score_adj and personality.
// Each request compares them with the caller's current ones and restarts the
// server on a difference (some forty cheap system calls), so nothing it holds
// can be stale. The calling thread's own scheduling state (affinity, policy
// and nice, timer slack, I/O priority) is compared too, and a thread that
// differs from the server spawns directly (caller_inherited.hpp). What a
// child inherits per spawn - working directory, umask, ignored signals,
// 0-2 - is sent with each request instead.
#include "spawn_server_client.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "background_reaper.hpp"
#include "caller_inherited.hpp"
#include "caller_status.hpp"
#include "child_ref.hpp"
#include "clone_child.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/process.hpp"
#include "safeexec/testing/spawn_server.hpp"
#include "spawn_wire.hpp"
#include "stdio_fds.hpp"
#include "sys.hpp"
#include "unique_fd.hpp"

#ifndef SAFEEXEC_SPAWN_SERVER_PATHS
#define SAFEEXEC_SPAWN_SERVER_PATHS ""
#endif

namespace safeexec::detail {
namespace {

/// What a CLONE_PARENT child inherits from the server, not from the caller,
/// and what restarts the server when it changed: the status lines
/// (credentials, capabilities, no_new_privs, seccomp), the rlimits, the
/// process group and session, and where the child is born (root,
/// namespaces, cgroup, oom_score_adj, personality).
struct Identity {
  std::string status;
  std::array<rlimit64, RLIM_NLIMITS> limits{};
  pid_t pgid = 0;
  pid_t sid = 0;
  InheritedPlace place;

  bool operator==(const Identity& o) const noexcept {
    return status == o.status && std::memcmp(limits.data(), o.limits.data(), sizeof limits) == 0 &&
           pgid == o.pgid && sid == o.sid && place == o.place;
  }
};

/// False where the caller's place cannot be read (no /proc/thread-self/ns):
/// then this spawn goes direct.
bool current_identity(const CallerStatus& caller, Identity& id) {
  id.status = caller.identity;
  for (int r = 0; r < RLIM_NLIMITS; ++r) {
    (void)::syscall(SYS_prlimit64, 0, r, nullptr, &id.limits[static_cast<std::size_t>(r)]);
  }
  id.pgid = ::getpgrp();
  id.sid = ::getsid(0);
  return read_inherited_place(id.place);
}

/// The server executable: $SAFEEXEC_SPAWN_SERVER (ignored in a setuid
/// process), else the installed one, else the build tree's.
std::string server_path() {
  if (const char* p = ::secure_getenv("SAFEEXEC_SPAWN_SERVER"); p != nullptr) return p;
  const std::string list = SAFEEXEC_SPAWN_SERVER_PATHS;
  std::size_t start = 0;
  while (start < list.size()) {
    std::size_t end = list.find(':', start);
    if (end == std::string::npos) end = list.size();
    std::string candidate = list.substr(start, end - start);
    if (!candidate.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

bool same_file(int fd, const struct stat& id) noexcept {
  struct stat st {};
  return fd >= 0 && ::fstat(fd, &st) == 0 && st.st_dev == id.st_dev && st.st_ino == id.st_ino;
}

/// Kills a child of ours (the server, or a child it made for a request that
/// died with it) and reaps it within a bound, by the handle's own reap loop:
/// it sleeps on the pidfd while the child runs and backs off while the child
/// has exited but cannot be reaped yet. That second case is real: a tracer
/// (strace, a debugger, or LeakSanitizer's own tracer in an ASan-built
/// server that began its exit on our EOF) is told of the death first, and
/// until it lets go the pidfd polls readable while waitid() finds nothing.
/// A loop that polled the pidfd again at once spun through its count in a
/// few milliseconds and left the zombie behind. Past the bound, a background
/// thread reaps the child when it can, so no zombie is left. Nothing is
/// logged: this runs under the channel's lock, where a log sink that spawns
/// would deadlock, and a status lost to a host's reaper means nothing here.
void kill_and_reap(ChildRef child) noexcept {
  constexpr auto kReapBound = std::chrono::seconds(2);
  if (!child) return;
  (void)child.signal(SIGKILL);  // unreaped, so the pid cannot have been recycled
  ReapWait w;
  if (child.reap_within(deadline_after(kReapBound), kReapBound, &w) == 0 &&
      w.result != ReapResult::running) {
    return;
  }
  reap_in_background_quietly(std::move(child));
}

std::atomic<unsigned> g_spawns_through_server{0};
std::atomic<bool> g_die_before_reply{false};
std::atomic<bool> g_stop_before_reply{false};

/// How long a request waits for the server's reply. A server that is
/// stopped, traced or starved must not hold a spawn for ever; the bound is
/// far above what a reply takes (one clone and the child's exec: about a
/// millisecond here, tens under heavy load), so only a hung server meets it.
constexpr int kReplyBoundMs = 10000;
std::atomic<int> g_reply_bound_ms{kReplyBoundMs};

/// Whether the reply (or the server's hangup) arrived within the bound.
/// Sleeps in poll(): never spins, and EINTR keeps the deadline.
bool reply_within_bound(int sock) noexcept {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(g_reply_bound_ms.load(std::memory_order_relaxed));
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{sock, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left));
    if (r > 0) return true;  // data, hangup or error: recvmsg says which
    if (r < 0 && errno != EINTR) return true;
  }
}

class Channel {
 public:
  Channel() { (void)::pthread_atfork(nullptr, nullptr, &Channel::after_fork_in_child); }

  ServerSpawn spawn(const ChildPlan& plan) noexcept;
  int pid() noexcept {
    const std::lock_guard<std::mutex> lock(mu_);
    return running() ? server_.pid() : -1;
  }
  int start() noexcept {
    // TSan builds spawn directly (spawn_launch.cpp): a server started here
    // would never be asked, and tests of it would test nothing.
    if (kChildReportsThroughPipe) return -1;
    const std::lock_guard<std::mutex> lock(mu_);
    CallerStatus caller;
    return read_caller_status(caller) && ensure_running(caller) ? server_.pid() : -1;
  }
  void reset() noexcept {
    const std::lock_guard<std::mutex> lock(mu_);
    if (running()) drop();
    unavailable_for_ = 0;
  }

 private:
  static void after_fork_in_child();
  bool running() noexcept;
  bool ensure_running(const CallerStatus& caller) noexcept;
  bool start_server(const CallerStatus& caller) noexcept;
  void drop() noexcept;
  ServerSpawn send(const ChildPlan& plan, const CallerStatus& caller, bool* retry) noexcept;
  ServerSpawn hung_server() noexcept;
  pid_t kill_slot_orphan() noexcept;
  void lower_descriptors() noexcept;

  std::mutex mu_;
  pid_t owner_ = 0;  ///< getpid() of the process whose server this is
  UniqueFd sock_;
  struct stat sock_id_ {};
  struct stat pidfd_id_ {};
  pid_t* slot_ = nullptr;  ///< the shared page the kernel writes the child's pid to
  ChildRef server_;
  Identity identity_;
  InheritedThread server_thread_;  ///< the starting thread's, which the server has
  pid_t unavailable_for_ = 0;      ///< the server could not start in this process
};

Channel& channel() {
  static Channel* c = new Channel;  // never destroyed: at exit the server sees EOF and exits
  return *c;
}

void Channel::after_fork_in_child() {
  // A fork of a thread that held the lock: the copy is held by nobody here.
  Channel& c = channel();
  new (&c.mu_) std::mutex;
}

bool Channel::running() noexcept {
  if (owner_ == 0) return false;
  if (owner_ != ::getpid()) {
    // A forked child: the socket, the slot and the server are the parent's.
    // Our copies go (closed only where they still are what we opened), and
    // this process starts a server of its own: a CLONE_PARENT spawn through
    // the parent's server would make the parent, not us, the child's parent.
    if (same_file(sock_.get(), sock_id_)) {
      sock_.reset();
    } else {
      (void)sock_.release();
    }
    if (slot_ != nullptr) (void)::munmap(slot_, 4096);
    slot_ = nullptr;
    if (same_file(server_.pidfd(), pidfd_id_)) {
      server_.clear();
    } else {
      new ChildRef(std::move(server_));  // NOLINT: not ours to close; leaked on purpose
      server_ = ChildRef();
    }
    owner_ = 0;
    unavailable_for_ = 0;
    return false;
  }
  return true;
}

void Channel::drop() noexcept {
  sock_.reset();                      // the server sees EOF and exits
  kill_and_reap(std::move(server_));  // taken: server_ is empty from here
  if (slot_ != nullptr) (void)::munmap(slot_, 4096);
  slot_ = nullptr;
  owner_ = 0;
}

bool Channel::ensure_running(const CallerStatus& caller) noexcept {
  if (running()) {
    try {
      Identity now;
      if (!current_identity(caller, now)) return false;  // this spawn goes direct
      if (now == identity_) return true;
    } catch (...) {  // std::bad_alloc: a new server, as for a change
    }
    // The caller changed credentials, limits or where children are born: a
    // server started now, from this thread, inherits the new ones.
    drop();
  }
  if (unavailable_for_ == ::getpid()) return false;
  return start_server(caller);
}

bool Channel::start_server(const CallerStatus& caller) noexcept {
  try {
    const std::string path = server_path();
    if (path.empty()) {
      unavailable_for_ = ::getpid();
      return false;
    }
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return false;
    // Above 2, as every descriptor of ours: a caller running with 0-2
    // closed must not find its stdin to be our socket, nor the server be
    // asked to keep a descriptor on a number its own stdio takes.
    UniqueFd ours = above_stdio(UniqueFd(sv[0]));
    UniqueFd theirs = above_stdio(UniqueFd(sv[1]));
    UniqueFd slot_fd = above_stdio(UniqueFd(
        static_cast<int>(::syscall(SYS_memfd_create, "safeexec-spawn-slot", MFD_CLOEXEC))));
    if (!ours || !theirs || !slot_fd || ::ftruncate(slot_fd.get(), 4096) != 0) return false;
    void* map = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, slot_fd.get(), 0);
    if (map == MAP_FAILED) return false;
    Identity identity;
    if (!current_identity(caller, identity)) return false;  // not remembered: "not now"
    InheritedThread thread;
    read_inherited_thread(thread);
    SpawnOptions o;
    o.spawn_strategy(SpawnStrategy::direct)
        .stdin_from(StdioRoute::null())
        .stdout_to(StdioRoute::null())
        .stderr_to(StdioRoute::null())
        .inherit_env(EnvInherit::none())
        .reset_ignored_signals(true)
        // In the caller's group and session (no new group): its children are born there.
        .keep_fd(theirs.get())
        .keep_fd(slot_fd.get());
    ChildRef server;
    try {
      Process p = create_process({path, "--socket=" + std::to_string(theirs.get()),
                                  "--slot=" + std::to_string(slot_fd.get())},
                                 o);
      server = std::move(ProcessAccess::state(p).child);  // the handle has no child left to kill
    } catch (const SpawnError& e) {
      // No such program: for good. A clone or pipe failure (EAGAIN, EMFILE):
      // this spawn goes direct, the next one tries again.
      (void)::munmap(map, 4096);
      if (e.stage() == SpawnStage::exec || e.stage() == SpawnStage::path_lookup) {
        unavailable_for_ = ::getpid();
      }
      return false;
    } catch (const Error&) {
      (void)::munmap(map, 4096);
      return false;
    }
    theirs.reset();
    slot_fd.reset();
    wire::Hello hello{};
    pollfd pfd{ours.get(), POLLIN, 0};
    const bool greeted =
        ::poll(&pfd, 1, 5000) == 1 &&
        ::recv(ours.get(), &hello, sizeof hello, 0) == static_cast<ssize_t>(sizeof hello) &&
        hello.magic == wire::kHelloMagic && hello.server_pid == server.pid() &&
        hello.can_clone == 1;
    if (!greeted) {  // not our server, a stale one with another protocol, or no clone3 here
      kill_and_reap(std::move(server));
      (void)::munmap(map, 4096);
      unavailable_for_ = ::getpid();
      return false;
    }
    (void)::fstat(ours.get(), &sock_id_);
    if (server.pidfd() >= 0) (void)::fstat(server.pidfd(), &pidfd_id_);
    sock_ = std::move(ours);
    server_ = std::move(server);
    slot_ = static_cast<pid_t*>(map);
    identity_ = identity;
    server_thread_ = thread;
    owner_ = ::getpid();
    return true;
  } catch (...) {  // std::bad_alloc: spawn directly
    return false;
  }
}

ServerSpawn Channel::spawn(const ChildPlan& plan) noexcept {
  ServerSpawn out;
  // Without /proc the caller's umask cannot be sent: no server, a direct
  // spawn (and the next spawn looks again: /proc may be mounted by then).
  CallerStatus caller;
  if (!read_caller_status(caller)) return out;
  const std::lock_guard<std::mutex> lock(mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!ensure_running(caller)) return out;
    // A thread whose affinity, scheduling, timer slack or I/O priority is
    // not the server's spawns directly: its child would inherit the server's.
    InheritedThread thread;
    read_inherited_thread(thread);
    if (!(thread == server_thread_)) return out;
    lower_descriptors();
    // The clone seam stands for the server's clone (once the server is
    // there), so fault tests mean the same on both paths.
    if (attempt == 0 && sys::clone_fault() != 0) {
      out.sent = true;
      out.clone_error = errno;
      return out;
    }
    bool retry = false;
    out = send(plan, caller, &retry);
    if (!retry) return out;
    drop();  // it had died before this request: start another one for it
  }
  return ServerSpawn{};
}

ServerSpawn Channel::send(const ChildPlan& plan, const CallerStatus& caller, bool* retry) noexcept {
  ServerSpawn out;
  try {
    UniqueFd cwd(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!cwd) return out;
    std::vector<int> fds{cwd.get()};
    wire::EncodeInput in{};
    in.plan = &plan;
    for (int i = 0; i < 3; ++i) {
      // -1 means "the caller's own": the server's 0-2 are /dev/null.
      int src = plan.stdio_src[i];
      if (src < 0 && ::fcntl(i, F_GETFD) >= 0)
        src = i;  // NOLINT(cppcoreguidelines-pro-type-vararg)
      in.stdio_index[i] = src < 0 ? -1 : static_cast<std::int32_t>(fds.size());
      if (src >= 0) fds.push_back(src);
    }
    for (std::size_t i = 0; i < plan.keep_count; ++i) fds.push_back(plan.keep_fds[i]);
    if (fds.size() > wire::kMaxFds) return out;
    in.flags = (plan.new_process_group ? wire::kNewProcessGroup : 0U) |
               (plan.reset_ignored_signals ? wire::kResetIgnored : 0U) |
               (plan.use_close_range ? wire::kUseCloseRange : 0U);
    if (g_die_before_reply.exchange(false)) in.flags |= wire::kDieBeforeReply;
    if (g_stop_before_reply.exchange(false)) in.flags |= wire::kStopBeforeReply;
    in.caller_umask = caller.umask;
    in.ignored = plan.reset_ignored_signals ? 0 : caller.ignored;
    in.fd_count = static_cast<std::uint32_t>(fds.size());
    std::vector<char> request;
    if (!wire::encode_request(in, request)) return out;

    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
    iovec iov{request.data(), request.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cm), fds.data(), sizeof(int) * fds.size());
    __atomic_store_n(slot_, 0, __ATOMIC_SEQ_CST);
    ssize_t sent = -1;
    do {
      sent = ::sendmsg(sock_.get(), &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
      // EPIPE, ECONNRESET: the server had died before this request.
      *retry = errno == EPIPE || errno == ECONNRESET;
      return out;
    }
    out.sent = true;
    if (!reply_within_bound(sock_.get())) return hung_server();

    wire::Reply reply{};
    alignas(cmsghdr) char reply_control[CMSG_SPACE(sizeof(int))] = {};
    iovec riov{&reply, sizeof reply};
    msghdr rmsg{};
    rmsg.msg_iov = &riov;
    rmsg.msg_iovlen = 1;
    rmsg.msg_control = reply_control;
    rmsg.msg_controllen = sizeof reply_control;
    ssize_t got = -1;
    do {
      got = ::recvmsg(sock_.get(), &rmsg, MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);
    int pidfd = -1;
    if (got > 0) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&rmsg); c != nullptr; c = CMSG_NXTHDR(&rmsg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
          std::memcpy(&pidfd, CMSG_DATA(c), sizeof pidfd);
        }
      }
    }
    if (got != static_cast<ssize_t>(sizeof reply) || reply.magic != wire::kReplyMagic ||
        (reply.pid > 0 && reply.pid != __atomic_load_n(slot_, __ATOMIC_SEQ_CST))) {
      // The server died (or broke the protocol) with our request: a child
      // it made is ours (CLONE_PARENT) and its pid is in the slot, written
      // by the kernel before the child ran. Kill and reap it: the caller
      // gets an error, and no child is left that nobody knows of.
      if (pidfd >= 0) (void)::close(pidfd);
      (void)kill_slot_orphan();
      drop();
      out.clone_error = EPIPE;
      out.clone_stage = SpawnStage::spawn_server;
      return out;
    }
    if (reply.pid <= 0 && reply.clone_stage == static_cast<int>(SpawnStage::clone) &&
        (reply.clone_error == ENOSYS || reply.clone_error == EINVAL || reply.clone_error == E2BIG ||
         reply.clone_error == EPERM)) {
      // The server's clone3 (CLONE_PARENT | CLONE_PIDFD) is not there: not
      // x86-64, a kernel before 5.3, or a filter. Direct spawns from now on.
      drop();
      unavailable_for_ = ::getpid();
      return ServerSpawn{};
    }
    out.pid = reply.pid > 0 ? reply.pid : -1;
    out.pidfd = pidfd;
    out.clone_error = reply.clone_error;
    out.clone_stage = static_cast<SpawnStage>(reply.clone_stage);
    out.report = reply.report;
    g_spawns_through_server.fetch_add(1, std::memory_order_relaxed);
    return out;
  } catch (...) {  // std::bad_alloc before anything was sent
    return ServerSpawn{};
  }
}

/// Our two long-lived descriptors (the socket, the server's pidfd) move back
/// down once lower numbers are free again. Made while the caller held
/// thousands of descriptors, they would otherwise keep its highest open
/// number high for good: `automatic` would keep choosing the server, and
/// every direct spawn would copy a table that large.
void Channel::lower_descriptors() noexcept {
  constexpr int kLow = 64;
  const auto lower = [](int fd) noexcept {
    const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);  // NOLINT(cppcoreguidelines-pro-type-vararg)
    if (moved >= 0 && moved > fd) {
      (void)::close(moved);
      return -1;
    }
    return moved;
  };
  if (sock_.get() > kLow) {
    if (const int moved = lower(sock_.get()); moved >= 0) sock_ = UniqueFd(moved);
  }
  if (server_.pidfd() > kLow) {
    if (const int moved = lower(server_.pidfd()); moved >= 0)
      server_ = ChildRef(server_.pid(), moved);
  }
}

/// The child the server made for the request in flight, if it made one: its
/// pid is in the slot (written by the kernel before the child ran), and it
/// is ours (CLONE_PARENT) and unreaped. Killed and reaped; its pid, or <= 0.
pid_t Channel::kill_slot_orphan() noexcept {
  const pid_t orphan = __atomic_load_n(slot_, __ATOMIC_SEQ_CST);
  if (orphan > 0) kill_and_reap(ChildRef(orphan, sys::pidfd_open(orphan)));
  return orphan;
}

/// The reply did not come within the bound: the server is killed (it is our
/// child) and reaped, after which the slot says for good whether it had
/// made the child. None: nothing ran, and this spawn goes direct. One: it is
/// ours (CLONE_PARENT) but its pidfd never came, so it is killed and reaped
/// and the caller gets {spawn_server, ETIMEDOUT}. The next request starts a
/// new server.
ServerSpawn Channel::hung_server() noexcept {
  kill_and_reap(std::move(server_));  // taken: server_ is empty from here
  const pid_t orphan = kill_slot_orphan();
  drop();
  if (orphan <= 0) return ServerSpawn{};
  ServerSpawn out;
  out.sent = true;
  out.clone_error = ETIMEDOUT;
  out.clone_stage = SpawnStage::spawn_server;
  return out;
}

}  // namespace

ServerSpawn spawn_through_server(const ChildPlan& plan) noexcept {
  return channel().spawn(plan);
}

}  // namespace safeexec::detail

#if defined(SAFEEXEC_FAULT_INJECTION)
namespace safeexec::testing {

int spawn_server_pid() noexcept {
  return ::safeexec::detail::channel().pid();
}
int start_spawn_server() noexcept {
  return ::safeexec::detail::channel().start();
}
void kill_spawn_server_before_next_reply() noexcept {
  ::safeexec::detail::g_die_before_reply.store(true);
}
void stop_spawn_server_before_next_reply() noexcept {
  ::safeexec::detail::g_stop_before_reply.store(true);
}
void set_spawn_server_reply_bound(int milliseconds) noexcept {
  ::safeexec::detail::g_reply_bound_ms.store(milliseconds > 0 ? milliseconds
                                                              : ::safeexec::detail::kReplyBoundMs);
}
void reset_spawn_server() noexcept {
  ::safeexec::detail::channel().reset();
}
unsigned spawns_through_server() noexcept {
  return ::safeexec::detail::g_spawns_through_server.load();
}

}  // namespace safeexec::testing
#endif
