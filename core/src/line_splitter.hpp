// line_splitter.hpp - bytes arriving in arbitrary chunks, handed on as
// lines: each line once, whatever the chunk boundaries, in pieces of at most
// max_line_bytes. The one piece of the streaming code that is pure, so that
// fuzz_lines can hold it against a whole-buffer reference.
//
// The lines of a byte string are its '\n'-separated pieces; a line of L
// bytes is delivered as ceil(L / max) pieces (one when L is 0), all but the
// last cut; the last has newline set, except for the final line when the
// bytes end without '\n' (delivered at finish(), nothing when it is empty).
// A piece is cut only once a byte past max_line_bytes has arrived, so a line
// of exactly max_line_bytes followed by '\n' is one uncut line.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include "safeexec/stream.hpp"

namespace safeexec::detail {

class LineSplitter {
 public:
  /// `max_line_bytes` >= 1 (the caller validates it).
  explicit LineSplitter(std::size_t max_line_bytes) : max_(max_line_bytes) {}

  /// The unfinished line carried to the next chunk (at most max_line_bytes).
  const std::string& pending() const noexcept { return pending_; }
  /// Restores what pending() held (a continued communicate()).
  void restore(std::string pending) { pending_ = std::move(pending); }

  /// Hands every line completed (or cut) by `bytes` to emit(const Line&).
  /// Lines inside the chunk are passed as views of it, without a copy.
  template <class Emit>
  void feed(std::string_view bytes, Emit&& emit) {
    const char* p = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
      const void* nl = std::memchr(p, '\n', left);
      std::size_t seg = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - p) : left;
      // A byte beyond max_line_bytes is here: what fills the line is a cut piece.
      while (pending_.size() + seg > max_) {
        const std::size_t take = max_ - pending_.size();
        emit_piece(p, take, false, true, emit);
        p += take;
        left -= take;
        seg -= take;
      }
      if (nl == nullptr) {
        pending_.append(p, seg);
        return;
      }
      emit_piece(p, seg, true, false, emit);
      p += seg + 1;
      left -= seg + 1;
    }
  }

  /// End of the stream: the last line, when it had no '\n'.
  template <class Emit>
  void finish(Emit&& emit) {
    if (pending_.empty()) return;
    emit(Line{pending_, false, false});
    pending_.clear();
  }

 private:
  /// The pending bytes and p[0, n) as one Line: a view of the chunk when
  /// nothing is pending (no copy), else through the pending buffer.
  template <class Emit>
  void emit_piece(const char* p, std::size_t n, bool newline, bool cut, Emit& emit) {
    if (pending_.empty()) {
      emit(Line{std::string_view(p, n), newline, cut});
      return;
    }
    pending_.append(p, n);
    emit(Line{pending_, newline, cut});
    pending_.clear();
  }

  std::size_t max_;
  std::string pending_;
};

}  // namespace safeexec::detail
