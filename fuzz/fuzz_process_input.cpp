// fuzz_process_input - arbitrary bytes as process_input through execute()
// (F09, F13, F14, F05).
//
// Input layout (see fuzz_input.hpp; fuzz/make_seeds.py writes seeds):
//   from the end: mode (0..7, below), a 32-bit parameter, a flags byte
//                 (bit 0 return_stderr, bit 1 log_fail_as_error, bits 2-3 how
//                 exit codes are judged), a repeat count (0..1023: the
//                 payload is sent 1 + count times, up to 1 MiB), the excerpt
//                 length (0..2048);
//   from the front: the payload, all remaining bytes.
//
// Modes of the helper child (the light one, safeexec-fuzz-child: same modes
// and output as the full helper, see fuzz_child.cpp), and what must come back:
//   0 echo                    out == input, exit 0
//   1 write-then-echo N       writes N bytes (0, 1, 4 KiB, 64 KiB, 200 KB) to
//                             stdout AND stderr before it reads a byte:
//                             out == pattern(N) + input, err == pattern(N)
//                             (no deadlock on full pipes)
//   2 read-some N             reads N bytes, closes stdin early, echoes them:
//                             out == input[0, N) (EPIPE absorbed, no SIGPIPE)
//   3 ignore-stdin            exits at once without reading: exit 0, out empty
//   4 exit N                  exits N unread: ProcessExecutionError carrying N,
//                             unless N is an extra ok code or checks are off
//   5 signal S                dies by S: ProcessExecutionError, status signaled(S)
//   6 echo, max_output L      OutputLimitError("stdout", L) iff |input| > L
//   7 sleep, timeout 1..5 ms  TimeoutError(T), back within T + grace (+ slack)
// On every input, whatever the outcome: only safeexec's typed errors; the
// error text, its excerpts and every log line never contain the input (for
// inputs of 8 bytes or more; see check_no_input_in for the false-positive
// guard); and afterwards this process has exactly the descriptors it had
// and no child.
#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "fuzz_utils.hpp"
#include "safeexec/safeexec.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec_fuzz::printable;

// 1 MiB is 16 times the default 64 KiB pipe buffer: far enough past it to
// need many rounds of the poll loop in both directions. Larger inputs only
// cost time. The repeat count reaches that size from a small input.
constexpr std::size_t kMaxPayloadBytes = (1U << 20) + 4096;
constexpr std::size_t kMaxInputBytes = kMaxPayloadBytes + 64;
constexpr std::size_t kNeedleMin = 8;   // shorter inputs occur in any text by chance
constexpr std::size_t kNeedleMax = 64;  // a prefix finds whole and cut copies alike

constexpr std::array<long, 5> kWriteFirst = {0, 1, 4096, 65536, 200000};
constexpr std::array<int, 6> kSignals = {SIGTERM, SIGKILL, SIGINT, SIGUSR1, SIGPIPE, SIGHUP};

struct Case {
  unsigned mode = 0;
  std::uint32_t param = 0;
  bool return_stderr = true;
  bool log_fail_as_error = true;
  unsigned exit_check = 0;  // 0 check, 1 code is an extra ok code, 2 no check, 3 another code ok
  std::size_t excerpt_bytes = 1024;
};

/// The first n bytes write-then-echo / spew emit: 64 KiB blocks of
/// 'a' + i % 26. Built once: a fresh 200 KB string per input, byte by byte
/// under ASan, cost more than the spawn.
std::string_view helper_pattern(long n) {
  static const std::string pattern = [] {
    const long most = *std::max_element(kWriteFirst.begin(), kWriteFirst.end());
    std::string out(static_cast<std::size_t>(most), '\0');
    for (long j = 0; j < most; ++j) {
      out[static_cast<std::size_t>(j)] = static_cast<char>('a' + (j % 65536) % 26);
    }
    return out;
  }();
  return std::string_view(pattern).substr(0, static_cast<std::size_t>(n));
}

struct Plan {
  std::vector<std::string> argv;
  safeexec::ExecuteOptions options;
};

Plan plan_for(const Case& c, const std::string& input) {
  Plan p;
  p.argv = {safeexec_fuzz::light_child()};
  p.options.process_input(input)
      .return_stderr(c.return_stderr)
      .log_fail_as_error(c.log_fail_as_error)
      .excerpt_bytes(c.excerpt_bytes)
      .timeout(10s)
      .kill_grace(100ms);
  switch (c.mode) {
    case 0:
      p.argv.push_back("echo");
      break;
    case 1:
      p.argv.insert(p.argv.end(),
                    {"write-then-echo", std::to_string(kWriteFirst[c.param % kWriteFirst.size()])});
      break;
    case 2:
      p.argv.insert(p.argv.end(), {"read-some", std::to_string(c.param % (input.size() + 2))});
      break;
    case 3:
      p.argv.push_back("ignore-stdin");
      break;
    case 4:
    case 5: {
      const int value =
          c.mode == 4 ? static_cast<int>(1 + c.param % 255) : kSignals[c.param % kSignals.size()];
      p.argv.insert(p.argv.end(), {c.mode == 4 ? "exit" : "signal", std::to_string(value)});
      if (c.exit_check == 1) p.options.extra_ok_codes({value});
      if (c.exit_check == 2) p.options.check_exit_code(false);
      if (c.exit_check == 3) p.options.extra_ok_codes({value == 255 ? 1 : value + 1});
      break;
    }
    case 6:
      p.argv.push_back("echo");
      p.options.max_output_bytes(c.param % (input.size() + 2));
      break;
    default:
      p.argv.insert(p.argv.end(), {"sleep", "10000"});
      // 1..5 ms: the path is the same for any timeout, and every millisecond
      // here is wall-clock time the fuzzer waits.
      p.options.timeout(std::chrono::milliseconds(1 + c.param % 5)).kill_grace(50ms);
      break;
  }
  return p;
}

/// Everything a run shows to people: the error text, its excerpts, log lines.
struct Run {
  std::optional<safeexec::ExecuteResult> result;
  std::vector<std::string> texts;
  std::exception_ptr error;  // what execute() threw, if anything
  std::chrono::steady_clock::duration elapsed{};
};

Run run(const Plan& p) {
  auto& log = safeexec_fuzz::LogCapture::install();
  log.clear();
  Run r;
  const auto start = std::chrono::steady_clock::now();
  try {
    r.result = safeexec::execute(p.argv, p.options);
  } catch (const safeexec::ProcessExecutionError& e) {
    r.texts = {e.what(), e.stdout_excerpt(), e.stderr_excerpt()};
    r.error = std::current_exception();
  } catch (const safeexec::Error& e) {
    r.texts = {e.what()};
    r.error = std::current_exception();
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("execute() threw a non-safeexec exception: ") + e.what());
  }
  r.elapsed = std::chrono::steady_clock::now() - start;
  for (std::string& line : log.lines()) r.texts.push_back(std::move(line));
  return r;
}

bool contains(const std::vector<std::string>& texts, std::string_view needle) {
  for (const std::string& t : texts) {
    if (t.find(needle) != std::string::npos) return true;
  }
  return false;
}

/// No text of `r` may contain the input (F13). The needle is the input's
/// first bytes, raw and as excerpt() would escape them, so that a copy of the
/// whole input, a cut one and an escaped one are all caught.
///
/// A needle of 8+ bytes can also be fixed message text: libFuzzer's memmem
/// hook hands the fuzzer the very strings we search, and it rebuilds
/// "...was killed (exited with code 0): '<build dir>/..." as input within a minute.
/// So a hit is only a suspicion; the proof is differential: the same case is
/// run again with a same-length input of one repeated byte that the message
/// text cannot hold ("ZZZZZZZZ..."), and the input counts as leaked only when
/// that filler shows up in the second run's texts. (Comparing whole texts
/// would not do: the status in a kill message depends on timing.)
void check_no_input_in(const Run& r, const Case& c, const std::string& input) {
  if (input.size() < kNeedleMin) return;
  const std::string raw = input.substr(0, kNeedleMax);
  const std::string escaped = safeexec::excerpt(raw, raw.size());
  for (const std::string& needle : {raw, escaped}) {
    if (!contains(r.texts, needle)) continue;
    const std::string filler(input.size(), input[0] == 'Z' ? 'Y' : 'Z');
    const Run baseline = run(plan_for(c, filler));
    const std::string filler_needle = filler.substr(0, kNeedleMax);
    std::string shown;
    for (const std::string& t : baseline.texts) {
      if (t.find(filler_needle) != std::string::npos) shown = t;
    }
    FUZZ_CHECK(shown.empty(),
               "process input appears in an error message or log line: " + printable(shown, 512));
  }
}

void check_outcome(const Run& r, const Case& c, const Plan& p, const std::string& input) {
  const bool ok_code = c.exit_check == 1 || c.exit_check == 2;
  try {
    if (r.error) std::rethrow_exception(r.error);
    const safeexec::ExecuteResult& res = *r.result;
    // stdout must be out_head + out_tail: compared in place, since building
    // the expected text (up to 1.2 MB) per input cost as much as the spawn.
    const auto expect = [&](std::string_view out_head, std::string_view out_tail,
                            std::string_view err, safeexec::ExitStatus st) {
      FUZZ_CHECK(res.status == st, "mode " + std::to_string(c.mode) + ": status " +
                                       res.status.str() + ", expected " + st.str());
      const bool out_ok = res.out.size() == out_head.size() + out_tail.size() &&
                          res.out.compare(0, out_head.size(), out_head) == 0 &&
                          res.out.compare(out_head.size(), std::string::npos, out_tail) == 0;
      FUZZ_CHECK(out_ok, "mode " + std::to_string(c.mode) + ": stdout differs (" +
                             std::to_string(res.out.size()) + " bytes, expected " +
                             std::to_string(out_head.size() + out_tail.size()) + ")");
      const std::string_view want_err = c.return_stderr ? err : std::string_view();
      FUZZ_CHECK(res.err == want_err, "mode " + std::to_string(c.mode) + ": stderr differs (" +
                                          std::to_string(res.err.size()) + " bytes, expected " +
                                          std::to_string(want_err.size()) + ")");
    };
    const auto ok = safeexec::ExitStatus::exited(0);
    switch (c.mode) {
      case 0:
        expect({}, input, {}, ok);
        break;
      case 1: {
        const std::string_view pre = helper_pattern(kWriteFirst[c.param % kWriteFirst.size()]);
        expect(pre, input, pre, ok);
        break;
      }
      case 2:
        expect({}, std::string_view(input).substr(0, c.param % (input.size() + 2)), {}, ok);
        break;
      case 3:
        expect({}, {}, {}, ok);
        break;
      case 4:
        FUZZ_CHECK(ok_code, "a non-accepted exit code was returned, not thrown");
        expect({}, {}, {}, safeexec::ExitStatus::exited(static_cast<int>(1 + c.param % 255)));
        break;
      case 5:
        FUZZ_CHECK(c.exit_check == 2, "death by a signal was returned, not thrown");
        expect({}, {}, {}, safeexec::ExitStatus::signaled(kSignals[c.param % kSignals.size()]));
        break;
      case 6:
        FUZZ_CHECK(input.size() <= p.options.max_output_bytes(),
                   "output past max_output_bytes was returned, not refused");
        expect({}, input, {}, ok);
        break;
      default:
        FUZZ_CHECK(false, "a child sleeping past the timeout was not timed out");
    }
  } catch (const safeexec::ProcessExecutionError& e) {
    const bool exit_mode = c.mode == 4 && !ok_code;
    const bool signal_mode = c.mode == 5 && c.exit_check != 2;
    FUZZ_CHECK(exit_mode || signal_mode,
               std::string("unexpected ProcessExecutionError: ") + e.what());
    const auto want = c.mode == 4
                          ? safeexec::ExitStatus::exited(static_cast<int>(1 + c.param % 255))
                          : safeexec::ExitStatus::signaled(kSignals[c.param % kSignals.size()]);
    FUZZ_CHECK(e.status() == want,
               "ProcessExecutionError carries " + e.status().str() + ", expected " + want.str());
    FUZZ_CHECK(e.exit_code() == want.exit_code(), "ProcessExecutionError: wrong exit_code()");
    FUZZ_CHECK(e.stdout_excerpt().empty() && e.stderr_excerpt().empty(),
               "excerpts of a child that wrote nothing are not empty");
  } catch (const safeexec::OutputLimitError& e) {
    FUZZ_CHECK(c.mode == 6 && input.size() > p.options.max_output_bytes(),
               std::string("unexpected OutputLimitError: ") + e.what());
    FUZZ_CHECK(e.stream() == "stdout" && e.limit() == p.options.max_output_bytes(),
               std::string("OutputLimitError names the wrong stream or limit: ") + e.what());
  } catch (const safeexec::TimeoutError& e) {
    FUZZ_CHECK(c.mode == 7, std::string("unexpected TimeoutError (a deadlock?): ") + e.what());
    FUZZ_CHECK(e.timeout() == *p.options.timeout(), "TimeoutError carries the wrong timeout");
    // Bounded: timeout + kill_grace, plus generous slack for a loaded machine.
    FUZZ_CHECK(r.elapsed < *p.options.timeout() + p.options.kill_grace() + 5s,
               "execute() overran its timeout + kill_grace by more than 5 s");
  } catch (const safeexec::Error& e) {
    FUZZ_CHECK(false, std::string("unexpected error: ") + e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  safeexec_fuzz::locate_test_child(*argc > 0 ? (*argv)[0] : nullptr);
  safeexec_fuzz::locate_light_child(*argc > 0 ? (*argv)[0] : nullptr);
  safeexec_fuzz::LogCapture::install();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxInputBytes) return 0;
  safeexec_fuzz::FuzzInput in(data, size);
  Case c;
  c.mode = in.integral_in_range<unsigned>(0, 7);
  c.param = in.integral<std::uint32_t>();
  const auto flags = in.integral<std::uint8_t>();
  c.return_stderr = (flags & 1U) != 0;
  c.log_fail_as_error = (flags & 2U) != 0;
  c.exit_check = (flags >> 2) & 3U;
  const auto repeat = in.integral_in_range<std::size_t>(0, 1023);
  c.excerpt_bytes = in.integral_in_range<std::size_t>(0, 2048);
  const std::string payload = in.remaining_as_string();
  std::string input;
  input.reserve(std::min(kMaxPayloadBytes, payload.size() * (repeat + 1)));
  input = payload;
  for (std::size_t i = 0; i < repeat && input.size() + payload.size() <= kMaxPayloadBytes; ++i) {
    input += payload;
  }
  if (input.size() > kMaxPayloadBytes) input.resize(kMaxPayloadBytes);

  const auto before = safeexec_fuzz::ProcessSnapshot::take();
  const Plan plan = plan_for(c, input);
  const Run r = run(plan);
  check_outcome(r, c, plan, input);
  check_no_input_in(r, c, input);
  safeexec_fuzz::check_nothing_left_behind(before, "fuzz_process_input");
  // Free what this input allocated, within this input: libFuzzer re-runs an
  // input under LeakSanitizer whenever mallocs and frees do not balance.
  safeexec_fuzz::LogCapture::install().clear();
  return 0;
}
