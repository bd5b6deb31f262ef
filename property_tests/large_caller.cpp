// See large_caller.hpp.
#include "large_caller.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "safeexec/safeexec.hpp"
#include "support.hpp"
#include "support/child_census.hpp"

// A ThreadSanitizer build of the library never borrows (its child is a
// real fork: fd_borrow.hpp), so there the check below has nothing to see.
#if defined(__SANITIZE_THREAD__)
#define SAFEEXEC_PROPS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SAFEEXEC_PROPS_TSAN 1
#endif
#endif
#if defined(SAFEEXEC_PROPS_TSAN)
constexpr bool kLibraryCanBorrow = false;
#else
constexpr bool kLibraryCanBorrow = true;
#endif

namespace safeexec_props {
namespace {

constexpr int kHigh = safeexec::kAutomaticServerFd + 5;

/// Our own look, not the library's: can a forked child take a descriptor
/// of ours with pidfd_getfd (the kernel has it, no filter or ptrace policy
/// refuses it)?
bool a_child_can_borrow_here() {
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    const long p = ::syscall(SYS_pidfd_open, ::getppid(), 0U);
    ::_exit(p >= 0 && ::syscall(SYS_pidfd_getfd, p, 0, 0U) >= 0 ? 0 : 1);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string make_caller_large() {
  rlimit l{};
  if (::getrlimit(RLIMIT_NOFILE, &l) != 0) return "getrlimit failed";
  const auto needed = static_cast<rlim_t>(kHigh) + 64;
  if (l.rlim_cur < needed) {
    if (l.rlim_max != RLIM_INFINITY && l.rlim_max < needed) {
      return "RLIMIT_NOFILE's hard limit " + std::to_string(l.rlim_max) + " is below " +
             std::to_string(needed);
    }
    l.rlim_cur = needed;
    if (::setrlimit(RLIMIT_NOFILE, &l) != 0) return "setrlimit failed";
  }
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::dup3(fd, kHigh, O_CLOEXEC) != kHigh) return "no descriptor at the threshold";
  ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past the library's 10 ms probe

  // A direct sleeper of the large caller (a served one has the server's
  // small table anyway): its table's size says whether it was copied.
  safeexec::Process p = safeexec::create_process(
      {helper_path(), "sleep", "10000"},
      safeexec::SpawnOptions{}.spawn_strategy(safeexec::SpawnStrategy::direct));
  const std::string size = safeexec_test_support::status_value(
      safeexec_test_support::proc_pid_file(p.pid(), "status"), "FDSize");
  (void)p.terminate();
  if (kLibraryCanBorrow && a_child_can_borrow_here() &&
      (size.empty() || std::atoi(size.c_str()) >= kHigh)) {
    return "a child of the large caller has FDSize " + size +
           ": its table was copied, although a child can borrow here";
  }
  return {};
}

}  // namespace

std::string make_caller_large_once() {
  static const std::string result = [] {
    const char* want = std::getenv("SAFEEXEC_PROPS_LARGE_CALLER");
    return want != nullptr && std::string(want) == "1" ? make_caller_large() : std::string();
  }();
  return result;
}

}  // namespace safeexec_props
