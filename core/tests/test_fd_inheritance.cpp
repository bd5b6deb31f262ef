// F06: the child sees only 0, 1, 2 and what the caller passes on purpose,
// even while other threads open descriptors without O_CLOEXEC; and every
// descriptor the library opens is close-on-exec, so that nobody else's
// children inherit it either.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec::testing::Call;
using safeexec::testing::call_count;
using safeexec::testing::faults_fired;
using safeexec::testing::inject_fault;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using safeexec_test::fds_seen_by_child;
using safeexec_test::is_cloexec;
using FdInheritance = safeexec_test::LeakChecked;

/// The helper's view through execute() (all three pipes).
std::string fds_seen_through_execute() {
  std::string out = safeexec::execute(child_cmd({"fds"}), bounded()).out;
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

/// A descriptor opened the careless way: no O_CLOEXEC. Closed at scope end.
class PlainFd {
 public:
  PlainFd() : fd_(::open("/dev/null", O_RDONLY)) {  // NOLINT(android-cloexec-open): on purpose
    EXPECT_GE(fd_, 3);
    EXPECT_FALSE(is_cloexec(fd_)) << "precondition: the descriptor must be inheritable";
  }
  PlainFd(const PlainFd&) = delete;
  PlainFd& operator=(const PlainFd&) = delete;
  ~PlainFd() { ::close(fd_); }
  int get() const { return fd_; }

 private:
  int fd_;
};

TEST_F(FdInheritance, ChildSeesOnlyStdio) {
  EXPECT_EQ(fds_seen_through_execute(), "0 1 2");
  EXPECT_EQ(fds_seen_by_child(safeexec::SpawnOptions{}.stdin_pipe().stderr_pipe()), "0 1 2");
}

TEST_F(FdInheritance, PlainDescriptorsOfTheParentAreNotInherited) {
  const PlainFd plain;
  int p[2] = {-1, -1};
  ASSERT_EQ(::pipe(p), 0);  // NOLINT(android-cloexec-pipe): on purpose
  EXPECT_FALSE(is_cloexec(p[0]));
  // A duplicate far above the usual range, as a long-running host may hold.
  const int high = ::fcntl(plain.get(), F_DUPFD, 900);  // no F_DUPFD_CLOEXEC, on purpose
  ASSERT_GE(high, 900);

  EXPECT_EQ(fds_seen_through_execute(), "0 1 2");
  EXPECT_EQ(fds_seen_by_child(), "0 1 2");
  EXPECT_EQ(fds_seen_by_child(safeexec::SpawnOptions{}.new_process_group(true)), "0 1 2");

  ::close(p[0]);
  ::close(p[1]);
  ::close(high);
}

TEST_F(FdInheritance, ConcurrentPlainOpensNeverLeakIntoChildren) {
  // Another thread keeps opening descriptors without O_CLOEXEC (as a careless
  // library would) while we spawn: the window between its open() and any
  // fcntl() must not matter, because the child closes everything itself.
  std::atomic<bool> stop{false};
  std::atomic<long> opened{0};
  std::thread opener([&] {
    while (!stop.load()) {
      const int fd = ::open("/dev/null", O_RDONLY);  // NOLINT(android-cloexec-open)
      int p[2];
      const bool piped = ::pipe(p) == 0;  // NOLINT(android-cloexec-pipe)
      if (fd >= 0) ::close(fd);
      if (piped) {
        ::close(p[0]);
        ::close(p[1]);
      }
      ++opened;
    }
  });
  int bad = 0;
  std::string first_bad;
  for (int i = 0; i < 50; ++i) {
    const std::string seen = (i % 2 == 0) ? fds_seen_through_execute() : fds_seen_by_child();
    if (seen != "0 1 2") {
      if (bad++ == 0) first_bad = seen;
    }
  }
  stop = true;
  opener.join();
  EXPECT_EQ(bad, 0) << "first leak seen: '" << first_bad << "'";
  EXPECT_GT(opened.load(), 0);
}

TEST_F(FdInheritance, KeepFdPassesExactlyThatDescriptor) {
  const PlainFd not_kept;
  const int kept = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(kept, 3);
  const std::string seen =
      fds_seen_by_child(safeexec::SpawnOptions{}.stdin_mode(safeexec::Stdio::null).keep_fd(kept));
  EXPECT_EQ(seen, "0 1 2 " + std::to_string(kept));
  // The child cleared close-on-exec in its own table, not in ours.
  EXPECT_TRUE(is_cloexec(kept));
  ::close(kept);
}

TEST_F(FdInheritance, KeepFdRefusesStdioAndClosedDescriptors) {
  safeexec::testing::clear_faults();
  EXPECT_THROW(safeexec::create_process(child_cmd({"fds"}), safeexec::SpawnOptions{}.keep_fd(1)),
               safeexec::InvalidArgument);
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 3);
  ::close(fd);
  EXPECT_THROW(safeexec::create_process(child_cmd({"fds"}), safeexec::SpawnOptions{}.keep_fd(fd)),
               safeexec::InvalidArgument);
  EXPECT_EQ(call_count(Call::clone), 0U);
}

TEST_F(FdInheritance, CloseRangeFallbackWalksProc) {
  // close_range can be refused by seccomp (ENOSYS, EPERM) or an old kernel
  // (EINVAL); the child then walks /proc/self/fd itself.
  if (!safeexec_test_support::kernel_has_close_range()) {
    GTEST_SKIP() << "needs close_range to refuse it: on this kernel the library's probe finds "
                    "none and never calls it (every spawn here already takes the fallback)";
  }
  const safeexec_test::DirectSpawns direct;  // the fault is injected into the direct child
  const PlainFd plain;
  for (const int error : {ENOSYS, EPERM, EINVAL}) {
    SCOPED_TRACE(::strerrorname_np(error));
    safeexec::testing::clear_faults();
    inject_fault(Call::close_range, 1, error);
    EXPECT_EQ(fds_seen_by_child(), "0 1 2");
    EXPECT_EQ(faults_fired(), 1U) << "the child never asked for close_range";
    EXPECT_EQ(call_count(Call::close_range), 1U);
  }
  // The same through execute().
  safeexec::testing::clear_faults();
  inject_fault(Call::close_range, 1, ENOSYS);
  EXPECT_EQ(fds_seen_through_execute(), "0 1 2");
  EXPECT_EQ(faults_fired(), 1U);
}

TEST_F(FdInheritance, EveryLibraryDescriptorIsCloseOnExec) {
  safeexec::Process p =
      safeexec::create_process(child_cmd({"sleep", "10000"}), safeexec::SpawnOptions{}.all_pipes());
  // No pidfd on a kernel without them (ci/kernels' no-pidfd profile).
  const bool pidfds = safeexec_test_support::kernel_has_pidfd();
  EXPECT_EQ(p.pidfd() >= 0, pidfds) << "pidfd " << p.pidfd();
  for (const int fd : {p.stdin_fd(), p.stdout_fd(), p.stderr_fd(), p.pidfd()}) {
    if (fd == p.pidfd() && !pidfds) continue;
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(is_cloexec(fd)) << "descriptor " << fd << " is inheritable";
  }
  EXPECT_NE(::fcntl(p.stdin_fd(), F_GETFL) & O_NONBLOCK, 0) << "stdin end must not block";
  p.terminate(1s);
}

/// What a child started by someone else (plain posix_spawn, no closing of
/// descriptors) finds open, as a list of numbers.
std::vector<int> fds_seen_by_foreign_child() {
  int out[2] = {-1, -1};
  EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  const std::vector<std::string> argv_s = child_cmd({"fds"});
  std::vector<char*> argv;
  for (const std::string& a : argv_s) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  EXPECT_EQ(rc, 0);
  std::string text;
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (rc == 0 && std::chrono::steady_clock::now() < end) {
    pollfd pfd{out[0], POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  if (rc == 0) {
    int status = 0;
    const bool reaped =
        safeexec_test::eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 10s);
    if (!reaped) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
  std::vector<int> fds;
  std::istringstream in(text);
  int fd = 0;
  while (in >> fd) fds.push_back(fd);
  return fds;
}

TEST_F(FdInheritance, OtherSpawnersNeverInheritOurPipes) {
  // A sibling child that inherits our pipe ends holds them open: the reader
  // then never sees EOF. Nothing of ours may be inheritable.
  safeexec::Process p =
      safeexec::create_process(child_cmd({"sleep", "10000"}), safeexec::SpawnOptions{}.all_pipes());
  const std::vector<int> foreign = fds_seen_by_foreign_child();
  EXPECT_FALSE(foreign.empty());
  for (const int ours : {p.stdin_fd(), p.stdout_fd(), p.stderr_fd(), p.pidfd()}) {
    EXPECT_EQ(std::count(foreign.begin(), foreign.end(), ours), 0)
        << "a foreign child inherited our descriptor " << ours;
  }
  p.terminate(1s);
}

}  // namespace
