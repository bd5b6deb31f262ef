// stream_recorder.hpp - sinks that write down what they saw, for the unit
// and property tests of streaming (stream.hpp): the bytes of the chunk
// callback, the lines of the line callback, and the bytes those lines stand
// for (each line's text, then '\n' when it had one).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "safeexec/stream.hpp"

namespace safeexec_test_support {

struct SeenLine {
  std::string text;
  bool newline = false;
  bool cut = false;
  bool operator==(const SeenLine&) const = default;
};

struct StreamRecord {
  std::string chunks;  ///< every chunk, in order
  std::size_t chunk_calls = 0;
  std::vector<SeenLine> lines;  ///< every line, in order
  std::size_t longest_line = 0;
  /// The bytes the lines stand for.
  std::string line_bytes() const {
    std::string out;
    for (const SeenLine& l : lines) {
      out += l.text;
      if (l.newline) out.push_back('\n');
    }
    return out;
  }
};

/// Callbacks recording into a record the caller keeps (shared, since a
/// StreamSink copies its callbacks).
inline void record_chunks(safeexec::StreamSink& sink, const std::shared_ptr<StreamRecord>& rec) {
  sink.on_chunk([rec](std::string_view b) {
    rec->chunks.append(b);
    ++rec->chunk_calls;
  });
}
inline void record_lines(safeexec::StreamSink& sink, const std::shared_ptr<StreamRecord>& rec) {
  sink.on_line([rec](const safeexec::Line& l) {
    rec->lines.push_back({std::string(l.text), l.newline, l.cut});
    rec->longest_line = std::max(rec->longest_line, l.text.size());
  });
}

}  // namespace safeexec_test_support
