// fuzz_message - what the library writes into messages and logs (F13;
// hardening issue items 15 and 16): describe_argv, excerpt and the redacted
// excerpt of execute()'s failures, the failure message, and the messages of
// SpawnError, KillError and the env-key InvalidArgument. In-process, no
// spawn.
//
// Input layout (see fuzz_input.hpp; fuzz/make_seeds.py writes seeds):
//   from the end: which part runs (0 describe_argv, 1 an excerpt, 2 the error
//                 types, 3 the failure message with its two excerpts), the number of arguments of
//                 argv A (0..6), how argv B is made from A (0: its own strings; 1: an argument
//                 split in two; 2: two arguments joined by a space; 3: one byte of an argument
//                 changed; 4: an argument dropped), a position, the number of secrets (0..4), per
//                 secret where it comes from (0: its own string; 1: a slice of the data; 2: a slice
//                 of another secret) with an offset and a length, where the input comes from (0:
//                 its own string; 1: a slice of the data), the excerpt limit (0..300), how many
//                 copies of the input and of each secret are planted in the data (0..3) and where,
//                 an exit code or signal;
//   from the front: the arguments of A (and of B when it has its own), the
//                 secrets, the process input, then the data (everything left).
//
// Invariants:
//   * describe_argv(A) holds only printable ASCII, parses back (as a shell
//     would: bare words, '...', "...", $'...' with \\ \' \n \t \r \xNN) to
//     exactly A, and differs from describe_argv(B) whenever A != B: the
//     rendering is unambiguous; its length is at most 5 bytes per byte + 4
//     per argument;
//   * describe_argv(A, secrets) parses back to as many arguments, and no
//     declared secret (nested and overlapping ones included) is left in any
//     of them outside the "***" masks;
//   * redacted_excerpt(data, limit, secrets, input) holds only printable
//     ASCII, is at most 4 * limit + 40 bytes, ends with "...[N more bytes]"
//     exactly when data is longer than limit, is then a prefix of the uncut
//     excerpt (a match cut by the limit is masked), unescapes to text in which no
//     secret and no input of kMinMaskedInputBytes or more is left outside
//     the masks - a copy cut by the limit included; with nothing to mask it
//     unescapes to exactly data[0, limit) and equals excerpt();
//   * failure_message() has exactly its four lines and no other control byte;
//   * SpawnError's message quotes the program as describe_argv does and holds
//     no control byte; KillError's holds none; the env-key InvalidArgument
//     messages hold none, and validate_env_value's never depends on the value.
// Secrets and inputs holding '*' are left out of the leak checks: the mask
// itself is made of '*', so such a needle can appear where the data had none.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../core/src/text_internal.hpp"
#include "fuzz_input.hpp"
#include "fuzz_utils.hpp"
#include "safeexec/safeexec.hpp"

// The target's own reference code (the decoders and the leak search) is
// left out of the coverage instrumentation: its branches are not what the
// fuzzer should chase, and its byte-by-byte compare hooks and coverage
// features cost a third of each input's time.
#if defined(__clang__)
#define NOT_FUZZED __attribute__((no_sanitize("coverage")))
#else
#define NOT_FUZZED
#endif

namespace {

using safeexec_fuzz::printable;

// Messages are short: longer inputs take the same paths, only slower. The
// same as max_len in fuzz_message.options.
constexpr std::size_t kMaxInputBytes = 1024;
constexpr std::size_t kMaxArgs = 6;
constexpr std::size_t kMaxSecrets = 4;
constexpr std::size_t kMaxLimit = 300;
constexpr std::string_view kBare =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-";

NOT_FUZZED bool printable_ascii(std::string_view text) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

NOT_FUZZED int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/// One escape of the message alphabet at text[i] (a backslash): appends the
/// byte it stands for and returns the length of the escape, or 0 when it is
/// not one. `quote_ok`: \' is allowed (inside $'...').
NOT_FUZZED std::size_t unescape_at(std::string_view text, std::size_t i, bool quote_ok,
                                   std::string& out) {
  if (i + 1 >= text.size()) return 0;
  switch (text[i + 1]) {
    case '\\':
      out.push_back('\\');
      return 2;
    case 'n':
      out.push_back('\n');
      return 2;
    case 't':
      out.push_back('\t');
      return 2;
    case 'r':
      out.push_back('\r');
      return 2;
    case '\'':
      if (!quote_ok) return 0;
      out.push_back('\'');
      return 2;
    case 'x': {
      if (i + 3 >= text.size()) return 0;
      const int hi = hex_value(text[i + 2]);
      const int lo = hex_value(text[i + 3]);
      if (hi < 0 || lo < 0) return 0;
      out.push_back(static_cast<char>(hi * 16 + lo));
      return 4;
    }
    default:
      return 0;
  }
}

/// The argv a shell would read from `text` (only the quoting forms above;
/// words separated by exactly one space). nullopt when it does not parse.
NOT_FUZZED std::optional<std::vector<std::string>> parse_words(std::string_view text) {
  std::vector<std::string> words;
  if (text.empty()) return words;
  std::string word;
  bool in_word = false;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ') {
      if (!in_word) return std::nullopt;  // two spaces, or a leading one
      words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
      if (i == text.size()) return std::nullopt;  // a trailing space
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const std::size_t end = text.find('\'', i + 1);
      if (end == std::string_view::npos) return std::nullopt;
      word.append(text.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (c == '"') {
      // Only "'" is ever written in double quotes.
      if (text.substr(i, 3) != "\"'\"") return std::nullopt;
      word.push_back('\'');
      i += 3;
    } else if (c == '$' && i + 1 < text.size() && text[i + 1] == '\'') {
      i += 2;
      while (true) {
        if (i >= text.size()) return std::nullopt;
        if (text[i] == '\'') break;
        if (text[i] == '\\') {
          const std::size_t n = unescape_at(text, i, true, word);
          if (n == 0) return std::nullopt;
          i += n;
        } else {
          word.push_back(text[i++]);
        }
      }
      ++i;
    } else if (kBare.find(c) != std::string_view::npos) {
      word.push_back(c);
      ++i;
    } else {
      return std::nullopt;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

/// The bytes an excerpt body stands for; nullopt on a malformed escape.
NOT_FUZZED std::optional<std::string> unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '\\') {
      out.push_back(text[i++]);
      continue;
    }
    const std::size_t n = unescape_at(text, i, false, out);
    if (n == 0) return std::nullopt;
    i += n;
  }
  return out;
}

/// A needle the leak checks can judge: non-empty and free of '*'.
NOT_FUZZED bool judged(std::string_view needle) {
  return !needle.empty() && needle.find('*') == std::string_view::npos;
}

/// The first needle found in `text` outside the '*' masks, or nullptr.
NOT_FUZZED const std::string* leaked(std::string_view text,
                                     const std::vector<const std::string*>& needles) {
  for (const std::string* n : needles) {
    if (!judged(*n)) continue;
    // A needle has no '*', so a copy of it lies within one '*'-free run.
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find('*', start);
      if (end == std::string_view::npos) end = text.size();
      if (text.substr(start, end - start).find(*n) != std::string_view::npos) return n;
      start = end + 1;
    }
  }
  return nullptr;
}

std::string show_argv(const std::vector<std::string>& argv) {
  std::string out = "{";
  for (const std::string& a : argv) out += "\"" + printable(a, 64) + "\" ";
  return out + "}";
}

void check_argv(const std::vector<std::string>& a, const std::vector<std::string>& b,
                const std::vector<std::string>& secrets) {
  const std::string text_a = safeexec::describe_argv(a);
  FUZZ_CHECK(printable_ascii(text_a),
             "describe_argv holds a control or non-ASCII byte: " + printable(text_a));
  std::size_t bound = 0;
  for (const std::string& arg : a) bound += 5 * arg.size() + 4;
  FUZZ_CHECK(text_a.size() <= bound,
             "describe_argv is longer than its bound: " + printable(text_a));
  const auto parsed = parse_words(text_a);
  FUZZ_CHECK(parsed.has_value(), "describe_argv does not parse as shell words: " + text_a);
  FUZZ_CHECK(*parsed == a, "describe_argv does not read back as the argv: " + show_argv(a) +
                               " -> " + text_a + " -> " + show_argv(*parsed));
  if (a != b) {
    const std::string text_b = safeexec::describe_argv(b);
    FUZZ_CHECK(text_a != text_b, "two argv render the same: " + show_argv(a) + " and " +
                                     show_argv(b) + " -> " + text_a);
  }

  const std::string masked = safeexec::describe_argv(a, secrets);
  FUZZ_CHECK(printable_ascii(masked),
             "describe_argv with secrets holds a control byte: " + printable(masked));
  const auto words = parse_words(masked);
  FUZZ_CHECK(words.has_value() && words->size() == a.size(),
             "describe_argv with secrets does not parse into as many words: " + masked);
  std::vector<const std::string*> needles;
  for (const std::string& s : secrets) needles.push_back(&s);
  for (const std::string& w : *words) {
    const std::string* n = leaked(w, needles);
    FUZZ_CHECK(n == nullptr, "describe_argv shows the secret \"" + printable(n ? *n : "") +
                                 "\" in " + masked + " (argv " + show_argv(a) + ")");
  }
}

std::string check_excerpt(const std::string& data, std::size_t limit,
                          const std::vector<std::string>& secrets, const std::string& input) {
  const std::string x = safeexec::detail::redacted_excerpt(data, limit, secrets, input);
  FUZZ_CHECK(printable_ascii(x), "excerpt holds a control or non-ASCII byte: " + printable(x));
  FUZZ_CHECK(x.size() <= 4 * limit + 40, "excerpt longer than 4 * limit + 40: " + printable(x));
  std::string_view body = x;
  if (data.size() > limit) {
    const std::string marker = "...[" + std::to_string(data.size() - limit) + " more bytes]";
    FUZZ_CHECK(body.size() >= marker.size() && body.substr(body.size() - marker.size()) == marker,
               "a cut excerpt does not end with " + marker + ": " + x);
    body.remove_suffix(marker.size());
    // The cut must not change what is masked: a copy of a secret that runs
    // past the limit is masked as in the whole text, so the cut excerpt is a
    // prefix of the uncut one (and shows no first half of a secret).
    const std::string whole = safeexec::detail::redacted_excerpt(data, data.size(), secrets, input);
    FUZZ_CHECK(whole.compare(0, body.size(), body) == 0,
               "the cut excerpt is not a prefix of the whole one (a match cut by the limit "
               "was not masked?)\n  cut:   " +
                   x + "\n  whole: " + whole);
  }
  const auto bytes = unescape(body);
  FUZZ_CHECK(bytes.has_value(), "excerpt holds a malformed escape: " + x);
  std::vector<const std::string*> needles;
  for (const std::string& s : secrets) needles.push_back(&s);
  if (input.size() >= safeexec::detail::kMinMaskedInputBytes) needles.push_back(&input);
  const std::string* n = leaked(*bytes, needles);
  FUZZ_CHECK(n == nullptr,
             "excerpt shows \"" + printable(n ? *n : "") + "\" (a secret or the input): " + x);

  bool nothing_to_mask = input.size() < safeexec::detail::kMinMaskedInputBytes;
  for (const std::string& s : secrets) nothing_to_mask = nothing_to_mask && s.empty();
  if (nothing_to_mask) {
    FUZZ_CHECK(*bytes == data.substr(0, limit),
               "an excerpt with nothing to mask is not the data's first bytes: " + x);
    FUZZ_CHECK(x == safeexec::excerpt(data, limit), "excerpt() and redacted_excerpt() differ");
  }
  return x;
}

void check_errors(const std::string& program, const std::string& key, const std::string& value,
                  int code) {
  const safeexec::SpawnError spawn(safeexec::SpawnStage::exec, ENOENT, program);
  const std::string what = spawn.what();
  FUZZ_CHECK(printable_ascii(what), "SpawnError holds a control byte: " + printable(what));
  FUZZ_CHECK(what.find(safeexec::describe_argv({program})) != std::string::npos,
             "SpawnError does not quote its program as describe_argv: " + what);
  FUZZ_CHECK(spawn.program() == program, "SpawnError::program() differs from the program");

  const safeexec::KillError kill(code, -code, EPERM);
  FUZZ_CHECK(printable_ascii(kill.what()), "KillError holds a control byte");

  try {
    safeexec::validate_env_key(key);
  } catch (const safeexec::InvalidArgument& e) {
    FUZZ_CHECK(printable_ascii(e.what()),
               "validate_env_key's message holds a control byte: " + printable(e.what()));
  }
  std::string value_text;
  std::string nul_text;
  try {
    safeexec::validate_env_value(key, value);
  } catch (const safeexec::InvalidArgument& e) {
    value_text = e.what();
  }
  if (!value_text.empty()) {
    // Each exception costs about a microsecond: the reference text only
    // when there is something to compare it with.
    try {
      safeexec::validate_env_value(key, std::string(1, '\0'));
    } catch (const safeexec::InvalidArgument& e) {
      nul_text = e.what();
    }
    FUZZ_CHECK(printable_ascii(value_text),
               "validate_env_value's message holds a control byte: " + printable(value_text));
    FUZZ_CHECK(value_text == nul_text,
               "validate_env_value's message depends on the value: " + printable(value_text));
  }
}

/// A slice of `from` chosen by offset and length.
std::string slice(const std::string& from, std::size_t offset, std::size_t length) {
  if (from.empty()) return {};
  const std::size_t at = offset % from.size();
  return from.substr(at, length);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* raw, std::size_t size) {
  if (size > kMaxInputBytes) return 0;
  safeexec_fuzz::FuzzInput in(raw, size);
  // Which checks this input runs: 0 describe_argv, 1 an excerpt, 2 the error
  // types, 3 the failure message (two excerpts and the masked argv). One
  // part per input keeps each input a few microseconds, so that the fuzzer
  // makes 10^5 of them a second; the fuzzer picks the part like any value.
  const auto part = in.integral_in_range<unsigned>(0, 3);
  const auto n_args = in.integral_in_range<std::size_t>(0, kMaxArgs);
  const auto b_shape = in.integral_in_range<unsigned>(0, 4);
  const auto b_pos = in.integral<std::uint16_t>();
  std::vector<std::string> a;
  for (std::size_t i = 0; i < n_args; ++i) a.push_back(in.random_length_string(48));
  std::vector<std::string> b = a;
  if (b_shape == 0) {
    b.clear();
    const auto n_b = in.integral_in_range<std::size_t>(0, kMaxArgs);
    for (std::size_t i = 0; i < n_b; ++i) b.push_back(in.random_length_string(48));
  } else if (!b.empty()) {
    const std::size_t k = b_pos % b.size();
    std::string& arg = b[k];
    const std::size_t cut = arg.empty() ? 0 : (b_pos / 7) % (arg.size() + 1);
    switch (b_shape) {
      case 1: {
        std::string tail = arg.substr(cut);
        arg.resize(cut);
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(k) + 1, std::move(tail));
        break;
      }
      case 2:
        if (k + 1 < b.size()) {
          arg += " " + b[k + 1];
          b.erase(b.begin() + static_cast<std::ptrdiff_t>(k) + 1);
        }
        break;
      case 3:
        if (!arg.empty()) arg[cut % arg.size()] ^= static_cast<char>(1 + (b_pos >> 8) % 255);
        break;
      default:
        b.erase(b.begin() + static_cast<std::ptrdiff_t>(k));
        break;
    }
  }

  const auto n_secrets = in.integral_in_range<std::size_t>(0, kMaxSecrets);
  std::vector<unsigned> secret_kind(n_secrets);
  std::vector<std::uint16_t> secret_at(n_secrets);
  std::vector<std::size_t> secret_len(n_secrets);
  for (std::size_t i = 0; i < n_secrets; ++i) {
    secret_kind[i] = in.integral_in_range<unsigned>(0, 2);
    secret_at[i] = in.integral<std::uint16_t>();
    secret_len[i] = in.integral_in_range<std::size_t>(1, 24);
  }
  const auto input_kind = in.integral_in_range<unsigned>(0, 1);
  const auto input_at = in.integral<std::uint16_t>();
  const auto input_len = in.integral_in_range<std::size_t>(0, 64);
  const auto limit = in.integral_in_range<std::size_t>(0, kMaxLimit);
  const auto copies = in.integral_in_range<unsigned>(0, 3);
  const auto plant_at = in.integral<std::uint16_t>();
  const auto code = in.integral<std::int16_t>();

  std::vector<std::string> own_secrets;
  for (std::size_t i = 0; i < n_secrets; ++i) own_secrets.push_back(in.random_length_string(24));
  std::string input = in.random_length_string(64);
  std::string data = in.remaining_as_string();

  std::vector<std::string> secrets(n_secrets);
  for (std::size_t i = 0; i < n_secrets; ++i) {
    if (secret_kind[i] == 1) {
      secrets[i] = slice(data, secret_at[i], secret_len[i]);
    } else if (secret_kind[i] == 2 && i > 0) {
      secrets[i] = slice(secrets[secret_at[i] % i], secret_at[i] / 3, secret_len[i]);
    } else {
      secrets[i] = own_secrets[i];
    }
  }
  if (input_kind == 1) input = slice(data, input_at, input_len);
  // Plant copies of the input and the secrets in the data (and the secrets
  // in argv), so that matches, overlaps and cuts are common.
  for (unsigned c = 0; c < copies; ++c) {
    const std::size_t at = data.empty() ? 0 : (plant_at * (c + 1)) % (data.size() + 1);
    data.insert(at, c % 2 == 0 ? input : (secrets.empty() ? input : secrets[c % secrets.size()]));
    if (!a.empty() && !secrets.empty()) a[c % a.size()] += secrets[(c + 1) % secrets.size()];
  }

  switch (part) {
    case 0:
      check_argv(a, b, secrets);
      return 0;
    case 1:
      (void)check_excerpt(data, limit, secrets, input);
      return 0;
    case 2:
      check_errors(a.empty() ? input : a.front(), secrets.empty() ? input : secrets.front(), data,
                   code);
      return 0;
    default:
      break;
  }
  const std::string out_x = check_excerpt(data, limit, secrets, input);
  const std::string err_x = check_excerpt(input + data, limit / 2, secrets, input);

  const safeexec::ExitStatus status = code >= 0
                                          ? safeexec::ExitStatus::exited(code % 256)
                                          : safeexec::ExitStatus::signaled(1 + (-code - 1) % 64);
  const std::string msg =
      safeexec::detail::failure_message(safeexec::describe_argv(a, secrets), status, out_x, err_x);
  std::size_t lines = 0;
  for (const char ch : msg) {
    if (ch == '\n') {
      ++lines;
    } else {
      FUZZ_CHECK(static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7f,
                 "the failure message holds a control byte: " + printable(msg));
    }
  }
  FUZZ_CHECK(lines == 3, "the failure message has " + std::to_string(lines + 1) +
                             " lines, not 4: " + printable(msg));
  return 0;
}
