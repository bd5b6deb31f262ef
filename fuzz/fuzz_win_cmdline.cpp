// fuzz_win_cmdline - the Windows command line as pure functions (F11 on
// Windows; core/src/win_cmdline.hpp), fuzzed on Linux, replayed under Wine.
//
// Input: a mode flag and up to 8 strings (fuzz_input.hpp's layout).
//   * argv mode: make_command_line(argv) either refuses with InvalidArgument
//     - and then argv really holds a NUL, a '"' in the program name, invalid
//     UTF-8, or is too long - or returns a line that parse_command_line
//     splits back into exactly argv.
//   * batch mode: make_batch_command_line(cmd, script, args) either refuses
//     for a stated reason or returns a line in which, by the cmd.exe model
//     of core/tests/support/win_batch_oracle.hpp, no & | < > ^ ( ) ! or
//     separator reaches cmd unquoted, no %NAME% but the no-op %cd:~,% can
//     expand, and no quote ends an argument early (same word count).
// On Windows (the replay build under Wine or on a runner), argv mode also
// checks the real CommandLineToArgvW and, when SAFEEXEC_TEST_CHILD names
// the helper child, what the child's C runtime put in __wargv.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../core/src/win_cmdline.hpp"
#include "../core/tests/support/win_batch_oracle.hpp"
#include "fuzz_input.hpp"
#include "safeexec/errors.hpp"

#ifdef _WIN32
#include <windows.h>
// shellapi.h needs windows.h first.
#include <shellapi.h>

#include "safeexec/execute.hpp"
#endif

namespace {

namespace win = safeexec::detail::win;

[[noreturn]] void broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_win_cmdline: invariant broken: %s\n%s\n", what, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

std::string show(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += "[";
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u >= 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", u);
        out += buf;
      } else {
        out.push_back(c);
      }
    }
    out += "] ";
  }
  return out;
}

bool valid_utf8(const std::string& s) {
  try {
    (void)win::utf8_to_utf16(s);
    return true;
  } catch (const safeexec::InvalidArgument&) {
    return false;
  }
}

std::size_t units(const std::string& s) {
  try {
    return win::utf8_to_utf16(s).size();
  } catch (const safeexec::InvalidArgument&) {
    return 0;
  }
}

#ifdef _WIN32
void check_real_parsers(const std::vector<std::string>& argv, const std::string& line) {
  const std::u16string wide = win::utf8_to_utf16(line);
  int argc = 0;
  LPWSTR* wargv = CommandLineToArgvW(reinterpret_cast<const wchar_t*>(wide.c_str()), &argc);
  std::vector<std::string> seen;
  for (int i = 0; wargv != nullptr && i < argc; ++i) {
    seen.push_back(win::utf16_to_utf8(reinterpret_cast<const char16_t*>(wargv[i])));
  }
  if (wargv != nullptr) LocalFree(wargv);
  // CommandLineToArgvW returns the program's path for an empty program name.
  if (!argv[0].empty() && seen != argv) {
    broken("CommandLineToArgvW disagrees", show(argv) + "\n-> " + show(seen) + "\n" + line);
  }
  const char* helper = std::getenv("SAFEEXEC_TEST_CHILD");
  if (helper == nullptr || *helper == '\0') return;
  std::vector<std::string> cmd = {helper, "argv"};
  cmd.insert(cmd.end(), argv.begin() + 1, argv.end());
  std::string out;
  try {
    out = safeexec::execute(cmd).out;
  } catch (const safeexec::InvalidArgument&) {
    return;  // the longer line (helper path) may pass the limit: refused, fine
  }
  std::vector<std::string> child;
  std::size_t start = 0;
  while (start < out.size()) {
    const std::size_t end = out.find('\0', start);
    child.push_back(out.substr(start, end - start));
    start = end + 1;
  }
  const std::vector<std::string> want(argv.begin() + 1, argv.end());
  if (child != want) broken("the child's __wargv disagrees", show(want) + "\n-> " + show(child));
}
#endif

void argv_mode(const std::vector<std::string>& argv) {
  std::string line;
  try {
    line = win::make_command_line(argv);
  } catch (const safeexec::InvalidArgument& e) {
    bool reason = argv.empty() || argv[0].find('"') != std::string::npos;
    std::size_t total = 0;
    for (const auto& a : argv) {
      reason = reason || a.find('\0') != std::string::npos || !valid_utf8(a);
      total += units(a) + 3;
    }
    // Quoting can more than double an argument (backslashes before quotes).
    reason = reason || total * 2 + 8 >= win::kMaxCommandLineUnits;
    if (!reason) broken("make_command_line refused a valid argv", show(argv) + e.what());
    return;
  }
  if (units(line) >= win::kMaxCommandLineUnits) broken("over-long line accepted", show(argv));
  const std::vector<std::string> back = win::parse_command_line(line);
  if (back != argv)
    broken("parse(quote(argv)) != argv", show(argv) + "\n-> " + show(back) + "\n" + line);
#ifdef _WIN32
  check_real_parsers(argv, line);
#endif
}

void batch_mode(const std::vector<std::string>& argv) {
  const std::string script = argv.empty() ? "x.bat" : "C:\\dir\\" + argv[0] + ".bat";
  const std::vector<std::string> args(argv.empty() ? argv.begin() : argv.begin() + 1, argv.end());
  std::string line;
  try {
    line = win::make_batch_command_line("C:\\Windows\\System32\\cmd.exe", script, args);
  } catch (const safeexec::InvalidArgument& e) {
    bool reason = script.find_first_of("\"%") != std::string::npos || !valid_utf8(script) ||
                  script.find('\0') != std::string::npos;
    std::size_t total = units(script);
    for (const auto& a : args) {
      reason = reason || a.find_first_of(std::string("\r\n\0\"", 4)) != std::string::npos ||
               !valid_utf8(a);
      total += 8 * units(a) + 3;  // '%' becomes 8 characters
    }
    reason = reason || total + 64 >= win::kMaxCommandLineUnits;
    if (!reason) broken("make_batch_command_line refused valid input", show(argv) + e.what());
    return;
  }
  const std::string violation = safeexec_test::batch_line_violation(line, args.size());
  if (!violation.empty()) broken(violation.c_str(), show(args) + "\n" + line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  safeexec_fuzz::FuzzInput in(data, size);
  const bool batch = in.boolean();
  const auto count = in.integral_in_range<unsigned>(1, 8);
  std::vector<std::string> argv;
  for (unsigned i = 0; i < count; ++i) argv.push_back(in.random_length_string(512));
  // A long argument now and then, for the length limit.
  const auto repeat = in.integral_in_range<unsigned>(0, 3);
  if (repeat >= 2 && argv.size() > 1)
    argv[1] = std::string(repeat == 2 ? 16000 : 33000, argv[1].empty() ? 'a' : argv[1][0]);
  if (batch) {
    batch_mode(argv);
  } else {
    argv_mode(argv);
  }
  return 0;
}
