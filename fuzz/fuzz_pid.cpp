// fuzz_pid - pids entering the API as text or numbers (F07, F08).
//
// Input layout (see fuzz_input.hpp; fuzz/make_seeds.py writes seeds):
//   the last byte: op (mod 64). 0..47: every other byte is the text given to
//   parse_pid. 48..63: then from the end a 32-bit pid, a 32-bit signal and a
//   flags byte (bit 0: run_as_root, bit 1: also check our own pid, bits 2-3:
//   which /proc query), and from
//   the front an expected argv word; (op - 48) % 5 picks validate_pid,
//   kill_process(pid, 0), process_is_running + read_cmdline,
//   get_root_helper_child_pid, or kill_process with an out-of-range signal;
//   op 63 runs the /proc queries on a valid pid.
//
// Invariants:
//   * parse_pid accepts exactly the canonical decimal form of 1..pid_max()
//     (digits only, no sign, no space, no leading zero, at most 10 digits):
//     it never yields 0, a negative pid or one above pid_max, the value it
//     yields prints back to the very text, and "12; rm -rf /" is an error;
//     its message holds only printable bytes;
//   * validate_pid refuses exactly pid <= 0 and pid > pid_max();
//   * kill_process, process_is_running, read_cmdline and
//     get_root_helper_child_pid refuse an invalid pid with InvalidArgument
//     (kill() is never reached: with signal 0 even a broken check would
//     harm nobody, so the target only ever passes signal 0 or a signal
//     number the kernel rejects itself);
//   * kill_process refuses a signal outside 0..64 with InvalidArgument;
//   * with a valid pid, the /proc queries answer without throwing, and
//     get_root_helper_child_pid yields nothing or a valid pid; our own pid
//     is running, probe-able with signal 0, and has a command line; no
//     descriptor is left open.
// In-process and cheap: well over 10^5 exec/s.
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "fuzz_utils.hpp"
#include "safeexec/safeexec.hpp"

namespace {

using safeexec::InvalidArgument;
using safeexec_fuzz::printable;

// A pid is at most 10 digits; longer texts only test the length check again.
constexpr std::size_t kMaxInputBytes = 256;

template <class F>
bool refused(F&& f, const char* what) {
  try {
    f();
  } catch (const InvalidArgument& e) {
    const std::string_view msg = e.what();
    for (char c : msg) {
      const auto u = static_cast<unsigned char>(c);
      FUZZ_CHECK(
          u >= 0x20 && u < 0x7f,
          std::string(what) + ": message holds a raw control or non-ASCII byte: " + printable(msg));
    }
    return true;
  } catch (const std::exception& e) {
    FUZZ_CHECK(false,
               std::string(what) + " threw something other than InvalidArgument: " + e.what());
  }
  return false;
}

void check_parse(const std::string& text) {
  const pid_t max = safeexec::pid_max();
  bool canonical = !text.empty() && text.size() <= 10 && text[0] != '0';
  unsigned long long value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      canonical = false;
      break;
    }
    value = value * 10 + static_cast<unsigned long long>(c - '0');
  }
  const bool want = canonical && value >= 1 && value <= static_cast<unsigned long long>(max);

  pid_t got = 0;
  const bool was_refused = refused([&] { got = safeexec::parse_pid(text); }, "parse_pid");
  FUZZ_CHECK(was_refused == !want, "parse_pid " + std::string(want ? "refused" : "accepted") +
                                       " the text " + printable(text));
  if (!was_refused) {
    FUZZ_CHECK(got > 0 && got <= max,
               "parse_pid yielded an out-of-range pid " + std::to_string(got));
    FUZZ_CHECK(std::to_string(got) == text,
               "parse_pid's value does not print back to " + printable(text));
  }
}

/// One pid-taking call per input (an exception under ASan costs microseconds,
/// so each input makes at most a couple of them).
void check_numeric(unsigned op, std::int32_t pid, std::int32_t signal, std::uint8_t flags,
                   const std::string& word) {
  const pid_t max = safeexec::pid_max();
  const bool valid = pid > 0 && pid <= max;
  const std::vector<std::string> expected_argv = {word};
  const bool run_as_root = (flags & 1U) != 0;
  const std::string p = std::to_string(pid);

  switch (op) {
    case 0:
      FUZZ_CHECK(refused([&] { safeexec::validate_pid(pid); }, "validate_pid") == !valid,
                 "validate_pid disagrees on " + p);
      return;
    case 1:
      // Signal 0 only: even a broken pid check could then harm nobody.
      if (!valid) {
        FUZZ_CHECK(refused([&] { safeexec::kill_process(pid, 0); }, "kill_process"),
                   "kill_process accepted the invalid pid " + p);
      }
      return;
    case 2:
      if (!valid) {
        FUZZ_CHECK(refused([&] { safeexec::process_is_running(pid); }, "process_is_running"),
                   "process_is_running accepted the invalid pid " + p);
        FUZZ_CHECK(refused([&] { safeexec::read_cmdline(pid); }, "read_cmdline"),
                   "read_cmdline accepted the invalid pid " + p);
      }
      return;
    case 3:
      if (!valid) {
        FUZZ_CHECK(
            refused([&] { safeexec::get_root_helper_child_pid(pid, expected_argv, run_as_root); },
                    "get_root_helper_child_pid"),
            "get_root_helper_child_pid accepted the invalid pid " + p);
      }
      return;
    case 4:
      // Only out-of-range signal numbers, which kill() itself would reject
      // with EINVAL, and only at our own pid.
      if (signal < 0 || signal > 64) {
        FUZZ_CHECK(refused([&] { safeexec::kill_process(::getpid(), signal); }, "kill_process"),
                   "kill_process accepted the signal " + std::to_string(signal));
      }
      return;
    default:
      break;
  }

  // /proc queries on a valid pid.
  if (!valid) return;
  const auto before = safeexec_fuzz::ProcessSnapshot::take(/*full=*/false);
  try {
    // One query per input (bits 2-4 of flags): each is a few syscalls.
    switch ((flags >> 2) % 4U) {
      case 0:
        (void)safeexec::process_is_running(pid);
        break;
      case 1:
        (void)safeexec::read_cmdline(pid);
        (void)safeexec::pid_invoked_with_cmdline(pid, expected_argv);
        break;
      case 2: {
        // With run_as_root the call walks every descendant of `pid`, reading
        // each one's command line: from pid 1 (which the fuzzer learns fast)
        // that is every process on the machine, 100+ opens and reads, about a
        // millisecond - the inputs doing it were most of this target's time.
        // The walk is the same code from a smaller root, so it starts here
        // at this process or its parent (a shell or the fuzzing driver).
        const pid_t root = !run_as_root ? pid : (pid % 2 == 0 ? ::getpid() : ::getppid());
        const auto child = safeexec::get_root_helper_child_pid(root, expected_argv, run_as_root);
        FUZZ_CHECK(!child || (*child > 0 && *child <= max),
                   "get_root_helper_child_pid yielded an invalid pid " + std::to_string(*child));
        break;
      }
      default:
        try {
          (void)safeexec::kill_process(pid, 0);
        } catch (const safeexec::KillError& e) {
          // Not root (a fuzzing machine may not be): another user's process.
          FUZZ_CHECK(e.error_code() == EPERM && e.pid() == pid && e.signal() == 0,
                     std::string("kill_process(pid, 0) failed oddly: ") + e.what());
        }
    }
    if ((flags & 2U) != 0) {
      const pid_t self = ::getpid();
      FUZZ_CHECK(safeexec::process_is_running(self), "process_is_running(getpid()) is false");
      FUZZ_CHECK(safeexec::kill_process(self, 0) == safeexec::KillOutcome::delivered,
                 "signal 0 to ourselves was not delivered");
      const auto own = safeexec::read_cmdline(self);
      FUZZ_CHECK(own && !own->empty(), "read_cmdline(getpid()) is empty");
      FUZZ_CHECK(safeexec::pid_invoked_with_cmdline(self, *own), "our own cmdline does not match");
      const auto self_check = safeexec::get_root_helper_child_pid(self, *own, false);
      FUZZ_CHECK(self_check == self,
                 "get_root_helper_child_pid(getpid(), not root) is not getpid()");
    }
  } catch (const safeexec::Error& e) {
    FUZZ_CHECK(false, "a query on the valid pid " + p + " threw: " + e.what());
  }
  const auto after = safeexec_fuzz::ProcessSnapshot::take(/*full=*/false);
  FUZZ_CHECK(after.fds == before.fds, "a /proc query left a descriptor open: " + after.str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // kill_process logs each KillError once; keep that off the fuzzer's stderr.
  safeexec::set_log_sink([](safeexec::LogLevel, std::string_view) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxInputBytes) return 0;
  safeexec_fuzz::FuzzInput in(data, size);
  // op 0..47: parse_pid (the hot path: most inputs); 48..62 a pid-taking
  // call; 63: the /proc queries (a dozen syscalls, so the rarest).
  const auto op = in.integral_in_range<unsigned>(0, 63);
  if (op < 48) {
    check_parse(in.remaining_as_string());
    return 0;
  }
  const auto pid = in.integral<std::int32_t>();
  const auto signal = in.integral<std::int32_t>();
  const auto flags = in.integral<std::uint8_t>();
  check_numeric(op == 63 ? 5 : (op - 48) % 5, pid, signal, flags, in.random_length_string(64));
  return 0;
}
