// text_internal.hpp - the message pieces the library builds from caller- or
// child-supplied bytes (F13; hardening issue items 15 and 16). Internal: the
// public face is describe_argv() and excerpt() in safeexec/execute.hpp.
//
// Two promises hold for every string these functions return:
//   * no raw control byte (0x00-0x1f, 0x7f) and no byte >= 0x80: a log line
//     can neither be split, nor recoloured by ESC sequences, nor reordered by
//     Unicode bidi controls, whatever the caller or the child supplied;
//   * a masked range shows as "***" and nothing of it survives, whatever its
//     neighbours: every occurrence of every secret (and of the process input)
//     is found in the raw bytes first, overlapping and nested matches are
//     merged into one range, and only then is the text cut and escaped.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "safeexec/exit_status.hpp"

namespace safeexec::detail {

/// The process input is masked in excerpts only from this length on: a
/// 1-byte input would mask every copy of that byte in the output (an `a` fed
/// to `grep` hides every `a` it prints), which destroys the excerpt while
/// protecting nothing. An input this short is not worth keeping secret; one
/// that is should be declared in secrets() as well, which are masked at any
/// length.
inline constexpr std::size_t kMinMaskedInputBytes = 4;

/// One argument as a shell word, as Python's shlex.quote() would write it,
/// plus escapes: bare when it is non-empty and made only of
/// [A-Za-z0-9_@%+=:,./-]; else '...' with each ' written '"'"'; else, when it
/// holds a control byte or a byte >= 0x80, $'...' (bash's ANSI-C quoting)
/// with \\, \', \n, \t, \r and \xNN. Distinct arguments give distinct words,
/// and a word never holds a space outside quotes.
std::string quote_word(std::string_view arg);

/// At most `limit` bytes of `data` for a message: every occurrence of every
/// non-empty secret, and of `input` when it has kMinMaskedInputBytes or more,
/// is masked as "***" (found in the whole of data[0, limit + longest - 1), so
/// a match cut by the limit is masked too, and overlapping or adjacent
/// matches merge into one "***"); the rest is escaped as \\, \n, \t, \r,
/// \xNN; "...[N more bytes]" follows when data is longer than `limit`.
/// At most 4 * limit + 40 bytes long.
std::string redacted_excerpt(std::string_view data, std::size_t limit,
                             const std::vector<std::string>& secrets, std::string_view input);

/// How many bytes before an excerpt's first byte a masked match can begin:
/// the longest secret (or the input, when masked) less one.
std::size_t tail_margin(const std::vector<std::string>& secrets, std::string_view input);

/// The excerpt of a stream that was not captured, from the last bytes the
/// pump kept (`tail`; `seen` bytes went by in all): its last `limit` bytes,
/// masked and escaped as redacted_excerpt() does, after "...[N earlier
/// bytes]". Masks are found in the whole tail, so the tail must hold
/// tail_margin() bytes before those shown (or the whole stream); otherwise
/// no bytes are shown at all, only why.
std::string redacted_tail_excerpt(std::string_view tail, std::size_t seen, std::size_t limit,
                                  const std::vector<std::string>& secrets, std::string_view input);

/// The text of execute()'s ProcessExecutionError (and its log line): one
/// line each for the command, the status, and the two excerpts, which the
/// caller has made with redacted_excerpt(). Since neither `cmd` (from
/// describe_argv) nor the excerpts hold a raw newline, the message has
/// exactly these four lines whatever the child printed.
std::string failure_message(const std::string& cmd, const ExitStatus& status,
                            const std::string& stdout_excerpt, const std::string& stderr_excerpt);

}  // namespace safeexec::detail
