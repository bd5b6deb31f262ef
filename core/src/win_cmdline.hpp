// win_cmdline.hpp - the Windows command line as pure functions: argv ->
// command line by the MSVCRT / CommandLineToArgvW rules, the parser those
// rules are written against, the cmd.exe rendering of a batch-file call, and
// UTF-8 <-> UTF-16. Portable on purpose: compiled on Linux too, so the unit
// tests and fuzz_win_cmdline run natively, and on Windows the same code is
// checked against the real CommandLineToArgvW and a child's __wargv.
//
// Windows has no argv: a child gets one string and splits it itself. Nearly
// every program splits it with the C runtime's rules (msvcrt/ucrt, which
// CommandLineToArgvW agrees with on everything make_command_line produces),
// so argv survives only if it is quoted for those rules - and cmd.exe, which
// runs batch files, has rules of its own (BatBadBut, CVE-2024-24576).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace safeexec::detail::win {

/// CreateProcessW's limit on lpCommandLine, terminating NUL included.
inline constexpr std::size_t kMaxCommandLineUnits = 32767;

/// Strict UTF-8 -> UTF-16: overlong forms, surrogates encoded in UTF-8, and
/// truncated or stray bytes throw InvalidArgument (`what` names the value).
std::u16string utf8_to_utf16(std::string_view text, std::string_view what = "text");
/// UTF-16 -> UTF-8; an unpaired surrogate throws InvalidArgument.
std::string utf16_to_utf8(std::u16string_view text, std::string_view what = "text");

/// Appends one argument (not the program name), quoted so that the msvcrt
/// parser yields it unchanged: quoted when empty or holding space, tab, \n or
/// \v; n backslashes before a '"' become 2n+1 and the quote is escaped; n
/// backslashes before the closing quote become 2n; others stay as they are.
void append_quoted_arg(std::string& out, std::string_view arg);

/// The whole command line for argv (argv[0] is the program name the child
/// sees, always quoted and never escaped: the parsers give it no escapes).
/// Throws InvalidArgument for an empty argv, a NUL anywhere, a '"' in
/// argv[0], invalid UTF-8, or a result of kMaxCommandLineUnits UTF-16 units
/// or more (no room for the NUL).
std::string make_command_line(const std::vector<std::string>& argv);

/// Splits a command line as the msvcrt/ucrt startup code does: the program
/// name by its own rule (quotes toggle, no escapes, ends at unquoted space
/// or tab), then the arguments (2n backslashes + '"' -> n backslashes and a
/// quote toggle, 2n+1 -> n backslashes and a literal '"', "" inside quotes
/// -> a literal '"', space and tab separate outside quotes).
std::vector<std::string> parse_command_line(std::string_view cmdline);

/// The command line that runs batch file `script` (its full path) with
/// `args` through cmd.exe: `"<cmd>" /e:ON /v:OFF /d /c ""<script>" <args>"`.
/// Every argument is quoted when empty, ending in '\', or holding anything
/// outside letters, digits, non-ASCII text and #$*+-./:?@\_ ;
/// '%' is written as "%%cd:~,%" so %NAME% can never expand (cmd expands the
/// no-op substring of %cd% instead); /v:OFF keeps !NAME! inert. Throws
/// InvalidArgument for a script name holding '"' or '%' (cmd expands %NAME%
/// inside quotes) or ending in '\', an
/// argument holding CR, LF or NUL (cmd ends a command at a line break, and
/// no quoting survives it) or '"' (cmd.exe has no escape for it: Rust's ""
/// relies on how one cmd.exe toggles its quote state, and Wine's differs),
/// invalid UTF-8, or an over-long result.
std::string make_batch_command_line(std::string_view cmd_exe, std::string_view script,
                                    const std::vector<std::string>& args);

/// True for a character a batch argument may hold without quotes.
bool batch_safe_char(char c) noexcept;

/// True when `path` names a batch file (.bat or .cmd, any case), judged on
/// the name as given: pass the full path GetFullPathNameW made, which has
/// dropped trailing dots and spaces ("x.bat. " is x.bat to Windows).
bool is_batch_file_name(std::string_view path) noexcept;

}  // namespace safeexec::detail::win
