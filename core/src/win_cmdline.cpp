// win_cmdline.cpp - Windows command-line quoting, parsing and batch-file
// rendering as pure functions (see win_cmdline.hpp). Everything works on
// UTF-8: the characters the rules care about (" \ space tab % ...) are ASCII,
// and ASCII bytes never occur inside a multi-byte UTF-8 sequence, so quoting
// the UTF-8 text and converting afterwards gives the same UTF-16 line.
#include "win_cmdline.hpp"

#include <string>

#include "safeexec/errors.hpp"

namespace safeexec::detail::win {
namespace {

[[noreturn]] void refuse(std::string_view what, std::string_view why) {
  throw InvalidArgument(std::string(what) + " " + std::string(why));
}

bool has_nul(std::string_view s) noexcept {
  return s.find('\0') != std::string_view::npos;
}

/// Throws unless `line` fits CreateProcessW's buffer once in UTF-16.
void check_length(const std::string& line) {
  if (utf8_to_utf16(line, "command line").size() >= kMaxCommandLineUnits) {
    refuse("command line", "is longer than Windows allows (32767 UTF-16 units with the NUL)");
  }
}

void append_backslashes(std::string& out, std::size_t n) {
  out.append(n, '\\');
}

}  // namespace

std::u16string utf8_to_utf16(std::string_view text, std::string_view what) {
  std::u16string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (b0 < 0x80) {
      out.push_back(static_cast<char16_t>(b0));
      ++i;
      continue;
    }
    std::size_t len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
      refuse(what, "is not valid UTF-8");
    }
    if (text.size() - i < len) refuse(what, "is not valid UTF-8 (truncated sequence)");
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xC0) != 0x80) refuse(what, "is not valid UTF-8");
      cp = (cp << 6) | (b & 0x3F);
    }
    // Overlong forms would let one character hide as another; surrogates
    // have no UTF-8 form.
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      refuse(what, "is not valid UTF-8");
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
    i += len;
  }
  return out;
}

std::string utf16_to_utf8(std::u16string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char32_t cp = text[i];
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < text.size() && text[i + 1] >= 0xDC00 &&
        text[i + 1] <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (text[i + 1] - 0xDC00);
      ++i;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      refuse(what, "holds an unpaired UTF-16 surrogate");
    }
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

void append_quoted_arg(std::string& out, std::string_view arg) {
  // \n and \v are not separators for msvcrt, but quoting them costs nothing
  // and keeps parsers that split on any whitespace honest.
  const bool quote = arg.empty() || arg.find_first_of(" \t\n\v") != std::string_view::npos;
  if (quote) out.push_back('"');
  std::size_t backslashes = 0;
  for (const char c : arg) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    if (c == '"') {
      // n backslashes then a quote: 2n+1 backslashes, so the parser yields
      // n backslashes and a literal quote instead of toggling quote mode.
      append_backslashes(out, 2 * backslashes + 1);
    } else {
      append_backslashes(out, backslashes);
    }
    backslashes = 0;
    out.push_back(c);
  }
  // Trailing backslashes are doubled only when a closing quote follows them.
  append_backslashes(out, quote ? 2 * backslashes : backslashes);
  if (quote) out.push_back('"');
}

std::string make_command_line(const std::vector<std::string>& argv) {
  if (argv.empty()) refuse("argv", "is empty");
  for (const auto& a : argv) {
    if (has_nul(a)) refuse("argument", "holds a NUL byte");
  }
  const std::string& program = argv[0];
  // The program name has no escapes in either parser: a quote in it would
  // end it early, and no Windows file name can hold one anyway.
  if (program.find('"') != std::string::npos) refuse("program name", "holds a '\"'");
  std::string line = "\"" + program + "\"";
  for (std::size_t i = 1; i < argv.size(); ++i) {
    line.push_back(' ');
    append_quoted_arg(line, argv[i]);
  }
  check_length(line);
  return line;
}

std::vector<std::string> parse_command_line(std::string_view cmdline) {
  std::vector<std::string> argv;
  std::size_t i = 0;
  const std::size_t n = cmdline.size();
  // The program name: quotes toggle, backslashes are literal.
  {
    std::string program;
    bool in_quotes = false;
    while (i < n && (in_quotes || (cmdline[i] != ' ' && cmdline[i] != '\t'))) {
      if (cmdline[i] == '"') {
        in_quotes = !in_quotes;
      } else {
        program.push_back(cmdline[i]);
      }
      ++i;
    }
    argv.push_back(std::move(program));
  }
  for (;;) {
    while (i < n && (cmdline[i] == ' ' || cmdline[i] == '\t')) ++i;
    if (i >= n) break;
    std::string arg;
    bool in_quotes = false;
    while (i < n) {
      std::size_t backslashes = 0;
      while (i < n && cmdline[i] == '\\') {
        ++backslashes;
        ++i;
      }
      if (i < n && cmdline[i] == '"') {
        append_backslashes(arg, backslashes / 2);
        if (backslashes % 2 == 1) {
          arg.push_back('"');  // escaped quote
        } else if (in_quotes && i + 1 < n && cmdline[i + 1] == '"') {
          arg.push_back('"');  // "" inside quotes: a literal quote
          ++i;
        } else {
          in_quotes = !in_quotes;
        }
        ++i;
        continue;
      }
      append_backslashes(arg, backslashes);
      if (i >= n) break;
      if (!in_quotes && (cmdline[i] == ' ' || cmdline[i] == '\t')) break;
      arg.push_back(cmdline[i]);
      ++i;
    }
    argv.push_back(std::move(arg));
  }
  return argv;
}

bool batch_safe_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x80) return true;  // part of a non-ASCII character (no control byte: checked apart)
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("#$*+-./:?@\\_").find(c) != std::string_view::npos;
}

std::string make_batch_command_line(std::string_view cmd_exe, std::string_view script,
                                    const std::vector<std::string>& args) {
  if (script.find('"') != std::string_view::npos) refuse("batch file name", "holds a '\"'");
  // cmd.exe expands %NAME% inside the quoted script name too (found by
  // fuzz_win_cmdline): a path holding '%' cannot be given to it safely.
  if (script.find('%') != std::string_view::npos) refuse("batch file name", "holds a '%'");
  if (script.empty() || script.back() == '\\') refuse("batch file name", "ends in '\\'");
  if (has_nul(script) || has_nul(cmd_exe)) refuse("batch file name", "holds a NUL byte");
  // /e:ON keeps the extensions the %cd:~,% trick needs, /v:OFF disables
  // delayed expansion (!NAME!), /d skips AutoRun commands from the registry.
  // The outer quotes after /c are the pair cmd strips from the line.
  // Appended, not "\"" + ...: g++ 12 -O3 raises a false -Wrestrict on
  // operator+(const char*, string&&) (GCC bug 105329).
  std::string line(1, '"');
  line.append(cmd_exe).append("\" /e:ON /v:OFF /d /c \"\"");
  line.append(script);
  line.push_back('"');
  for (const std::string& arg : args) {
    if (arg.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      refuse("batch file argument", "holds CR, LF or NUL, which cmd.exe cannot be given safely");
    }
    // cmd.exe has no escape for '"': Rust writes "" (two toggles of its
    // quote state), but whether that keeps the rest quoted depends on the
    // cmd.exe at hand (Wine's runs "a""&x" as two commands). Refused.
    if (arg.find('"') != std::string::npos) {
      refuse("batch file argument", "holds '\"', which cmd.exe has no safe escape for");
    }
    (void)utf8_to_utf16(arg, "batch file argument");
    bool quote = arg.empty() || arg.back() == '\\';
    for (const char c : arg) {
      if (!batch_safe_char(c) || static_cast<unsigned char>(c) < 0x20) quote = true;
    }
    // Non-ASCII control characters (C1, U+0080..U+009F, UTF-8 C2 80..C2 9F).
    for (std::size_t k = 0; k + 1 < arg.size(); ++k) {
      if (static_cast<unsigned char>(arg[k]) == 0xC2 &&
          static_cast<unsigned char>(arg[k + 1]) >= 0x80 &&
          static_cast<unsigned char>(arg[k + 1]) <= 0x9F) {
        quote = true;
      }
    }
    line.push_back(' ');
    if (quote) line.push_back('"');
    std::size_t backslashes = 0;
    for (const char c : arg) {
      if (c == '\\') {
        ++backslashes;
        line.push_back(c);
        continue;
      }
      if (c == '%') {
        // "%%cd:~,%": the first % has no name after it and stays literal;
        // "%cd:~,%" is an empty substring of %cd%, so whatever follows can
        // never be read as the name of a variable.
        line.append("%%cd:~,%");
      } else {
        line.push_back(c);
      }
      backslashes = 0;
    }
    if (quote) {
      append_backslashes(line, backslashes);
      line.push_back('"');
    }
  }
  line.push_back('"');
  check_length(line);
  return line;
}

bool is_batch_file_name(std::string_view path) noexcept {
  if (path.size() < 4) return false;
  std::string ext(path.substr(path.size() - 4));
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return ext == ".bat" || ext == ".cmd";
}

}  // namespace safeexec::detail::win
