// fuzz_lines - the line splitter of the streaming sinks (core/src/
// line_splitter.hpp, issue 21): bytes cut into arbitrary chunks must give
// the same lines as a reference splitter over the whole buffer. In-process,
// no spawn.
//
// Input layout (see fuzz_input.hpp; fuzz/make_seeds.py writes seeds):
//   from the end: max_line_bytes (1..300, or 1..2^20 when the first flag is
//                 set), the number of chunk boundaries (0..40) and each one's
//                 position (a u16, modulo the data size + 1; repeats give
//                 empty chunks), the boundary (an index among them) at which
//                 the splitter is handed over to a new one through
//                 pending()/restore(), as a continued communicate() does;
//   from the front: the data (everything left).
//
// Invariants:
//   * the lines delivered (text, newline, cut) equal, in order, those of the
//     reference: the data split at '\n', each line in pieces of
//     max_line_bytes, all but the last cut, the last with newline unless it
//     is the unterminated end (given at finish(), nothing when empty);
//   * no piece and no pending() is longer than max_line_bytes;
//   * the same holds across the hand-over to a second splitter.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../core/src/line_splitter.hpp"
#include "fuzz_input.hpp"
#include "fuzz_utils.hpp"

namespace {

using safeexec::Line;
using safeexec::detail::LineSplitter;

struct Piece {
  std::size_t at;  ///< offset in the data
  std::size_t len;
  bool newline;
  bool cut;
};

/// The whole buffer at once, the simplest way: one line after another.
void reference_lines(std::string_view data, std::size_t max, std::vector<Piece>& out) {
  std::size_t start = 0;
  while (start < data.size()) {
    const std::size_t nl = data.find('\n', start);
    const bool terminated = nl != std::string_view::npos;
    const std::size_t end = terminated ? nl : data.size();
    std::size_t at = start;
    // Pieces of max bytes while more than max remain; the rest is the last.
    while (end - at > max) {
      out.push_back({at, max, false, true});
      at += max;
    }
    out.push_back({at, end - at, terminated, false});
    start = terminated ? nl + 1 : data.size();
  }
}

std::string show(std::string_view data, const Piece& p) {
  return "at " + std::to_string(p.at) + " len " + std::to_string(p.len) +
         " newline=" + std::to_string(p.newline) + " cut=" + std::to_string(p.cut) + " [" +
         std::string(data.substr(p.at, std::min<std::size_t>(p.len, 40))) + "]";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* raw, std::size_t size) {
  safeexec_fuzz::FuzzInput in(raw, size);
  const bool large = in.boolean();
  const std::size_t max = large ? in.integral_in_range<std::size_t>(1, std::size_t{1} << 20)
                                : in.integral_in_range<std::size_t>(1, 300);
  const std::size_t ncuts = in.integral_in_range<std::size_t>(0, 40);
  std::vector<std::uint16_t> raw_cuts(ncuts);
  for (std::uint16_t& c : raw_cuts) c = in.integral<std::uint16_t>();
  const std::size_t handover = in.integral_in_range<std::size_t>(0, ncuts + 1);
  const std::string data = in.bytes(in.remaining_bytes());

  std::vector<std::size_t> cuts;
  cuts.reserve(ncuts + 1);
  for (const std::uint16_t c : raw_cuts) cuts.push_back(c % (data.size() + 1));
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(data.size());

  static std::vector<Piece> want;
  want.clear();
  reference_lines(data, max, want);

  std::size_t next = 0;  // the reference piece the next line must equal
  const auto check = [&](const Line& got) {
    FUZZ_CHECK(next < want.size(),
               "more lines than the reference's " + std::to_string(want.size()));
    const Piece& w = want[next];
    const std::string_view expected = std::string_view(data).substr(w.at, w.len);
    FUZZ_CHECK(got.text == expected && got.newline == w.newline && got.cut == w.cut,
               "line " + std::to_string(next) + " differs: want " + show(data, w) + ", got len " +
                   std::to_string(got.text.size()) + " newline=" + std::to_string(got.newline) +
                   " cut=" + std::to_string(got.cut));
    FUZZ_CHECK(got.text.size() <= max, "a piece longer than max_line_bytes");
    ++next;
  };

  LineSplitter first(max);
  LineSplitter second(max);
  LineSplitter* s = &first;
  std::size_t from = 0;
  for (std::size_t i = 0; i < cuts.size(); ++i) {
    if (i == handover) {  // a continued call: the unfinished line moves over
      second.restore(s->pending());
      s = &second;
    }
    s->feed(std::string_view(data).substr(from, cuts[i] - from), check);
    FUZZ_CHECK(s->pending().size() <= max, "the line buffer grew past max_line_bytes");
    from = cuts[i];
  }
  s->finish(check);
  FUZZ_CHECK(next == want.size(),
             "lines missing: got " + std::to_string(next) + " of " + std::to_string(want.size()));
  FUZZ_CHECK(s->pending().empty(), "finish() left a pending line");
  return 0;
}
