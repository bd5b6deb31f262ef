// text.cpp - how commands and output appear in messages and logs (F13;
// hardening issue items 15 and 16). See text_internal.hpp for the promises.
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "safeexec/execute.hpp"
#include "text_internal.hpp"

namespace safeexec {
namespace {

constexpr std::string_view kMask = "***";

// Python's shlex: bytes that never need quoting in a shell word. A table,
// since every byte of every logged argument is looked up.
constexpr std::array<bool, 256> kBare = [] {
  std::array<bool, 256> t{};
  for (const char c : std::string_view(
           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")) {
    t[static_cast<unsigned char>(c)] = true;
  }
  return t;
}();

struct Range {
  std::size_t begin;
  std::size_t end;  // one past
};

/// How one byte appears in a message: printable ASCII as itself, the
/// backslash doubled (so that no escape can be forged by the data), the
/// common controls by name, every other byte as \xNN; inside $'...' the
/// quote as \' too. Tables, filled once: a logged argument can be 128 KiB,
/// and byte-by-byte appends were most of what execute() spent on one.
struct Escape {
  std::array<char, 4> text{};
  std::size_t size = 0;
};
using EscapeTable = std::array<Escape, 256>;

constexpr EscapeTable make_escapes(bool quote) {
  constexpr std::string_view kHex = "0123456789abcdef";
  EscapeTable t{};
  for (std::size_t c = 0; c < 256; ++c) {
    Escape& e = t[c];
    const auto named = [&](char name) {
      e.text = {'\\', name, 0, 0};
      e.size = 2;
    };
    if (c == '\\') {
      named('\\');
    } else if (c == '\n') {
      named('n');
    } else if (c == '\t') {
      named('t');
    } else if (c == '\r') {
      named('r');
    } else if (quote && c == '\'') {
      named('\'');
    } else if (c >= 0x20 && c < 0x7f) {
      e.text = {static_cast<char>(c), 0, 0, 0};
      e.size = 1;
    } else {
      e.text = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
      e.size = 4;
    }
  }
  return t;
}

constexpr EscapeTable kExcerptEscapes = make_escapes(false);
constexpr EscapeTable kAnsiCEscapes = make_escapes(true);  // inside $'...'

/// `data` escaped with `table`, appended to `out`: sized first, then written
/// in place (each escape stored as 4 bytes, the pointer moved by its size).
void append_escaped_with(std::string& out, std::string_view data, const EscapeTable& table) {
  std::size_t n = 0;
  for (const char ch : data) n += table[static_cast<unsigned char>(ch)].size;
  const std::size_t at = out.size();
  out.resize(at + n + 3);
  char* p = out.data() + at;
  for (const char ch : data) {
    const Escape& e = table[static_cast<unsigned char>(ch)];
    std::memcpy(p, e.text.data(), 4);
    p += e.size;
  }
  out.resize(at + n);
}

void append_escaped(std::string& out, std::string_view data) {
  append_escaped_with(out, data, kExcerptEscapes);
}

/// Every occurrence of `needle` in `hay`, overlapping ones included, added to
/// `out`. Knuth-Morris-Pratt: linear in both, because the hay is a child's
/// output and the needle may be the whole process input (MiBs each), and a
/// naive search is quadratic on inputs like "aaaa...ab".
void add_matches(std::string_view hay, std::string_view needle, std::vector<Range>& out) {
  if (needle.empty() || needle.size() > hay.size()) return;
  std::vector<std::size_t> border(needle.size(), 0);
  for (std::size_t i = 1, k = 0; i < needle.size(); ++i) {
    while (k > 0 && needle[i] != needle[k]) k = border[k - 1];
    if (needle[i] == needle[k]) ++k;
    border[i] = k;
  }
  for (std::size_t i = 0, k = 0; i < hay.size(); ++i) {
    while (k > 0 && hay[i] != needle[k]) k = border[k - 1];
    if (hay[i] == needle[k]) ++k;
    if (k == needle.size()) {
      out.push_back({i + 1 - k, i + 1});
      k = border[k - 1];
    }
  }
}

/// Sorted, with overlapping and touching ranges merged: "pass" inside
/// "password123", or two secrets sharing bytes, become one masked range, so
/// no part of either survives (masking one after the other left
/// "***word123").
std::vector<Range> merged(std::vector<Range> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  std::vector<Range> out;
  for (const Range& r : ranges) {
    if (!out.empty() && r.begin <= out.back().end) {
      out.back().end = std::max(out.back().end, r.end);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

/// The masked ranges of `data` that can show in its first `shown` bytes: a
/// match must begin there, and may run past it (it is cut by the limit, and
/// still masked).
std::vector<Range> masks_in(std::string_view data, std::size_t shown,
                            const std::vector<std::string>& secrets, std::string_view input) {
  std::vector<Range> ranges;
  const auto add = [&](std::string_view needle) {
    if (needle.empty() || shown == 0) return;
    const std::size_t span = std::min(data.size(), shown + (needle.size() - 1));
    add_matches(data.substr(0, span), needle, ranges);
  };
  for (const std::string& secret : secrets) add(secret);
  if (input.size() >= detail::kMinMaskedInputBytes) add(input);
  return merged(std::move(ranges));
}

/// data[0, shown) with each range (sorted, merged) replaced by "***";
/// `write` appends an unmasked piece.
template <class Write>
void write_masked(std::string& out, std::string_view data, std::size_t shown,
                  const std::vector<Range>& ranges, Write write) {
  std::size_t at = 0;
  for (const Range& r : ranges) {
    if (r.begin >= shown) break;
    if (r.begin > at) write(out, data.substr(at, r.begin - at));
    out += kMask;
    at = r.end;
  }
  if (at < shown) write(out, data.substr(at, shown - at));
}

}  // namespace

namespace detail {

std::string quote_word(std::string_view arg) {
  bool bare = !arg.empty();
  bool plain = true;  // no control byte, nothing outside ASCII
  for (const char ch : arg) {
    const auto c = static_cast<unsigned char>(ch);
    if (!kBare[c]) bare = false;
    if (c < 0x20 || c >= 0x7f) plain = false;
  }
  if (bare) return std::string(arg);
  std::string out;
  out.reserve(arg.size() + 3);
  if (plain) {
    // Inside '...' nothing is special but the quote itself, which closes the
    // quoting, is written as a double-quoted ', and reopens it.
    out.push_back('\'');
    std::size_t at = 0;
    for (std::size_t q = arg.find('\''); q != std::string_view::npos; q = arg.find('\'', at)) {
      out.append(arg.substr(at, q - at));
      out += "'\"'\"'";
      at = q + 1;
    }
    out.append(arg.substr(at));
    out.push_back('\'');
    return out;
  }
  out += "$'";
  append_escaped_with(out, arg, kAnsiCEscapes);
  out.push_back('\'');
  return out;
}

std::string redacted_excerpt(std::string_view data, std::size_t limit,
                             const std::vector<std::string>& secrets, std::string_view input) {
  const std::size_t shown = std::min(limit, data.size());
  std::string out;
  write_masked(out, data, shown, masks_in(data, shown, secrets, input), append_escaped);
  if (data.size() > limit) out += "...[" + std::to_string(data.size() - limit) + " more bytes]";
  return out;
}

std::size_t tail_margin(const std::vector<std::string>& secrets, std::string_view input) {
  std::size_t longest = input.size() >= kMinMaskedInputBytes ? input.size() : 0;
  for (const std::string& secret : secrets) longest = std::max(longest, secret.size());
  return longest == 0 ? 0 : longest - 1;
}

std::string redacted_tail_excerpt(std::string_view tail, std::size_t seen, std::size_t limit,
                                  const std::vector<std::string>& secrets, std::string_view input) {
  const std::size_t shown = std::min(limit, tail.size());
  const std::size_t from = tail.size() - shown;
  const std::size_t earlier = seen - shown;
  // A masked range that reaches the shown bytes began at most margin bytes
  // before them: unless the tail holds those too (or the stream's start),
  // part of a secret could show unmasked.
  if (from < tail_margin(secrets, input) && seen > tail.size()) {
    // Appended, not "[" + std::string&&: g++ 12 -O3 warns falsely (-Wrestrict,
    // GCC bug 105329) on that form, and a consumer's Release build shows it.
    std::string text = "[";
    text += std::to_string(seen);
    text += " bytes not captured; no excerpt: a secret or the input is longer than the tail kept]";
    return text;
  }
  std::vector<Range> ranges = masks_in(tail, tail.size(), secrets, input);
  // The ranges as seen from `from`: one that began before it starts there.
  std::vector<Range> shifted;
  for (const Range& r : ranges) {
    if (r.end <= from) continue;
    shifted.push_back({r.begin > from ? r.begin - from : 0, r.end - from});
  }
  std::string out = earlier > 0 ? "...[" + std::to_string(earlier) + " earlier bytes]" : "";
  write_masked(out, tail.substr(from), shown, shifted, append_escaped);
  return out;
}

std::string failure_message(const std::string& cmd, const ExitStatus& status,
                            const std::string& stdout_excerpt, const std::string& stderr_excerpt) {
  return "command failed: " + cmd + "\nstatus: " + status.str() + "\nstdout: " + stdout_excerpt +
         "\nstderr: " + stderr_excerpt;
}

}  // namespace detail

std::string excerpt(std::string_view data, std::size_t limit) {
  return detail::redacted_excerpt(data, limit, {}, {});
}

std::string describe_argv(const std::vector<std::string>& argv,
                          const std::vector<std::string>& secrets) {
  std::string out;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (i != 0) out.push_back(' ');
    const std::vector<Range> ranges = masks_in(arg, arg.size(), secrets, {});
    if (ranges.empty()) {
      out += detail::quote_word(arg);
      continue;
    }
    std::string masked;
    write_masked(masked, arg, arg.size(), ranges,
                 [](std::string& o, std::string_view piece) { o += piece; });
    out += detail::quote_word(masked);
  }
  return out;
}

}  // namespace safeexec
