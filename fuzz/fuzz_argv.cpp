// fuzz_argv - argv vectors through create_process()/execute() to a child
// that prints its argv (F11), and through describe_argv() (F13).
//
// Input layout (see fuzz_input.hpp; fuzz/make_seeds.py writes seeds):
//   from the end: route (0: execute, 1: create_process + communicate), shape
//                 (0..12 normal; 13 empty argv; 14 empty argv[0]; 15 argv[0]
//                 holding NUL), the number of arguments (0..24), then per
//                 argument a kind (0..6: a string from the front; 7: one byte
//                 repeated up to 140000 times, for arguments past the kernel's
//                 128 KiB MAX_ARG_STRLEN);
//   from the front: the argument strings, then a secret for describe_argv.
//
// argv[0] is always the helper child - the light one, safeexec-fuzz-child,
// which prints its argv as the full helper does - never a fuzzed program
// name (a fuzzer must not get to run `reboot`); argv[1] is its mode `argv`,
// the fuzzed arguments follow. Invariants:
//   * an empty argv, an empty argv[0], or a NUL in any argument is refused
//     with InvalidArgument before any pipe or clone;
//   * an argument of MAX_ARG_STRLEN bytes or more fails with SpawnError at
//     stage exec with E2BIG (the kernel's answer, passed on as it is);
//   * otherwise the child prints exactly the fuzzed arguments, byte for byte:
//     no shell, no splitting, no globbing, no expansion, no quote removal;
//     it exits 0 with nothing on stderr;
//   * describe_argv() never shows a masked secret and holds no control byte
//     (fuzz_message checks the rendering itself in depth);
//   * afterwards this process has exactly the descriptors it had, and no child.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "fuzz_utils.hpp"
#include "safeexec/safeexec.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace {

using safeexec_fuzz::printable;

// Up to 24 arguments of up to 4 KiB each from the input bytes; longer
// arguments come from the repeat encoding, so the input itself stays small.
constexpr std::size_t kMaxInputBytes = 128 * 1024;
// Total argument bytes per input: room for one argument just past the
// kernel's 128 KiB MAX_ARG_STRLEN (the E2BIG edge), far below its limit on
// argv+envp (a quarter of the stack rlimit, 2 MiB by default), so that only
// the per-argument limit decides E2BIG. Every byte costs: describe_argv and
// the comparison walk it under ASan and coverage instrumentation.
constexpr std::size_t kMaxTotalArgBytes = 144 * 1024;
constexpr std::size_t kMaxRepeat = 140000;
// describe_argv is checked directly on argv up to this size (execute() still
// runs it on every argv); longer ones take the same path, only slower.
constexpr std::size_t kMaxDescribeBytes = 16 * 1024;

std::size_t g_max_arg_strlen = 0;  // MAX_ARG_STRLEN: 32 pages, NUL included
std::size_t g_total_limit = 0;     // the kernel's limit on argv + envp

bool has_nul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

std::size_t environment_bytes() {
  std::size_t n = 0;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    n += std::string_view(*e).size() + 1 + sizeof(char*);
  }
  return n;
}

void check_describe_argv(const std::vector<std::string>& argv, const std::string& raw_secret) {
  // Only secrets that escaping and quoting cannot produce by themselves:
  // [A-Za-z0-9_.-], with at least one byte outside "x0123456789abcdefntr"
  // (the alphabet of a \xNN escape and of \n, \t, \r: a tab in an
  // argument is shown as \t, which is not the secret "t").
  std::string secret;
  for (char c : raw_secret) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (ok) secret.push_back(c);
  }
  const std::string described = safeexec::describe_argv(argv, {secret});
  for (char c : described) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u >= 0x20 && u < 0x7f,
               "describe_argv let a control or non-ASCII byte through: " + printable(described));
  }
  if (!secret.empty() && secret.find_first_not_of("x0123456789abcdefntr") != std::string::npos) {
    FUZZ_CHECK(described.find(secret) == std::string::npos,
               "describe_argv shows the secret " + secret + " in " + printable(described));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  safeexec_fuzz::locate_test_child(*argc > 0 ? (*argv)[0] : nullptr);
  safeexec_fuzz::locate_light_child(*argc > 0 ? (*argv)[0] : nullptr);
  // Spawn failures (E2BIG) are logged; keep them off the fuzzer's output.
  safeexec_fuzz::LogCapture::install();
  const long page = ::sysconf(_SC_PAGESIZE);
  g_max_arg_strlen = 32 * static_cast<std::size_t>(page > 0 ? page : 4096);
  rlimit stack{};
  g_total_limit = ::getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur != RLIM_INFINITY
                      ? static_cast<std::size_t>(stack.rlim_cur / 4)
                      : static_cast<std::size_t>(6) * 1024 * 1024 / 4 * 3;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxInputBytes) return 0;
  safeexec_fuzz::LogCapture::install().clear();
  safeexec_fuzz::FuzzInput in(data, size);
  const bool via_process = in.boolean();
  const auto shape = in.integral_in_range<unsigned>(0, 15);
  const auto n_args = in.integral_in_range<std::size_t>(0, 24);

  std::vector<std::string> args;
  std::size_t total = 0;
  for (std::size_t i = 0; i < n_args; ++i) {
    std::string arg;
    if (in.integral_in_range<unsigned>(0, 7) == 7) {
      const auto byte = in.integral<std::uint8_t>();
      const auto count = in.integral_in_range<std::size_t>(0, kMaxRepeat);
      arg.assign(count, static_cast<char>(byte));
    } else {
      arg = in.random_length_string(4096);
    }
    if (total + arg.size() > kMaxTotalArgBytes) arg.resize(kMaxTotalArgBytes - total);
    total += arg.size();
    args.push_back(std::move(arg));
  }
  const std::string secret = in.random_length_string(32);

  std::vector<std::string> argv;
  if (shape != 13) {
    argv.push_back(shape == 14   ? std::string()
                   : shape == 15 ? safeexec_fuzz::light_child() + std::string("\0x", 2)
                                 : safeexec_fuzz::light_child());
    argv.push_back("argv");
    argv.insert(argv.end(), args.begin(), args.end());
  }
  if (total <= kMaxDescribeBytes) check_describe_argv(argv, secret);

  bool expect_invalid = shape >= 13;
  bool expect_e2big = false;
  std::size_t strings_bytes = 0;
  for (const std::string& a : argv) {
    expect_invalid = expect_invalid || has_nul(a);
    expect_e2big = expect_e2big || a.size() + 1 > g_max_arg_strlen;
    strings_bytes += a.size() + 1 + sizeof(char*);
  }
  // Near the kernel's total limit either outcome is right; kMaxTotalArgBytes
  // keeps that from happening with the default 8 MiB stack rlimit.
  const bool may_e2big =
      expect_e2big || strings_bytes + environment_bytes() + 65536 > g_total_limit;

  std::string expected_out;
  for (const std::string& a : args) {
    expected_out += a;
    expected_out.push_back('\0');
  }

  const auto before = safeexec_fuzz::ProcessSnapshot::take();
  const auto attempts = safeexec_fuzz::SpawnAttempts::now();
  const auto deadline = safeexec::deadline_after(std::chrono::seconds(10));
  try {
    std::string out;
    std::string err;
    safeexec::ExitStatus status;
    if (via_process) {
      safeexec::Process p = safeexec::create_process(argv, safeexec::SpawnOptions{}.all_pipes());
      safeexec::Output o = p.communicate({}, deadline);
      const auto st = p.wait_until(deadline);
      FUZZ_CHECK(st.has_value(), "the argv child did not exit within 10 s");
      status = *st;
      out = std::move(o.out);
      err = std::move(o.err);
    } else {
      safeexec::ExecuteResult r =
          safeexec::execute(argv, safeexec::ExecuteOptions{}.timeout(std::chrono::seconds(10)));
      status = r.status;
      out = std::move(r.out);
      err = std::move(r.err);
    }
    FUZZ_CHECK(!expect_invalid, "an invalid argv was started");
    FUZZ_CHECK(!expect_e2big, "an argument past MAX_ARG_STRLEN was started");
    FUZZ_CHECK(status == safeexec::ExitStatus::exited(0),
               "the argv child ended with " + status.str() + "; stderr: " + printable(err));
    FUZZ_CHECK(err.empty(), "the argv child wrote to stderr: " + printable(err));
    FUZZ_CHECK(out == expected_out,
               "the child's argv differs from ours\n  sent:     " + printable(expected_out) +
                   "\n  received: " + printable(out));
  } catch (const safeexec::InvalidArgument& e) {
    FUZZ_CHECK(expect_invalid, std::string("a valid argv was refused: ") + e.what());
    FUZZ_CHECK(safeexec_fuzz::SpawnAttempts::now() == attempts,
               "an invalid argv was refused only after a pipe or a child was created");
  } catch (const safeexec::SpawnError& e) {
    FUZZ_CHECK(!expect_invalid, std::string("an invalid argv reached the spawn: ") + e.what());
    FUZZ_CHECK(may_e2big && e.stage() == safeexec::SpawnStage::exec && e.error_code() == E2BIG,
               std::string("unexpected spawn failure: ") + e.what());
    FUZZ_CHECK(e.program() == argv.front(), "SpawnError names the wrong program");
  } catch (const safeexec::Error& e) {
    FUZZ_CHECK(false, std::string("unexpected error: ") + e.what());
  }
  safeexec_fuzz::check_nothing_left_behind(before, "fuzz_argv");
  // Free what this input allocated, within this input: libFuzzer re-runs an
  // input under LeakSanitizer whenever mallocs and frees do not balance.
  safeexec_fuzz::LogCapture::install().clear();
  return 0;
}
