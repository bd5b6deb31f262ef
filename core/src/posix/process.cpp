// process.cpp - the Process handle: its lifecycle, waiting and signalling.
// How the child is reached (pidfd or pid) is ChildRef's business; the I/O
// loop is pump.cpp's.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "child_ref.hpp"
#include "io_util.hpp"
#include "log_internal.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "signal_range.hpp"
#include "sys.hpp"
#include "unreapable.hpp"

namespace safeexec {
using detail::ProcessState;
using detail::ReapResult;

Deadline saturating_deadline(Deadline start, Clock::duration d) noexcept {
  if (d > Clock::duration::zero() && start > Deadline::max() - d) return Deadline::max();
  if (d < Clock::duration::zero() && start < Deadline::min() - d) return Deadline::min();
  return start + d;
}

namespace detail {

/// Reaper threads started by hand_to_background_reaper() and not yet done
/// (each holds its child's pidfd until the reap). Tests wait for zero before
/// they compare descriptor tables (testing::background_reapers()).
std::atomic<unsigned> g_background_reapers{0};

ProcessState::~ProcessState() {
  close_pipes();
}

void ProcessState::close_stdin() noexcept {
  close_fd(stdin_fd);
}

void ProcessState::close_pipes() noexcept {
  close_fd(stdin_fd);
  close_fd(stdout_fd);
  close_fd(stderr_fd);
}

}  // namespace detail

namespace {

/// How long terminate() waits, after SIGKILL, for a child that has exited
/// but is held by a foreign tracer: the kill did its work, and waiting the
/// whole SIGKILL bound would not make the tracer let go.
constexpr auto kHeldPatience = std::chrono::milliseconds(100);

[[noreturn]] void throw_status_lost(pid_t pid) {
  throw StatusLostError("child " + std::to_string(pid) +
                            " was reaped by someone else - the host ignores SIGCHLD or reaps "
                            "every child (waitpid(-1)) - and this kernel cannot recover its "
                            "exit status from the pidfd (Linux 6.15+ can)",
                        ECHILD);
}

/// Applies what try_reap found to the handle. Throws StatusLostError when
/// the status is gone - and so does every later wait: the status stays
/// ExitStatus::lost(), never a guess; `*out` is set otherwise, unless still
/// running.
bool settle(ProcessState& s, ReapResult r, ExitStatus st, ExitStatus* out) {
  switch (r) {
    case ReapResult::running:
      return false;
    case ReapResult::reaped:
    case ReapResult::recovered:
      s.status = st;
      *out = st;
      return true;
    case ReapResult::lost:
      break;
  }
  s.lost_pid = s.child.pid();
  s.status = ExitStatus::lost();
  s.child.clear();
  throw_status_lost(s.lost_pid);
}

/// The status when the handle has settled it (reaped, or lost: thrown
/// again); nullopt while the child is ours to reap.
std::optional<ExitStatus> settled_status(const ProcessState& s) {
  if (s.status.lost_status()) throw_status_lost(s.lost_pid);
  if (!s.status.running() || !s.child) return s.status;
  return std::nullopt;
}

/// Why the child could not be reaped: what held it, from /proc - asked
/// only when its pidfd says it exited, or when it has no pidfd to say so.
std::string why_unreaped(const ProcessState& s, bool held) noexcept {
  if (!held && s.child.pidfd() >= 0) return {};
  return detail::describe_unreapable(s.child.pid(), held);
}

/// Reaps the child by `deadline` (nullopt: however long it takes; a past
/// deadline: one look); nullopt when it is still running - or has exited
/// but is held (s.unreapable then says by whom) - at the end.
std::optional<ExitStatus> reap_by(ProcessState& s, std::optional<Deadline> deadline,
                                  Clock::duration held_patience = Clock::duration::max()) {
  if (auto st = settled_status(s)) return st;
  detail::ReapWait w;
  if (s.child.reap_within(deadline, held_patience, &w, s.reap_usage()) != 0) {
    throw IoError("waitid on child " + std::to_string(s.child.pid()) + " failed", errno);
  }
  ExitStatus out;
  if (settle(s, w.result, w.status, &out)) return out;
  // A bounded wait that gave up on a dead child says why (a zombie a tracer
  // holds); polling a running child reads nothing more.
  s.unreapable = w.held ? why_unreaped(s, true) : std::string();
  return std::nullopt;
}

/// Reaps a child we expect to be dead or dying, never throwing; used by the
/// destructor. Returns false when it could not be reaped by `deadline`
/// (s.unreapable says why when it had exited).
bool reap_quietly(ProcessState& s, Deadline deadline) noexcept {
  for (;;) {
    detail::ReapWait w;
    if (s.child.reap_within(deadline, Clock::duration::max(), &w, s.reap_usage()) != 0) {
      // An unexpected waitid failure (only the fault seam makes one): wait
      // once more after a pause rather than spin.
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (w.result == ReapResult::running) {
      s.unreapable = why_unreaped(s, w.held);
      return false;
    }
    s.status = (w.result == ReapResult::lost) ? ExitStatus::lost() : w.status;
    if (w.result == ReapResult::lost) {
      s.lost_pid = s.child.pid();
      detail::log(LogLevel::warning, "safeexec: child " + std::to_string(s.child.pid()) +
                                         " was reaped by someone else; its status is lost");
    }
    s.child.clear();
    return true;
  }
}

/// A child that outlived its handle's bounded destroy: reap it on a thread
/// of its own whenever it exits (or its tracer lets go of it), so it never
/// stays a zombie. `why`: what held it, when it had exited.
void hand_to_background_reaper(detail::ChildRef child, const std::string& why) noexcept {
  const pid_t pid = child.pid();
  detail::log(LogLevel::warning,
              why.empty() ? "safeexec: child " + std::to_string(pid) +
                                " did not die within destroy_wait after SIGKILL (it may run as "
                                "another user); a background thread will reap it when it exits"
                          : "safeexec: child " + std::to_string(pid) + " was killed and " + why +
                                "; a background thread will reap it when it can");
  try {
    detail::g_background_reapers.fetch_add(1, std::memory_order_relaxed);
    std::thread([c = std::move(child)]() mutable {
      {
        ProcessState s;
        s.child = std::move(c);
        (void)reap_quietly(s, Deadline::max());
      }  // the pidfd is closed here, before the count says "done"
      detail::g_background_reapers.fetch_sub(1, std::memory_order_release);
    }).detach();
  } catch (...) {
    detail::g_background_reapers.fetch_sub(1, std::memory_order_relaxed);
    // No thread: the pidfd closes with `child`; the zombie is left for the
    // host to reap. Nothing else can be done without blocking.
    detail::log(LogLevel::error, "safeexec: cannot start a reaper thread for child " +
                                     std::to_string(pid) + "; it will stay a zombie");
  }
}

/// The process group of `pid`, as /proc/<pid>/stat says
/// ("pid (comm) S ppid pgrp ..."); -1 when it cannot be read.
pid_t pgrp_of(const std::string& stat_path) noexcept {
  const int fd = sys::open_cloexec(stat_path.c_str(), O_RDONLY);
  if (fd < 0) return -1;
  std::array<char, 512> buf{};
  const ssize_t n = ::read(fd, buf.data(), buf.size() - 1);
  (void)::close(fd);
  if (n <= 0) return -1;
  const std::string_view text(buf.data(), static_cast<std::size_t>(n));
  const std::size_t close = text.rfind(')');
  if (close == std::string_view::npos) return -1;
  // After ") ": state, ppid, pgrp.
  const char* p = buf.data() + close + 1;
  for (int field = 0; field < 2; ++field) {
    while (*p == ' ') ++p;
    while (*p != ' ' && *p != '\0') ++p;
  }
  char* end = nullptr;
  const long pgrp = std::strtol(p, &end, 10);
  return end == p ? -1 : static_cast<pid_t>(pgrp);
}

/// Signals every member of process group `pgid` (our unreaped child leads
/// it, so the id cannot be reused). kill(-pgid) first; where that is refused
/// with EPERM (a seccomp filter that refuses negative pids, or one member
/// running as another user), each member found in /proc is signalled by pid,
/// so that the members we may kill still die. -1 with EPERM then, since the
/// group as a whole was refused.
int signal_group_members(pid_t pgid, int sig) noexcept {
  if (sys::kill(-pgid, sig) == 0) return 0;
  if (errno != EPERM) return -1;
  try {
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      const auto pid = static_cast<pid_t>(std::strtol(name.c_str(), nullptr, 10));
      if (pid > 0 && pgrp_of(it->path().string() + "/stat") == pgid) (void)sys::kill(pid, sig);
    }
  } catch (const std::exception&) {  // bad_alloc: the leader is still signalled by the caller
  }
  errno = EPERM;
  return -1;
}

/// Whether signals meant for "everything the child started" have more to
/// reach than the child: its cgroup leaf or its process group.
bool has_tree(const ProcessState& s) noexcept {
  return s.own_group || s.leaf;
}

/// Signals everything the child started: every process in its cgroup leaf
/// (a setsid()'d double-forked daemon too), else its process group.
int signal_tree(const ProcessState& s, int sig) noexcept {
  if (s.leaf) return s.leaf->signal_all(sig);
  return signal_group_members(s.child.pid(), sig);
}

/// Kill (the leaf, or the group while the unreaped leader pins the pgid
/// number), reap within destroy_wait, close, remove the leaf: after this the
/// state owns nothing.
void destroy(ProcessState& s) noexcept {
  s.close_pipes();
  if (s.leaf) (void)s.leaf->signal_all(SIGKILL);  // also after the leader was reaped
  if (s.child && s.status.running()) {
    if (s.own_group && !s.leaf) (void)signal_group_members(s.child.pid(), SIGKILL);
    (void)s.child.signal(SIGKILL);
    if (!reap_quietly(s, deadline_after(s.destroy_wait))) {
      hand_to_background_reaper(std::move(s.child), s.unreapable);
    }
  }
  s.child.clear();
  s.leaf.reset();  // waits (bounded) for it to empty, removes it
}

/// Sends `signal` to the child's group (when `group`) or to the child
/// alone. Never throws; -1 with errno. With `leader_on_eperm`, a group
/// signal refused with EPERM (a member changed its uid, or a filter refuses
/// negative pids) goes to each member we may signal and to the leader
/// directly; only a leader that cannot be signalled is an error.
int deliver(const ProcessState& s, int signal, bool group, bool leader_on_eperm) noexcept {
  if (group) {
    // The leaf reaches everything the child started (setsid()'d daemons
    // too); without one, the group.
    const int rc = s.leaf            ? s.leaf->signal_all(signal)
                   : leader_on_eperm ? signal_group_members(s.child.pid(), signal)
                                     : sys::kill(-s.child.pid(), signal);
    if (rc == 0) return 0;
    // ESRCH: no group has the child's id any more - the child moved to
    // another one (setpgid) and took nobody along. It is still ours and
    // unreaped: reach it through its handle; only that can say it is gone.
    if (errno != ESRCH && (errno != EPERM || !leader_on_eperm)) return rc;
  }
  return s.child.signal(signal);
}

KillOutcome signal_checked(ProcessState& s, int signal, bool group) {
  detail::validate_signal(signal);
  if (!s.child || !s.status.running()) return KillOutcome::gone;
  // Exited but unreaped is gone too (CPython's send_signal polls first): a
  // signal to a zombie reaches nobody, and "delivered" would be a lie.
  if (s.child.has_exited()) return KillOutcome::gone;
  // The leader is unreaped, so its pid - the group's id - cannot be reused.
  if (deliver(s, signal, group, true) == 0) return KillOutcome::delivered;
  if (errno == ESRCH) return KillOutcome::gone;
  KillError e(group ? -s.child.pid() : s.child.pid(), signal, errno);
  detail::log(LogLevel::error, e.what());
  throw e;
}

/// SIGTERM, grace, SIGKILL. Throws only what reaping throws (IoError,
/// StatusLostError); a signal that cannot be delivered is not thrown: *kill_errno when a signal
/// could not be delivered (EPERM). Returns the status if the child exited.
std::optional<ExitStatus> terminate_impl(ProcessState& s, std::chrono::milliseconds grace,
                                         int* kill_errno) {
  *kill_errno = 0;
  if (auto st = settled_status(s)) return st;
  if (deliver(s, SIGTERM, has_tree(s), true) != 0 && errno != ESRCH) *kill_errno = errno;
  // Wait for the leader without reaping it: an unreaped leader keeps its
  // pid, the group's id, from being reused; members may ignore SIGTERM or
  // outlive the leader (a shell dies at once, the command it started does
  // not), so the group gets SIGKILL after the grace either way.
  (void)s.child.await_exit(deadline_after(grace));
  if (has_tree(s)) (void)signal_tree(s, SIGKILL);
  if (s.child.signal(SIGKILL) != 0 && errno != ESRCH && *kill_errno == 0) *kill_errno = errno;
  // SIGKILL is delivered at once unless refused: a short bound suffices.
  const Deadline bound = deadline_after(*kill_errno != 0 ? std::chrono::milliseconds(0)
                                                         : std::chrono::milliseconds(1000));
  // Throws IoError when waitid fails (the child stays owned); nullopt with
  // s.unreapable set when a tracer holds the dead child.
  auto st = reap_by(s, bound, kHeldPatience);
  if (!st && s.unreapable.empty()) s.unreapable = why_unreaped(s, false);  // no pidfd: ask /proc
  return st;
}

}  // namespace

pid_t Process::pid() const noexcept {
  return state_ ? state_->child.pid() : -1;
}
int Process::pidfd() const noexcept {
  return state_ ? state_->child.pidfd() : -1;
}

void Process::close_stdin() noexcept {
  if (state_) state_->close_stdin();
}

std::optional<ExitStatus> Process::try_wait() {
  if (!state_) return ExitStatus();
  return reap_by(*state_, Deadline::min());
}

ExitStatus Process::wait() {
  if (!state_) return ExitStatus();
  for (;;) {
    if (auto st = reap_by(*state_, std::nullopt)) return *st;
  }
}

std::optional<ExitStatus> Process::wait_until(Deadline deadline) {
  if (!state_) return ExitStatus();
  return reap_by(*state_, deadline);
}

KillOutcome Process::send_signal(int signal) {
  if (!state_) return KillOutcome::gone;
  return signal_checked(*state_, signal, false);
}

KillOutcome Process::signal_group(int signal) {
  if (!state_) return KillOutcome::gone;
  return signal_checked(*state_, signal, has_tree(*state_));
}

ExitStatus Process::terminate(std::chrono::milliseconds grace) {
  if (!state_) return ExitStatus();
  int kill_errno = 0;
  if (auto st = terminate_impl(*state_, grace, &kill_errno)) return *st;
  // Not reaped in time: it could not be signalled, or it died and a
  // foreign tracer holds it (s.unreapable says so).
  KillError e(state_->own_group ? -state_->child.pid() : state_->child.pid(), SIGKILL,
              kill_errno != 0 ? kill_errno : ETIMEDOUT,
              kill_errno != 0 ? std::string() : state_->unreapable);
  detail::log(LogLevel::error, e.what());
  throw e;
}

std::optional<ResourceUsage> Process::resource_usage() const {
  if (!state_ || state_->reaped_usage.ru_maxrss < 0) return std::nullopt;
  const struct rusage& u = state_->reaped_usage;
  const auto us = [](const timeval& t) {
    return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec);
  };
  // ru_maxrss is in KiB on Linux.
  return ResourceUsage{us(u.ru_utime), us(u.ru_stime),
                       static_cast<std::uint64_t>(u.ru_maxrss) * 1024};
}

std::optional<CgroupUsage> Process::cgroup_usage() const {
  if (!state_ || !state_->leaf) return std::nullopt;
  return state_->leaf->usage();
}

namespace detail {

void destroy_state(ProcessState& s) noexcept {
  destroy(s);
}

void ProcessAccess::kill_leftover_group(Process& p) noexcept {
  ProcessState& s = *p.state_;
  if (has_tree(s) && s.child && s.status.running()) (void)signal_tree(s, SIGKILL);
}

std::optional<ExitStatus> ProcessAccess::terminate_bounded(
    Process& p, std::chrono::milliseconds grace) noexcept {
  int kill_errno = 0;
  std::optional<ExitStatus> st;
  try {
    st = terminate_impl(*p.state_, grace, &kill_errno);
  } catch (const Error& e) {
    // Could not reap (an injected waitid failure, or the status is lost):
    // the handle still owns the child; its destructor reaps it, bounded.
    detail::log(LogLevel::error, e.what());
    return p.state_->status.running() ? std::nullopt : std::optional<ExitStatus>(p.state_->status);
  }
  if (kill_errno != 0) {
    const KillError e(p.state_->own_group ? -p.pid() : p.pid(), SIGTERM, kill_errno);
    detail::log(LogLevel::error, e.what());
  }
  return st;
}

}  // namespace detail
}  // namespace safeexec

#if defined(SAFEEXEC_FAULT_INJECTION) && SAFEEXEC_FAULT_INJECTION
namespace safeexec::testing {
unsigned background_reapers() noexcept {
  return safeexec::detail::g_background_reapers.load(std::memory_order_acquire);
}
}  // namespace safeexec::testing
#endif
