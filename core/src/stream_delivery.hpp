// stream_delivery.hpp - where the bytes the pump moves come from and go to,
// shared by the POSIX and the Windows pump: each read chunk is captured (up
// to max_output_bytes), kept in a bounded tail when not captured (for error
// excerpts), and handed to the caller's chunk and line callbacks; stdin's
// bytes are the caller's string, then what the source callback gives.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "line_splitter.hpp"
#include "process_access.hpp"
#include "process_state_common.hpp"
#include "safeexec/process.hpp"
#include "safeexec/stream.hpp"
#include "stream_carry.hpp"

namespace safeexec::detail {

/// One output stream on its way to the caller.
class StreamDelivery {
 public:
  /// `captured` grows while the sink captures; `tail_bytes` of the stream
  /// are kept in `carry.tail` when it does not (0: no tail).
  StreamDelivery(const StreamSink& sink, std::string& captured, std::size_t cap,
                 std::size_t tail_bytes, StreamCarry& carry);
  StreamDelivery(const StreamDelivery&) = delete;
  StreamDelivery& operator=(const StreamDelivery&) = delete;
  /// Saves the unfinished line for a continued call; gives back what a
  /// large reservation of the capture did not use.
  ~StreamDelivery();

  /// How many bytes to read next with a buffer of `buf_bytes`: one past the
  /// cap at most, so that exactly-at-cap is not an overflow.
  std::size_t read_size(std::size_t buf_bytes) const noexcept;
  /// The bytes of one read. False when the captured part passed the cap.
  /// Exceptions from the callbacks pass through (and are remembered).
  bool deliver(const char* data, std::size_t n);
  /// EOF (or the pipe was closed for good): the last line without '\n'.
  void finish();
  /// A run being timed out or killed must end within its bound: no copy to
  /// shrink the capture then.
  void keep_capacity() noexcept { shrink_ = false; }
  bool callback_threw() const noexcept { return threw_; }

 private:
  template <class F>
  void guarded(F&& f);

  const StreamSink& sink_;
  std::string& captured_;
  std::size_t cap_;
  std::size_t tail_bytes_;
  StreamCarry& carry_;
  LineSplitter lines_;
  bool capture_;
  bool shrink_ = true;
  bool threw_ = false;
};

/// Stdin's bytes: the rest of the string input, then the source's.
class InputFeed {
 public:
  InputFeed(std::string_view input, std::size_t& offset, const StdinSource& source,
            SourceCarry& carry) noexcept
      : input_(input), offset_(offset), source_(source), carry_(carry) {}
  /// Whether there may be more to write (without asking the source).
  bool may_have_more() const noexcept;
  /// The bytes to write now; empty when the input is over. Asks the source
  /// for more when the string and the last batch are written; they stay
  /// valid (and the same) until advance().
  std::string_view next();
  void advance(std::size_t n) noexcept;
  bool source_threw() const noexcept { return threw_; }

 private:
  std::string_view input_;
  std::size_t& offset_;
  const StdinSource& source_;
  SourceCarry& carry_;
  bool threw_ = false;
};

/// Everything one pump call moves: both output streams and stdin.
class PumpIo {
 public:
  PumpIo(const Streams& streams, Output& output, PumpState& state, std::string_view input,
         std::size_t max_output_bytes, std::size_t tail_bytes);
  StreamDelivery& out() noexcept { return out_; }
  StreamDelivery& err() noexcept { return err_; }
  InputFeed& in() noexcept { return in_; }
  /// A caller's callback or source threw: the child must be stopped.
  bool callback_threw() const noexcept {
    return out_.callback_threw() || err_.callback_threw() || in_.source_threw();
  }
  void keep_capacity() noexcept {
    out_.keep_capacity();
    err_.keep_capacity();
  }

 private:
  StreamDelivery out_;
  StreamDelivery err_;
  InputFeed in_;
};

/// The pump; when a caller's callback or source throws, stop() (which kills
/// and reaps the child) runs before the exception goes on, unchanged.
template <class Stop>
PumpResult pump_or_stop(Process& p, const PumpRequest& req, PumpIo& io, Stop&& stop) {
  try {
    return ProcessAccess::pump(p, req, io);
  } catch (...) {
    if (io.callback_threw()) stop();
    throw;
  }
}

/// Refuses sink settings that cannot work (max_line_bytes 0).
void validate_streams(const Streams& streams);

/// Input (bytes, or a source) for a child whose stdin is not an open pipe of
/// the handle (`stdin_slot` -1: null, a file, borrowed, inherited, closed)
/// is refused before anything is read or written, never dropped (issue 18
/// item 9): InvalidArgument naming stdin and the size, never the bytes.
void refuse_undeliverable_input(const char* call, std::size_t input_bytes, bool has_source,
                                int stdin_slot);

}  // namespace safeexec::detail
