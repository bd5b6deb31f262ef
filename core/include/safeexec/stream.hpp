// safeexec/stream.hpp - streaming: what the I/O pump does with the child's
// output while it runs (callbacks per chunk or per line, with or without
// capture) and where stdin comes from (the caller's bytes, then a source
// callback asked for more whenever the pipe can take them).
//
//   safeexec::Streams io;
//   io.out.on_line([](const safeexec::Line& l) { log(l.text); });  // not captured
//   io.err.on_chunk([](std::string_view b) { tee(b); }).capture(true);
//   auto r = safeexec::execute({"make"}, safeexec::ExecuteOptions{}.streams(io));
//
// Guarantees (both platforms): callbacks run on the thread that called
// execute()/communicate(), inside the pump, in the order the bytes arrived
// on each stream; a chunk callback sees every byte exactly once, a line
// callback sees every byte exactly once too (a line is its text, then its
// '\n' when newline is set). An exception thrown by a callback or the source
// stops the pump, the child is killed (SIGTERM to its group, kill_grace,
// SIGKILL; communicate(): no grace) and reaped, and the exception reaches the
// caller unchanged. Without capture the parent holds a fixed pump buffer, one
// line of at most max_line_bytes and a bounded tail for error excerpts,
// whatever the output size. max_output_bytes applies to what is captured.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>

namespace safeexec {

/// One line as a line callback sees it. A line longer than max_line_bytes is
/// delivered in pieces of max_line_bytes with cut set, then its rest.
struct Line {
  std::string_view text;  ///< the bytes, without the '\n'; valid during the call only
  bool newline = false;   ///< the line ended with '\n' here (false: cut, or the last line at EOF)
  bool cut = false;       ///< max_line_bytes reached: the same line goes on in the next Line
};

/// What the pump does with one of the child's output streams.
class StreamSink {
 public:
  using ChunkFn = std::function<void(std::string_view bytes)>;
  using LineFn = std::function<void(const Line& line)>;
  static constexpr std::size_t kDefaultMaxLineBytes = std::size_t{64} * 1024;

  /// Called with the bytes of each read, as they arrive.
  StreamSink& on_chunk(ChunkFn f) {
    chunk_ = std::move(f);
    return *this;
  }
  /// Called with each complete line, and with the last partial one at EOF.
  StreamSink& on_line(LineFn f) {
    line_ = std::move(f);
    return *this;
  }
  /// Longest line held before it is delivered cut (default 64 KiB; must be
  /// at least 1, InvalidArgument otherwise). Bounds the line buffer.
  StreamSink& max_line_bytes(std::size_t n) {
    max_line_ = n;
    return *this;
  }
  /// Also keep the bytes in the Output/ExecuteResult (a tee). Default: the
  /// stream is captured unless a callback is set.
  StreamSink& capture(bool on) {
    capture_ = on;
    return *this;
  }

  const ChunkFn& chunk_callback() const noexcept { return chunk_; }
  const LineFn& line_callback() const noexcept { return line_; }
  std::size_t max_line_bytes() const noexcept { return max_line_; }
  bool has_callback() const noexcept { return chunk_ || line_; }
  bool captures() const noexcept { return capture_ ? *capture_ : !has_callback(); }

 private:
  ChunkFn chunk_;
  LineFn line_;
  std::size_t max_line_ = kDefaultMaxLineBytes;
  std::optional<bool> capture_;
};

/// More bytes for the child's stdin: write at most `room` bytes to `buf`
/// and return how many; 0 means the input is over (stdin is closed).
using StdinSource = std::function<std::size_t(char* buf, std::size_t room)>;

/// The sinks of a run and its stdin source.
struct Streams {
  StreamSink out;
  StreamSink err;
  /// When set, asked for bytes once the string input (if any) is written.
  StdinSource in;
};

}  // namespace safeexec
